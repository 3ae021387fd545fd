"""Compose's view of the YAML nodes: mappings with ``<<`` merge keys applied, null and ``!reset``,
where the services of a file are (``services:`` or a legacy v1 file), and a quick list of the services
with a given key in a file that is checked on its own."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .. import yamlpos
from ..textfile import InputError, read_text
from ..yamlpos import Map, Node, Scalar, Seq

Items = dict[str, tuple[Node, Node]]


def mapping(node: Map, cache: dict[int, Items], report: Callable[[Node, str], None] | None) -> Items:
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
                    for name, pair in mapping(src, cache, report).items():
                        merged.setdefault(name, pair)
                elif report is not None:
                    report(src, "a << merge key needs a mapping or a list of mappings")
            continue
        own[key.value] = (key, value)
    result = {**merged, **own} if merged else own
    cache[id(node)] = result
    return result


def present(node: Node | None) -> bool:
    """False for null and for compose's ``!reset`` tag."""
    if node is None or node.tag == "!reset":
        return False
    return not (isinstance(node, Scalar) and node.is_null)


def service_nodes(
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
                if present(node) and report is not None:
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


def listed(node: Node) -> list[Node]:
    return list(node.items) if isinstance(node, Seq) else [node]


def built_services(path: str, key: str = "build") -> frozenset[str]:
    """Names of the services with a ``build:`` (or ``key``) in ``path`` (quietly: that file is
    checked on its own)."""
    try:
        loaded = yamlpos.load(read_text(path))
    except InputError:
        return frozenset()
    cache: dict[int, Items] = {}
    roots = [r for r in loaded.documents if isinstance(r, Map)]
    out: set[str] = set()
    for name, defs in service_nodes(roots, lambda m: mapping(m, cache, None), None).items():
        for _, node in defs:
            if isinstance(node, Map):
                build = mapping(node, cache, None).get(key)
                if build is not None and present(build[1]):
                    out.add(name)
    return frozenset(out)
