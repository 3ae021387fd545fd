"""The compose reader's state and the helpers every part of it uses: the files read (each once) and
what each contributes, problems at a node, confinement (``--untrusted``), interpolation of a scalar,
``.env`` files."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from .. import yamlpos
from ..confine import OUTSIDE, Confinement
from ..dotenv import parse_dotenv
from ..interpolate import Dialect, ExpansionError, expand
from ..model import Location, Problem
from ..textfile import InputError, read_text
from ..yamlpos import Map, Node, Scalar
from .files import Doc, File, Layer
from .nodes import Items, mapping, present, service_nodes

Env = Mapping[str, str]
Lookup = Callable[[str], "str | None"]

COMPOSE: Dialect = Dialect.COMPOSE  # type: ignore[attr-defined]


def expand_home(path: str) -> str:
    """``os.path.expanduser``, except that a ``~name`` no user can have (it holds a NUL byte, and
    looking it up raises) stays as written: such a path is then reported as not found."""
    try:
        return os.path.expanduser(path)
    except ValueError:
        return path


class ReaderState:
    """What the reader has read so far; ``buildlinks.BuildLinks``, ``includes.Includes`` and
    ``reader._Reader`` add the parts of a project."""

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
        self.files: dict[str, File] = {}
        self.docs: dict[str, Doc] = {}
        self.projects: set[str] = set()
        self.layers_memo: dict[tuple[str, str, int], list[Layer]] = {}
        self.envs: list[Env] = []  # keeps every env alive: the memo is keyed by id(env)

    def project(
        self, f: File, env: Env, workdir: str, chain: tuple[str, ...], built: frozenset[str] = frozenset()
    ) -> None:
        """Read ``f`` as (part of) a project: ``reader._Reader.project``."""
        raise NotImplementedError

    def inside(self, path: str) -> bool:
        """May a checked file make preflight open ``path``? Always, unless confined (``--untrusted``)."""
        return self.confine is None or self.confine.contains(path)

    def outside(self, f: File, node: Node, path: str, what: str) -> bool:
        """True (and a problem at ``node``, naming the path as written) if ``path`` may not be opened."""
        if self.inside(path):
            return False
        written = node.value if isinstance(node, Scalar) else path
        self.at(f, node, f"{what} {OUTSIDE}: {written} (not read)")
        return True

    def file(self, path: str) -> File:
        f = self.files.get(path)
        if f is not None:
            return f
        f = File(path, self.display(Path(path)))
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
            elif present(root):
                self.problem(f, root.line, root.column, "compose file root must be a mapping")
                f.ok = False
        return f

    def doc(self, f: File) -> Doc:
        d = self.docs.get(f.path)
        if d is None:
            d = self.docs[f.path] = Doc(f)
        return d

    def problem(
        self, f: File, line: int, column: int, message: str, rule: str = "PF001", path: str | None = None
    ) -> None:
        loc = Location(path or f.display, line, column)
        self.doc(f).problems.setdefault((loc, rule, message), Problem(rule, loc, message))

    def at(self, f: File, node: Node, message: str, rule: str = "PF001") -> None:
        self.problem(f, node.line, node.column, message, rule)

    def items(self, f: File, node: Map) -> Items:
        return mapping(node, f.cache, lambda n, msg: self.at(f, n, msg))

    def services(self, f: File) -> dict[str, list[tuple[Node, Node]]]:
        if f.services is None:
            f.services = service_nodes(f.roots, lambda m: self.items(f, m), lambda n, msg: self.at(f, n, msg))
        return f.services

    def location(self, f: File, node: Node) -> Location:
        return Location(f.display, node.line, node.column, node.end_line, node.end_column)

    def text(self, f: File, node: Node, env: Env, what: str, quiet: bool = False) -> str | None:
        """A scalar after interpolation; None (with a problem unless ``quiet``) when unknown."""
        if not isinstance(node, Scalar):
            self.at(f, node, f"{what} must be a string")
            return None
        if not present(node):
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

    def dotenv(self, f: File, path: str, lookup: Lookup) -> dict[str, str]:
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
