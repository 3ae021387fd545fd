"""Compose files: image uses with positions, interpolation, ``.env``, ``extends``, ``include``, builds.

``load_compose`` reads one compose file the way ``docker compose`` would load it as a project and
returns one Document per file it read: the file itself first, then the files reached through
``include:`` and ``extends: {file: ...}``. Every value is reported where it is written (an alias or
a ``<<`` merge reports at its anchor; an extended service's image in the file that declares it).
Bad input never raises: it becomes a PF001 problem and reading goes on.

What compose-go does and this module follows:
* interpolation of ``$V ${V} ${V:-d} ${V-d} ${V:?e} ${V?e} ${V:+a} ${V+a}`` and ``$$`` with the
  process environment over the project's ``.env``;
* ``include`` entries load as projects of their own: paths relative to the including project's
  directory, their own ``.env`` (or ``env_file``), the including project's variables win;
* ``extends`` (same file or ``file:``) merges the base under the service; relative paths of an
  extended file resolve against that file's directory; cycles are reported, not followed;
* ``image:`` beside ``build:`` names the image that is built: syntax check only (``pull=False``),
  also when the ``build:`` comes from ``compose.override.yaml`` or its base file;
* legacy (v1) files whose services sit at the top level.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from . import yamlpos
from .confine import OUTSIDE, Confinement
from .dotenv import parse_dotenv
from .imageref import MAX_REFERENCE_LENGTH
from .interpolate import Dialect, ExpansionError, ExpansionTooLong, expand
from .model import (
    DOCKER_IMAGE_CONTEXT,
    BuildLink,
    Document,
    ImageUse,
    Location,
    Problem,
    Suppression,
    Suppressions,
    UseKind,
    ValueSource,
    clip,
)
from .suppress import parse_directive
from .textfile import InputError, read_text
from .yamlpos import Map, Node, Scalar, Seq

Env = Mapping[str, str]
Lookup = Callable[[str], "str | None"]
Items = dict[str, tuple[Node, Node]]

COMPOSE: Dialect = Dialect.COMPOSE  # type: ignore[attr-defined]
DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
MAX_EXTENDS = 64  # a longer extends chain is refused (compose has no limit; Python's stack has)
MAX_INCLUDES = 32  # include nesting
_REMOTE_CONTEXT = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@|github\.com/)|\.git(?:#|$)", re.IGNORECASE)


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


# ----------------------------------------------------------------- YAML helpers


def _mapping(node: Map, cache: dict[int, Items], report: Callable[[Node, str], None] | None) -> Items:
    """A mapping's string keys -> (key node, value node), with ``<<`` merge keys applied.

    Explicit keys win over merged ones; in ``<<: [*a, *b]`` the earlier mapping wins.
    """
    hit = cache.get(id(node))
    if hit is not None:
        return hit
    own: Items = {}
    merged: Items = {}
    for key, value in node.pairs:
        if not isinstance(key, Scalar):
            continue
        if key.value == "<<" and key.style is None and key.tag is None:
            sources = value.items if isinstance(value, Seq) else [value]
            for src in sources:
                if isinstance(src, Map):
                    for name, pair in _mapping(src, cache, report).items():
                        merged.setdefault(name, pair)
                elif report is not None:
                    report(src, "a << merge key needs a mapping or a list of mappings")
            continue
        own[key.value] = (key, value)
    result = {**merged, **own} if merged else own
    cache[id(node)] = result
    return result


def _present(node: Node | None) -> bool:
    """False for null and for compose's ``!reset`` tag."""
    if node is None or node.tag == "!reset":
        return False
    return not (isinstance(node, Scalar) and node.is_null)


def _service_nodes(
    roots: Iterable[Map], items: Callable[[Map], Items], report: Callable[[Node, str], None] | None
) -> dict[str, list[tuple[Node, Node]]]:
    """Service name -> its definitions (one per YAML document), for ``services:`` and v1 files."""
    out: dict[str, list[tuple[Node, Node]]] = {}
    for root in roots:
        top = items(root)
        if "services" in top:
            node = top["services"][1]
            if isinstance(node, Map):
                pairs = items(node)
            else:
                if _present(node) and report is not None:
                    report(node, "services must be a mapping of service names to definitions")
                continue
        elif _is_v1(top, items):
            pairs = {k: kv for k, kv in top.items() if isinstance(kv[1], Map) and not k.startswith("x-")}
        else:
            continue
        for name, pair in pairs.items():
            out.setdefault(name, []).append(pair)
    return out


def _is_v1(top: Items, items: Callable[[Map], Items]) -> bool:
    """A legacy file: services at the top level (some value is a mapping with image or build)."""
    for name, (_, value) in top.items():
        if isinstance(value, Map) and not name.startswith("x-"):
            inner = items(value)
            if "image" in inner or "build" in inner:
                return True
    return False


# ----------------------------------------------------------------- reading


class _File:
    """One compose file as read: its YAML, where its relative paths start."""

    def __init__(self, path: str, display: str) -> None:
        self.path = path
        self.dir = os.path.dirname(path)
        self.workdir = self.dir  # the project directory when read as (part of) a project
        self.display = display
        self.loaded: yamlpos.Loaded | None = None
        self.roots: list[Map] = []
        self.ok = False
        self.cache: dict[int, Items] = {}
        self.services: dict[str, list[tuple[Node, Node]]] | None = None


@dataclass(frozen=True)
class _Layer:
    """One definition of a service (its own, or a base it extends), in the file that writes it."""

    file: _File
    items: Items


class _Doc:
    """What one file contributes: uses (deduplicated by place), problems, build links."""

    def __init__(self, file: _File) -> None:
        self.file = file
        self.uses: dict[tuple, ImageUse] = {}
        self.problems: dict[tuple, Problem] = {}
        self.builds: dict[tuple, BuildLink] = {}
        self.key_lines: set[tuple[int, int]] = set()  # (image: key line, value line)

    def add_use(self, use: ImageUse, key_line: int) -> None:
        key = (use.location, use.resolved, use.platform, use.var_errors)
        old = self.uses.get(key)
        if old is None:
            self.uses[key] = use
        elif use.pull and not old.pull:  # pulled by one service: it must exist
            self.uses[key] = replace(old, pull=True)
        self.key_lines.add((key_line, use.location.line))

    def document(self) -> Document:
        return Document(
            path=self.file.display,
            kind="compose",
            uses=tuple(self.uses.values()),
            problems=tuple(self.problems.values()),
            suppressions=self._suppressions(),
            builds=tuple(self.builds.values()),
        )

    def _suppressions(self) -> Suppressions:
        loaded = self.file.loaded
        if loaded is None:
            return Suppressions()
        lines = loaded.lines
        values: dict[int, set[int]] = {}  # image: key line -> value lines (a value on the next line)
        for key_line, value_line in self.key_lines:
            if key_line != value_line:
                values.setdefault(key_line, set()).add(value_line)
        entries: list[Suppression] = []
        for line, comment, whole in yamlpos.comments(lines, loaded.spans, "preflight"):
            directive = parse_directive(comment)
            if directive is None:
                continue
            column = lines[line - 1].rfind(comment) + 1 if 0 < line <= len(lines) else 1
            where = Location(self.file.display, line, max(column, 1))
            if directive.file_wide:
                entries.append(Suppression(where, directive.rules, None))
                continue
            target = _next_content_line(lines, line) if whole else line
            covered = frozenset({target, *values.get(target, ())})
            entries.append(Suppression(where, directive.rules, covered))
        return Suppressions.of(tuple(entries))


def _next_content_line(lines: list[str], line: int) -> int:
    """The first line after ``line`` (1-based) that is neither blank nor only a comment."""
    for idx in range(line, len(lines)):
        stripped = lines[idx].strip()
        if stripped and not stripped.startswith("#"):
            return idx + 1
    return line + 1


class _Reader:
    def __init__(
        self,
        display: Callable[[Path], str],
        environ: Mapping[str, str],
        merge_override: bool,
        confine: Confinement | None = None,
    ) -> None:
        self.display = display
        self.environ = environ
        self.confine = confine
        # True: the file as `docker compose up` in its directory loads it, merged with its
        # override file (compose.override.yaml); False: alone, as `docker compose -f FILE`.
        self.merge_override = merge_override
        self.replaced: frozenset[str] = frozenset()  # services whose image the override file replaces
        self.main_path = ""
        self.files: dict[str, _File] = {}
        self.docs: dict[str, _Doc] = {}
        self.projects: set[str] = set()
        self.layers_memo: dict[tuple[str, str, int], list[_Layer]] = {}
        self.envs: list[Env] = []  # keeps every env alive: the memo is keyed by id(env)

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

    # -- files and problems

    def inside(self, path: str) -> bool:
        """May a checked file make preflight open ``path``? Always, unless confined (``--untrusted``)."""
        return self.confine is None or self.confine.contains(path)

    def outside(self, f: _File, node: Node, path: str, what: str) -> bool:
        """True (and a problem at ``node``, naming the path as written) if ``path`` may not be opened."""
        if self.inside(path):
            return False
        written = node.value if isinstance(node, Scalar) else path
        self.at(f, node, f"{what} {OUTSIDE}: {written} (not read)")
        return True

    def file(self, path: str) -> _File:
        f = self.files.get(path)
        if f is not None:
            return f
        f = _File(path, self.display(Path(path)))
        self.files[path] = f
        self.doc(f)
        try:
            text = read_text(path)
        except InputError as exc:
            self.problem(f, exc.line, exc.column, f"cannot read {f.display}: {exc.message}")
            return f
        f.loaded = yamlpos.load(text)
        for issue in f.loaded.issues:
            self.problem(f, issue.line, issue.column, issue.message)
        if f.loaded.fatal:
            return f
        f.ok = True
        for root in f.loaded.documents:
            if isinstance(root, Map):
                f.roots.append(root)
            elif _present(root):
                self.problem(f, root.line, root.column, "compose file root must be a mapping")
                f.ok = False
        return f

    def doc(self, f: _File) -> _Doc:
        d = self.docs.get(f.path)
        if d is None:
            d = self.docs[f.path] = _Doc(f)
        return d

    def problem(
        self, f: _File, line: int, column: int, message: str, rule: str = "PF001", path: str | None = None
    ) -> None:
        loc = Location(path or f.display, line, column)
        self.doc(f).problems.setdefault((loc, rule, message), Problem(rule, loc, message))

    def at(self, f: _File, node: Node, message: str, rule: str = "PF001") -> None:
        self.problem(f, node.line, node.column, message, rule)

    def items(self, f: _File, node: Map) -> Items:
        return _mapping(node, f.cache, lambda n, msg: self.at(f, n, msg))

    def services(self, f: _File) -> dict[str, list[tuple[Node, Node]]]:
        if f.services is None:
            f.services = _service_nodes(f.roots, lambda m: self.items(f, m), lambda n, msg: self.at(f, n, msg))
        return f.services

    def location(self, f: _File, node: Node) -> Location:
        return Location(f.display, node.line, node.column, node.end_line, node.end_column)

    def text(self, f: _File, node: Node, env: Env, what: str, quiet: bool = False) -> str | None:
        """A scalar after interpolation; None (with a problem unless ``quiet``) when unknown."""
        if not isinstance(node, Scalar):
            self.at(f, node, f"{what} must be a string")
            return None
        if not _present(node):
            return None
        try:
            exp = expand(node.value, env.get, COMPOSE)
        except ExpansionError as exc:
            self.at(f, node, f'invalid variable syntax in {what} "{node.value}": {exc}')
            return None
        if exp.errors:
            if not quiet:
                name, _, detail = exp.errors[0].partition(": ")
                self.at(f, node, f'{what} "{node.value}" requires ${name} to be set: {detail}', "PF003")
            return None
        if exp.text is None:
            if not quiet:
                names = ", ".join(f"${n}" for n in exp.unresolved)
                self.at(
                    f,
                    node,
                    f'{what} "{node.value}": {names} has no value and no default; {what} is not checked',
                    "PF003",
                )
            return None
        return exp.text

    # -- .env

    def dotenv(self, f: _File, path: str, lookup: Lookup) -> dict[str, str]:
        shown = self.display(Path(path))
        try:
            text = read_text(path)
        except InputError as exc:
            self.problem(f, exc.line, exc.column, f"cannot read {shown}: {exc.message}", path=shown)
            return {}
        values, error = parse_dotenv(text, lookup)
        if error is not None:
            self.problem(f, error[0], 1, f"invalid .env file: {error[1]}", path=shown)
        return values

    # -- projects, services

    def project(
        self, f: _File, env: Env, workdir: str, chain: tuple[str, ...], built: frozenset[str] = frozenset()
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
            if include is not None and _present(include[1]):
                self.includes(f, include[1], env, workdir, chain)

    def layers(self, f: _File, name: str, env: Env, chain: tuple[tuple[str, str], ...]) -> list[_Layer]:
        """The definitions that make up service ``name``: bases first (``extends``), then its own."""
        memo_key = (f.path, name, id(env))
        hit = self.layers_memo.get(memo_key)
        if hit is not None:
            return hit
        own: list[_Layer] = []
        for _, node in self.services(f).get(name, []):
            if isinstance(node, Map):
                own.append(_Layer(f, self.items(f, node)))
            elif _present(node):
                self.at(f, node, f'service "{name}" must be a mapping')
        base: list[_Layer] = []
        extends = next((layer.items["extends"][1] for layer in reversed(own) if "extends" in layer.items), None)
        if extends is not None and _present(extends):
            base = self.extends(f, name, extends, env, chain + ((f.path, name),))
        result = base + own
        self.layers_memo[memo_key] = result
        return result

    def extends(self, f: _File, name: str, node: Node, env: Env, chain: tuple[tuple[str, str], ...]) -> list[_Layer]:
        file_node: Node | None = None
        if isinstance(node, Map):
            spec = self.items(f, node)
            if "service" not in spec:
                self.at(f, node, f'extends of service "{name}" needs a "service"')
                return []
            ref_node = spec["service"][1]
            file_node = spec["file"][1] if "file" in spec and _present(spec["file"][1]) else None
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

    def emit(self, name: str, layers: list[_Layer], env: Env, built: frozenset[str]) -> None:
        image: tuple[_Layer, Node, Node] | None = None
        platform: tuple[_Layer, Node] | None = None
        builds: list[tuple[_Layer, Node, Node]] = []
        for layer in layers:
            items = layer.items
            if "image" in items:
                image = (layer, *items["image"]) if _present(items["image"][1]) else None
            if "platform" in items:
                platform = (layer, items["platform"][1])
            if "build" in items:
                if _present(items["build"][1]):
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

    def use(self, f: _File, name: str, key: Node, value: Node, env: Env, platform: str | None, pull: bool) -> None:
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

    # -- build

    def build_link(self, name: str, layers: list[_Layer], builds: list[tuple[_Layer, Node, Node]], env: Env) -> None:
        fields: dict[str, tuple[_Layer, Node]] = {}
        args: dict[str, tuple[_Layer, Node | None, bool]] = {}
        for layer, _, value in builds:
            f = layer.file
            if isinstance(value, Scalar):
                fields["context"] = (layer, value)
            elif isinstance(value, Map):
                spec = self.items(f, value)
                for field in (
                    "context",
                    "dockerfile",
                    "dockerfile_inline",
                    "target",
                    "platforms",
                    "additional_contexts",
                ):
                    if field in spec:
                        fields[field] = (layer, spec[field][1])
                if "args" in spec and _present(spec["args"][1]):
                    self.collect_args(f, spec["args"][1], layer, args)
            else:
                self.at(f, value, f'build of service "{name}" must be a path or a mapping')
                return
        key_layer, key_node, _ = builds[-1]
        if "dockerfile_inline" in fields and _present(fields["dockerfile_inline"][1]):
            return
        if "context" in fields and _present(fields["context"][1]):
            ctx_layer, ctx_node = fields["context"]
            context = self.text(ctx_layer.file, ctx_node, env, "build context")
            base = ctx_layer.file.workdir
        else:
            context, base = ".", layers[-1].file.workdir
        if context is None or _REMOTE_CONTEXT.search(context):
            return
        dockerfile = "Dockerfile"
        if "dockerfile" in fields and _present(fields["dockerfile"][1]):
            df_layer, df_node = fields["dockerfile"]
            named = self.text(df_layer.file, df_node, env, "build dockerfile")
            if named is None:
                return
            dockerfile = named
        target = None
        if "target" in fields:
            t_layer, t_node = fields["target"]
            target = self.text(t_layer.file, t_node, env, "build target")
        platforms: list[str] = []
        if "platforms" in fields:
            p_layer, p_node = fields["platforms"]
            if isinstance(p_node, Seq):
                for item in p_node.items:
                    text = self.text(p_layer.file, item, env, "build platform", quiet=True)
                    if text:
                        platforms.append(text)
            elif _present(p_node):
                self.at(p_layer.file, p_node, "build platforms must be a list")
        contexts: tuple[str, ...] = ()
        if "additional_contexts" in fields:
            c_layer, c_node = fields["additional_contexts"]
            contexts = self.named_contexts(c_layer.file, name, c_node, env)
        context_dir = os.path.normpath(os.path.join(base, os.path.expanduser(context)))
        dockerfile_path = os.path.normpath(os.path.join(context_dir, dockerfile))
        if "\0" in dockerfile_path:  # no file has such a name (and the OS refuses to look one up)
            self.at(key_layer.file, key_node, f'build of service "{name}" names a path with a NUL byte')
            return
        if "context" in fields and self.outside(
            fields["context"][0].file, fields["context"][1], context_dir, "build context"
        ):
            return
        if "dockerfile" in fields and _present(fields["dockerfile"][1]):
            where = fields["dockerfile"]
        else:
            where = fields.get("context") or (key_layer, key_node)
        if self.outside(where[0].file, where[1], dockerfile_path, "build dockerfile"):
            return
        link = BuildLink(
            dockerfile=dockerfile_path,
            args=self.resolve_args(args, env),
            target=target,
            location=self.location(key_layer.file, key_node),
            platforms=tuple(platforms),
            contexts=contexts,
            service=name,
        )
        key = (link.dockerfile, tuple(sorted(link.args.items())), link.target, link.location, link.platforms)
        self.doc(key_layer.file).builds.setdefault(key, link)

    def named_contexts(self, f: _File, service: str, node: Node, env: Env) -> tuple[str, ...]:
        """``build.additional_contexts`` (a mapping, or a list of ``name=value``): BuildKit named
        contexts. Their names are not images in the service's Dockerfile (``FROM base``); a
        ``docker-image://REF`` value is itself an image use, at its own position."""
        entries: list[tuple[str, Scalar, int]] = []  # (name, value node, offset of the value in it)
        if isinstance(node, Map):
            for name, (_, value) in self.items(f, node).items():
                if isinstance(value, Scalar) and _present(value):
                    entries.append((str(name), value, 0))
                elif _present(value):
                    self.at(f, value, f'additional context "{name}" must be a string')
        elif isinstance(node, Seq):
            for item in node.items:
                if isinstance(item, Scalar) and "=" in item.value:
                    entries.append((item.value.partition("=")[0], item, len(item.value.partition("=")[0]) + 1))
                elif _present(item):
                    self.at(f, item, "additional_contexts entries must be name=value strings")
        elif _present(node):
            self.at(f, node, "build additional_contexts must be a mapping or a list")
        for _, value, offset in entries:
            written = value.value[offset:]
            if not written.lower().startswith(DOCKER_IMAGE_CONTEXT):
                continue  # a directory, URL, service:NAME, target:NAME or oci-layout://: not pulled here
            written = written[len(DOCKER_IMAGE_CONTEXT) :]
            try:
                exp = expand(written, env.get, COMPOSE, MAX_REFERENCE_LENGTH)
            except ExpansionError as exc:
                self.at(f, value, f'invalid variable syntax in additional context "{written}": {exc}')
                continue
            use = ImageUse(
                kind=UseKind.COMPOSE,
                location=self.sub_location(f, value, offset + len(DOCKER_IMAGE_CONTEXT), written),
                written=written,
                resolved=exp.text if not exp.errors else None,
                unresolved=exp.unresolved,
                var_errors=exp.errors,
                service=service,
            )
            self.doc(f).add_use(use, value.line)
        return tuple(name for name, _, _ in entries)

    def sub_location(self, f: _File, node: Scalar, offset: int, text: str) -> Location:
        """Where ``text``, found ``offset`` characters into the scalar's value, is written: exact
        when the scalar's text is its value on one line (yamlpos sets the end then), else the scalar."""
        if node.end_column is None or node.end_line != node.line:
            return self.location(f, node)
        column = node.column + offset
        return Location(f.display, node.line, column, node.line, column + len(text))

    def collect_args(
        self, f: _File, node: Node, layer: _Layer, args: dict[str, tuple[_Layer, Node | None, bool]]
    ) -> None:
        if isinstance(node, Map):
            for arg, (_, value) in self.items(f, node).items():
                args[arg] = (layer, value if _present(value) else None, False)
        elif isinstance(node, Seq):
            for item in node.items:
                if isinstance(item, Scalar) and _present(item):
                    args[item.value.partition("=")[0]] = (layer, item, True)
                elif _present(item):
                    self.at(f, item, "build args must be KEY=VALUE strings")
        else:
            self.at(f, node, "build args must be a mapping or a list")

    def resolve_args(self, args: dict[str, tuple[_Layer, Node | None, bool]], env: Env) -> dict[str, str]:
        out: dict[str, str] = {}
        for arg, (layer, node, listed) in args.items():
            if node is None:
                value = env.get(arg)
            else:
                value = self.text(layer.file, node, env, f"build arg {arg}")
                if value is not None and listed:
                    arg, sep, value = value.partition("=")
                    if not sep:
                        value = env.get(arg)
            if value is not None:
                out[arg] = value
        return out

    # -- include

    def includes(self, f: _File, node: Node, env: Env, workdir: str, chain: tuple[str, ...]) -> None:
        if not isinstance(node, Seq):
            self.at(f, node, "include must be a list")
            return
        for entry in node.items:
            env_nodes: list[Node] = []
            dir_node: Node | None = None
            if isinstance(entry, Scalar):
                path_nodes: list[Node] = [entry]
            elif isinstance(entry, Map):
                spec = self.items(f, entry)
                if "path" not in spec or not _present(spec["path"][1]):
                    self.at(f, entry, 'include entry needs a "path"')
                    continue
                path_nodes = _listed(spec["path"][1])
                if "env_file" in spec and _present(spec["env_file"][1]):
                    env_nodes = _listed(spec["env_file"][1])
                if "project_directory" in spec and _present(spec["project_directory"][1]):
                    dir_node = spec["project_directory"][1]
            else:
                self.at(f, entry, "include entry must be a path or a mapping")
                continue
            self.include(f, path_nodes, env_nodes, dir_node, env, workdir, chain)

    def include(
        self,
        f: _File,
        path_nodes: list[Node],
        env_nodes: list[Node],
        dir_node: Node | None,
        env: Env,
        workdir: str,
        chain: tuple[str, ...],
    ) -> None:
        paths: list[str] = []
        for pn in path_nodes:
            rel = self.text(f, pn, env, "include path")
            if rel is None or "://" in rel or rel.startswith("git@"):
                return  # unknown or remote: nothing to read offline
            path = os.path.normpath(os.path.join(workdir, os.path.expanduser(rel)))
            if self.outside(f, pn, path, "include path"):
                return
            if path in chain:
                names = " -> ".join(self.display(Path(p)) for p in (*chain, path))
                self.at(f, pn, f"include cycle: {names}")
                return
            if not os.path.isfile(path):
                self.at(f, pn, f"included file not found: {self.display(Path(path))}")
                return
            if len(chain) > MAX_INCLUDES:
                self.at(f, pn, f"includes nested deeper than {MAX_INCLUDES} files")
                return
            paths.append(path)
        project_dir = os.path.dirname(paths[0])
        if dir_node is not None:
            rel = self.text(f, dir_node, env, "include project_directory")
            if rel is None:
                return
            project_dir = os.path.normpath(os.path.join(workdir, os.path.expanduser(rel)))
            if self.outside(f, dir_node, project_dir, "include project_directory"):
                return
        env_files: list[str] = []
        for en in env_nodes:
            rel = self.text(f, en, env, "include env_file")
            if rel is None:
                return
            path = os.path.normpath(os.path.join(workdir, os.path.expanduser(rel)))
            if self.outside(f, en, path, "include env_file"):
                return
            if not os.path.isfile(path):
                self.at(f, en, f"env_file not found: {self.display(Path(path))}")
                return
            env_files.append(path)
        default_env = os.path.join(project_dir, ".env")
        if not env_nodes and os.path.lexists(default_env) and not self.inside(default_env):
            self.at(f, path_nodes[0], f"the included project's .env file {OUTSIDE}: .env (not read)")
        elif not env_nodes and os.path.isfile(default_env):
            env_files.append(default_env)
        values: dict[str, str] = {}
        for path in env_files:
            values.update(self.dotenv(f, path, lambda k: env.get(k, values.get(k))))
        included_env = {**values, **env}
        self.envs.append(included_env)
        for path in paths:
            self.project(self.file(path), included_env, project_dir, (*chain, path))

    # -- override partner

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
                return _built_services(other, key)
        return frozenset()


def _listed(node: Node) -> list[Node]:
    return list(node.items) if isinstance(node, Seq) else [node]


def _built_services(path: str, key: str = "build") -> frozenset[str]:
    """Names of the services with a ``build:`` (or ``key``) in ``path`` (quietly: that file is
    checked on its own)."""
    try:
        loaded = yamlpos.load(read_text(path))
    except InputError:
        return frozenset()
    cache: dict[int, Items] = {}
    roots = [r for r in loaded.documents if isinstance(r, Map)]
    out: set[str] = set()
    for name, defs in _service_nodes(roots, lambda m: _mapping(m, cache, None), None).items():
        for _, node in defs:
            if isinstance(node, Map):
                build = _mapping(node, cache, None).get(key)
                if build is not None and _present(build[1]):
                    out.add(name)
    return frozenset(out)
