"""Build links: a service's ``build:`` (merged over ``extends`` layers) turned into the Dockerfile
it builds, with its build args, target, platforms and named contexts (``additional_contexts``;
a ``docker-image://`` context is an image use of its own)."""

from __future__ import annotations

import os
import re

from ..imageref import MAX_REFERENCE_LENGTH
from ..interpolate import ExpansionError, expand
from ..model import DOCKER_IMAGE_CONTEXT, BuildLink, ImageUse, Location, UseKind
from ..yamlpos import Map, Node, Scalar, Seq
from .files import File, Layer
from .nodes import present
from .state import COMPOSE, Env, ReaderState, expand_home

_REMOTE_CONTEXT = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@|github\.com/)|\.git(?:#|$)", re.IGNORECASE)


Fields = dict[str, tuple[Layer, Node]]  # a build: key -> (the layer that sets it last, its value)
Args = dict[str, tuple[Layer, Node | None, bool]]  # build arg -> (layer, value node, written KEY=VALUE)
_FIELDS = ("context", "dockerfile", "dockerfile_inline", "target", "platforms", "additional_contexts")


class BuildLinks(ReaderState):
    """The build links of a project's services."""

    def build_link(self, name: str, layers: list[Layer], builds: list[tuple[Layer, Node, Node]], env: Env) -> None:
        """Record the Dockerfile service ``name`` builds at its last ``build:`` key; nothing when the
        build cannot be read offline (inline Dockerfile, remote or unknown context)."""
        spec = self.build_spec(name, builds)
        if spec is None:
            return
        fields, args = spec
        if "dockerfile_inline" in fields and present(fields["dockerfile_inline"][1]):
            return
        place = self.build_place(fields, layers[-1].file.workdir, env)
        if place is None:
            return
        context_dir, dockerfile = place
        target = None
        if "target" in fields:
            t_layer, t_node = fields["target"]
            target = self.text(t_layer.file, t_node, env, "build target")
        platforms = self.build_platforms(fields, env)
        contexts: tuple[str, ...] = ()
        if "additional_contexts" in fields:
            c_layer, c_node = fields["additional_contexts"]
            contexts = self.named_contexts(c_layer.file, name, c_node, env)
        key_layer, key_node, _ = builds[-1]
        dockerfile_path = self.dockerfile_path(name, fields, (key_layer, key_node), context_dir, dockerfile)
        if dockerfile_path is None:
            return
        link = BuildLink(
            dockerfile=dockerfile_path,
            args=self.resolve_args(args, env),
            target=target,
            location=self.location(key_layer.file, key_node),
            platforms=platforms,
            contexts=contexts,
            service=name,
        )
        key = (link.dockerfile, tuple(sorted(link.args.items())), link.target, link.location, link.platforms)
        self.doc(key_layer.file).builds.setdefault(key, link)

    def build_spec(self, name: str, builds: list[tuple[Layer, Node, Node]]) -> tuple[Fields, Args] | None:
        """The fields of the ``build:`` definitions merged in order (later layers win) and their
        args; None (with a problem) when one is neither a path nor a mapping."""
        fields: Fields = {}
        args: Args = {}
        for layer, _, value in builds:
            f = layer.file
            if isinstance(value, Scalar):
                fields["context"] = (layer, value)
            elif isinstance(value, Map):
                spec = self.items(f, value)
                fields.update((field, (layer, spec[field][1])) for field in _FIELDS if field in spec)
                if "args" in spec and present(spec["args"][1]):
                    self.collect_args(f, spec["args"][1], layer, args)
            else:
                self.at(f, value, f'build of service "{name}" must be a path or a mapping')
                return None
        return fields, args

    def build_place(self, fields: Fields, workdir: str, env: Env) -> tuple[str, str] | None:
        """(context directory, the Dockerfile as named); None when the context is unknown or remote
        (nothing to read offline) or the Dockerfile's name is unknown."""
        if "context" in fields and present(fields["context"][1]):
            ctx_layer, ctx_node = fields["context"]
            context = self.text(ctx_layer.file, ctx_node, env, "build context")
            base = ctx_layer.file.workdir
        else:
            context, base = ".", workdir
        if context is None or _REMOTE_CONTEXT.search(context):
            return None
        dockerfile = "Dockerfile"
        if "dockerfile" in fields and present(fields["dockerfile"][1]):
            df_layer, df_node = fields["dockerfile"]
            named = self.text(df_layer.file, df_node, env, "build dockerfile")
            if named is None:
                return None
            dockerfile = named
        return os.path.normpath(os.path.join(base, expand_home(context))), dockerfile

    def build_platforms(self, fields: Fields, env: Env) -> tuple[str, ...]:
        platforms: list[str] = []
        if "platforms" in fields:
            p_layer, p_node = fields["platforms"]
            if isinstance(p_node, Seq):
                for item in p_node.items:
                    text = self.text(p_layer.file, item, env, "build platform", quiet=True)
                    if text:
                        platforms.append(text)
            elif present(p_node):
                self.at(p_layer.file, p_node, "build platforms must be a list")
        return tuple(platforms)

    def dockerfile_path(
        self, name: str, fields: Fields, key: tuple[Layer, Node], context_dir: str, dockerfile: str
    ) -> str | None:
        """The Dockerfile's absolute path; None (with a problem) when no file can have it or it, or
        its context, is outside the project (``--untrusted``)."""
        path = os.path.normpath(os.path.join(context_dir, dockerfile))
        if "\0" in path:  # no file has such a name (and the OS refuses to look one up)
            self.at(key[0].file, key[1], f'build of service "{name}" names a path with a NUL byte')
            return None
        if "context" in fields and self.outside(
            fields["context"][0].file, fields["context"][1], context_dir, "build context"
        ):
            return None
        if "dockerfile" in fields and present(fields["dockerfile"][1]):
            where = fields["dockerfile"]
        else:
            where = fields.get("context") or key
        if self.outside(where[0].file, where[1], path, "build dockerfile"):
            return None
        return path

    def named_contexts(self, f: File, service: str, node: Node, env: Env) -> tuple[str, ...]:
        """``build.additional_contexts`` (a mapping, or a list of ``name=value``): BuildKit named
        contexts. Their names are not images in the service's Dockerfile (``FROM base``); a
        ``docker-image://REF`` value is itself an image use, at its own position."""
        entries: list[tuple[str, Scalar, int]] = []  # (name, value node, offset of the value in it)
        if isinstance(node, Map):
            for name, (_, value) in self.items(f, node).items():
                if isinstance(value, Scalar) and present(value):
                    entries.append((str(name), value, 0))
                elif present(value):
                    self.at(f, value, f'additional context "{name}" must be a string')
        elif isinstance(node, Seq):
            for item in node.items:
                if isinstance(item, Scalar) and "=" in item.value:
                    entries.append((item.value.partition("=")[0], item, len(item.value.partition("=")[0]) + 1))
                elif present(item):
                    self.at(f, item, "additional_contexts entries must be name=value strings")
        elif present(node):
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

    def sub_location(self, f: File, node: Scalar, offset: int, text: str) -> Location:
        """Where ``text``, found ``offset`` characters into the scalar's value, is written: exact
        when the scalar's text is its value on one line (yamlpos sets the end then), else the scalar."""
        if node.end_column is None or node.end_line != node.line:
            return self.location(f, node)
        column = node.column + offset
        return Location(f.display, node.line, column, node.line, column + len(text))

    def collect_args(self, f: File, node: Node, layer: Layer, args: Args) -> None:
        if isinstance(node, Map):
            for arg, (_, value) in self.items(f, node).items():
                args[arg] = (layer, value if present(value) else None, False)
        elif isinstance(node, Seq):
            for item in node.items:
                if isinstance(item, Scalar) and present(item):
                    args[item.value.partition("=")[0]] = (layer, item, True)
                elif present(item):
                    self.at(f, item, "build args must be KEY=VALUE strings")
        else:
            self.at(f, node, "build args must be a mapping or a list")

    def resolve_args(self, args: Args, env: Env) -> dict[str, str]:
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
