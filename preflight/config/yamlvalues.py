"""A config file's YAML as Python values: a ``yamlpos`` node tree (the one YAML reader, with its
limits) turned into what PyYAML's safe loader would build, mappings remembering each key's line."""

from __future__ import annotations

from typing import Any

from .. import yamlpos
from ..settings import ConfigError
from .files import Where


class LineMap(dict[Any, Any]):
    """A YAML mapping that remembers the 1-based line of each key."""

    lines: dict[Any, int]


_Pair = tuple[yamlpos.Node, yamlpos.Node]
_STR = "tag:yaml.org,2002:str"
_SEQ_TAGS = frozenset({None, "!", "tag:yaml.org,2002:seq"})
_MAP_TAGS = frozenset({None, "!", "tag:yaml.org,2002:map"})


class Plain:
    """Python values of a ``yamlpos`` node tree as PyYAML's safe loader builds them (YAML 1.1 plain
    scalars: ``off`` is false, ``3.10`` a number; ``<<`` merges), refusing duplicate keys and tags
    without a safe constructor. ``yamlpos`` bounds the depth and the expanded size."""

    def __init__(self, where: Where) -> None:
        import yaml

        self.yaml = yaml
        self.where = where
        self.resolver = yaml.resolver.Resolver()
        self.constructor = yaml.constructor.SafeConstructor()

    def fail(self, node: yamlpos.Node, problem: str) -> ConfigError:
        return ConfigError(f"{self.where.file}:{node.line}: invalid YAML: {problem}")

    def value(self, node: yamlpos.Node) -> Any:
        if isinstance(node, yamlpos.Scalar):
            return self.scalar(node)
        if isinstance(node, yamlpos.Seq):
            if node.tag not in _SEQ_TAGS:
                raise self.fail(node, f"could not determine a constructor for the tag {node.tag!r}")
            return [self.value(item) for item in node.items]
        assert isinstance(node, yamlpos.Map)
        if node.tag not in _MAP_TAGS:
            raise self.fail(node, f"could not determine a constructor for the tag {node.tag!r}")
        return self.mapping(node)

    def scalar(self, node: yamlpos.Scalar) -> Any:
        tag = node.tag
        if tag == "!" or (tag is None and node.style is None):  # as PyYAML's parser and composer decide
            tag = self.resolver.resolve(self.yaml.ScalarNode, node.value, (True, False))
        elif tag is None:
            tag = _STR
        construct = self.constructor.yaml_constructors.get(tag)
        if construct is None or tag == "tag:yaml.org,2002:merge":
            raise self.fail(node, f"could not determine a constructor for the tag {tag!r}")
        try:
            return construct(self.constructor, self.yaml.ScalarNode(tag, node.value, style=node.style))
        except (ValueError, TypeError, self.yaml.YAMLError) as exc:
            raise self.fail(node, f"cannot read {node.value!r} as {tag.rpartition(':')[2]}: {exc}") from None

    def mapping(self, node: yamlpos.Map) -> LineMap:
        out = LineMap()
        out.lines = {}
        merged, own = self.flatten(node)
        seen: set[str] = set()
        for key_node, _ in own:  # as written: `1` and `"1"` are one key, `1` and `true` two
            if isinstance(key_node, yamlpos.Scalar):
                if key_node.value in seen:
                    raise self.fail(key_node, f"duplicate key {key_node.value!r}")
                seen.add(key_node.value)
        for key_node, value_node in merged + own:
            key = self.value(key_node)
            try:
                hash(key)
            except TypeError:
                raise self.fail(key_node, "a key must be a plain value") from None
            out[key] = self.value(value_node)
            out.lines[key] = key_node.line
        return out

    def flatten(self, node: yamlpos.Map) -> tuple[list[_Pair], list[_Pair]]:
        """(the pairs ``<<`` keys bring in, the node's own pairs); later pairs win and the order is
        PyYAML's: an earlier ``<<`` over a later one, the first mapping of a ``<<`` list over the next,
        own keys over all."""
        merged: list[_Pair] = []
        own: list[_Pair] = []
        for key_node, value_node in node.pairs:
            if not (isinstance(key_node, yamlpos.Scalar) and key_node.style is None and key_node.value == "<<"):
                own.append((key_node, value_node))
                continue
            block: list[_Pair] = []
            for source in value_node.items if isinstance(value_node, yamlpos.Seq) else [value_node]:
                if not isinstance(source, yamlpos.Map):
                    raise self.fail(source, "expected a mapping or list of mappings for merging")
                inner, mine = self.flatten(source)
                block = inner + mine + block
            merged = block + merged
        return merged, own
