"""The compose reader's driver: a project's services, ``extends`` layers, image uses, the
override partner (``compose.override.yaml`` and its base)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from ..confine import OUTSIDE, Confinement
from ..imageref import MAX_REFERENCE_LENGTH
from ..interpolate import ExpansionError, ExpansionTooLong, expand
from ..model import Document, ImageUse, UseKind, ValueSource, clip
from ..yamlpos import Map, Node, Scalar
from .buildlinks import BuildLinks
from .files import File, Layer
from .includes import Includes
from .nodes import built_services, present
from .state import COMPOSE, Env

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
MAX_EXTENDS = 64  # a longer extends chain is refused (compose has no limit; Python's stack has)


def load_compose(
    path: Path,
    display: Callable[[Path], str],
    environ: Mapping[str, str],
    *,
    merge_override: bool = True,
    confine: Confinement | None = None,
) -> list[Document]:
    """Read the compose file at ``path`` (absolute) and everything it includes or extends.

    With ``confine`` (``--untrusted``), a file that any of them names outside the project roots is
    a PF001 problem where it is named and is never opened (``preflight.confine``).
    """
    return _Reader(display, environ, merge_override, confine).run(os.path.abspath(path))


class _Reader(BuildLinks, Includes):
    """One compose file loaded as a project: its services (over their ``extends`` layers), their
    images and builds, its includes."""

    def run(self, path: str) -> list[Document]:
        if not self.inside(path):
            return []  # reached by name beside a Dockerfile (never named by a file): skipped quietly
        self.main_path = path
        main = self.file(path)
        env: dict[str, str] = {}
        dotenv = os.path.join(main.dir, ".env")
        if os.path.lexists(dotenv) and not self.inside(dotenv):
            self.problem(main, 1, 1, f"the project's .env file {OUTSIDE}: .env (not read)")
        elif os.path.isfile(dotenv):
            env.update(self.dotenv(main, dotenv, self.environ.get))
        env.update(self.environ)
        self.envs.append(env)
        if self.merge_override:
            self.replaced = self.partner_images(path)
            self.project(main, env, main.dir, (path,), self.partner_builds(path))
        else:
            self.project(main, env, main.dir, (path,))
        return [d.document() for d in self.docs.values()]

    def project(
        self, f: File, env: Env, workdir: str, chain: tuple[str, ...], built: frozenset[str] = frozenset()
    ) -> None:
        if f.path in self.projects:
            return
        self.projects.add(f.path)
        f.workdir = workdir
        if not f.ok:
            return
        for name in self.services(f):
            layers = self.layers(f, name, env, ())
            if layers:
                self.emit(name, layers, env, built)
        for root in f.roots:
            include = self.items(f, root).get("include")
            if include is not None and present(include[1]):
                self.includes(f, include[1], env, workdir, chain)

    def layers(self, f: File, name: str, env: Env, chain: tuple[tuple[str, str], ...]) -> list[Layer]:
        """The definitions that make up service ``name``: bases first (``extends``), then its own."""
        memo_key = (f.path, name, id(env))
        hit = self.layers_memo.get(memo_key)
        if hit is not None:
            return hit
        own: list[Layer] = []
        for _, node in self.services(f).get(name, []):
            if isinstance(node, Map):
                own.append(Layer(f, self.items(f, node)))
            elif present(node):
                self.at(f, node, f'service "{name}" must be a mapping')
        base: list[Layer] = []
        extends = next((layer.items["extends"][1] for layer in reversed(own) if "extends" in layer.items), None)
        if extends is not None and present(extends):
            base = self.extends(f, name, extends, env, chain + ((f.path, name),))
        result = base + own
        self.layers_memo[memo_key] = result
        return result

    def extends(self, f: File, name: str, node: Node, env: Env, chain: tuple[tuple[str, str], ...]) -> list[Layer]:
        file_node: Node | None = None
        if isinstance(node, Map):
            spec = self.items(f, node)
            if "service" not in spec:
                self.at(f, node, f'extends of service "{name}" needs a "service"')
                return []
            ref_node = spec["service"][1]
            file_node = spec["file"][1] if "file" in spec and present(spec["file"][1]) else None
        elif isinstance(node, Scalar):
            ref_node = node
        else:
            self.at(f, node, f'extends of service "{name}" must be a service name or a mapping')
            return []
        ref = self.text(f, ref_node, env, "extends service")
        if ref is None:
            return []
        target = f
        if file_node is not None:
            rel = self.text(f, file_node, env, "extends file")
            if rel is None or "://" in rel:
                return []
            path = os.path.normpath(os.path.join(f.workdir, rel))
            if self.outside(f, file_node, path, "extends file"):
                return []
            if not os.path.isfile(path):
                self.at(f, file_node, f"extended file not found: {self.display(Path(path))}")
                return []
            target = self.file(path)
            if not target.ok:
                return []
        if ref not in self.services(target):
            where = "" if target is f else f" in {target.display}"
            self.at(f, ref_node, f'service "{name}" extends "{ref}", which is not defined{where}')
            return []
        if (target.path, ref) in chain:
            self.at(f, node, f"extends cycle: {self.chain_text(chain, (target.path, ref))}")
            return []
        if len(chain) >= MAX_EXTENDS:
            self.at(f, node, f'service "{name}": extends chain longer than {MAX_EXTENDS} services')
            return []
        return self.layers(target, ref, env, chain)

    def chain_text(self, chain: tuple[tuple[str, str], ...], last: tuple[str, str]) -> str:
        steps = chain + (last,)
        one_file = len({p for p, _ in steps}) == 1
        return " -> ".join(s if one_file else f"{self.files[p].display}:{s}" for p, s in steps)

    def emit(self, name: str, layers: list[Layer], env: Env, built: frozenset[str]) -> None:
        image: tuple[Layer, Node, Node] | None = None
        platform: tuple[Layer, Node] | None = None
        builds: list[tuple[Layer, Node, Node]] = []
        for layer in layers:
            items = layer.items
            if "image" in items:
                image = (layer, *items["image"]) if present(items["image"][1]) else None
            if "platform" in items:
                platform = (layer, items["platform"][1])
            if "build" in items:
                if present(items["build"][1]):
                    builds.append((layer, *items["build"]))
                else:
                    builds = []
        platform_text = self.text(platform[0].file, platform[1], env, "platform", quiet=True) if platform else None
        platform_text = platform_text or None  # ${DOCKER_PLATFORM:-} means "no platform"
        if image is not None and not (name in self.replaced and image[0].file.path == self.main_path):
            layer, key, value = image
            self.use(layer.file, name, key, value, env, platform_text, pull=not builds and name not in built)
        if builds:
            self.build_link(name, layers, builds, env)

    def use(self, f: File, name: str, key: Node, value: Node, env: Env, platform: str | None, pull: bool) -> None:
        if not isinstance(value, Scalar):
            self.at(f, value, f'image of service "{name}" must be a string')
            return
        try:
            exp = expand(value.value, env.get, COMPOSE, MAX_REFERENCE_LENGTH)
        except ExpansionTooLong as exc:
            self.at(f, value, f'image "{clip(value.value)}": {exc}; no valid image reference is that long', "PF002")
            return
        except ExpansionError as exc:
            self.at(f, value, f'invalid variable syntax in image "{value.value}": {exc}')
            return
        use = ImageUse(
            kind=UseKind.COMPOSE,
            location=self.location(f, value),
            written=value.value,
            resolved=exp.text if not exp.errors else None,
            unresolved=exp.unresolved,
            var_errors=exp.errors,
            platform=platform,
            pull=pull,
            platform_pinned=platform is not None,
            service=name,
            sources=tuple(self.source(name, env) for name in exp.used),
        )
        self.doc(f).add_use(use, key.line)

    def source(self, name: str, env: Env) -> ValueSource:
        """Where an interpolated variable's value comes from (the environment wins over .env)."""
        if name in self.environ:
            return ValueSource(name, "environment")
        return ValueSource(name, "env-file" if name in env else "unset")

    def partner_images(self, path: str) -> frozenset[str]:
        """For a base file: services whose ``image:`` its override file replaces (checked there)."""
        if os.path.basename(path) not in DEFAULT_FILES:
            return frozenset()
        return self.partner(path, "image")

    def partner_builds(self, path: str) -> frozenset[str]:
        """Services that have ``build:`` in the file compose merges with this one (base/override)."""
        return self.partner(path, "build")

    def partner(self, path: str, key: str) -> frozenset[str]:
        """Services with ``key`` in the file compose merges with this one (base/override)."""
        directory, name = os.path.split(path)
        if name in DEFAULT_FILES:
            candidates = OVERRIDE_FILES
        elif name in OVERRIDE_FILES:
            candidates = DEFAULT_FILES
        else:
            return frozenset()
        stem = name.split(".", 1)[0]
        ordered = [c for c in candidates if c.split(".", 1)[0] == stem] + [
            c for c in candidates if c.split(".", 1)[0] != stem
        ]
        for candidate in ordered:
            other = os.path.join(directory, candidate)
            if self.inside(other) and os.path.isfile(other):
                return built_services(other, key)
        return frozenset()
