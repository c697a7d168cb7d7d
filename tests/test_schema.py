"""typed(): a node of plain values is built without OmegaConf, with the same result, and
everything else still goes through OmegaConf's conversions and messages."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest
from omegaconf import OmegaConf

from vizlab import schema
from vizlab.errors import VizlabError
from vizlab.schema import check_positive, typed


@dataclass
class Plain:
    steps: int
    lr: float
    name: str
    flag: bool = True
    weight: float = 1  # an int default of a float field: OmegaConf makes it 1.0
    V: float | None = None
    index: Any = "auto"

    def __post_init__(self) -> None:
        check_positive("steps", self.steps, integer=True)


@dataclass
class WithList:
    names: list[str] = field(default_factory=list)


@dataclass
class Inner:
    size: int = 4


@dataclass
class Outer:
    """Like the model node: a mapping of keyword arguments and an optional nested node."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    inner: Inner | None = None


def _by_omegaconf(schema_cls: type, data: dict) -> Any:
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema_cls), data))


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same types, field by field."""
    pairs = [(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)]
    return type(a) is type(b) and all(x == y and type(x) is type(y) for x, y in pairs)


PLAIN_NODES = [
    {"steps": 3, "lr": 0.1, "name": "a"},
    {"steps": 3, "lr": 2, "name": "a", "flag": False, "weight": 3, "V": 4, "index": 7},
    {"steps": 3, "lr": 0.5, "name": "a", "V": None, "index": None},
    {"steps": 3, "lr": 0.5, "name": "a", "index": 1.5, "weight": float("inf")},
]


@pytest.mark.parametrize("node", PLAIN_NODES)
def test_plain_nodes_are_built_without_omegaconf_with_its_result(node, monkeypatch):
    expected = _by_omegaconf(Plain, node)

    def no_omegaconf(*args, **kwargs):
        raise AssertionError("a plain node went through OmegaConf's structured merge")

    monkeypatch.setattr(schema.OmegaConf, "structured", no_omegaconf)
    assert _same(typed(Plain, node, "method"), expected)
    assert _same(typed(Plain, OmegaConf.create(node), "method"), expected)


def test_mappings_of_plain_values_and_absent_nested_nodes_are_built_directly(monkeypatch):
    node = {"name": "m", "kwargs": {"depth": 2, "act": "relu", "p": None}, "inner": None}
    expected = _by_omegaconf(Outer, node)
    monkeypatch.setattr(schema.OmegaConf, "structured", None)  # not called
    built = typed(Outer, node, "model")
    assert _same(built, expected) and built.kwargs is not node["kwargs"]  # a copy


@pytest.mark.parametrize(
    "node",
    [
        {"name": "m", "kwargs": {"a": {"b": 1}}, "inner": None},  # a nested mapping
        {"name": "m", "kwargs": {}, "inner": {"size": "8"}},  # a nested node
        {"name": "m"},  # defaults from factories
    ],
)
def test_other_nested_values_go_through_omegaconf(node):
    assert schema._plain_arguments(Outer, node) is None
    built = typed(Outer, node, "model")
    assert _same(built, _by_omegaconf(Outer, node))


@pytest.mark.parametrize(
    "node",
    [
        {"steps": "5", "lr": "0.5", "name": 3, "flag": "true"},  # strings and numbers to convert
        {"steps": 5, "lr": 1, "name": "x", "index": [1, 2]},  # a list in an Any field
    ],
)
def test_values_to_convert_still_go_through_omegaconf(node):
    assert schema._plain_arguments(Plain, node) is None
    assert _same(typed(Plain, node, "method"), _by_omegaconf(Plain, node))


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"steps": 3, "lr": 0.1}, "method.name is required"),
        ({"steps": 3, "lr": 0.1, "name": "a", "nme": 1}, "Unknown key method.nme"),
        ({"steps": 2.5, "lr": 0.1, "name": "a"}, r"method.steps=2.5: expected a whole number"),
        ({"steps": True, "lr": 0.1, "name": "a"}, r"method.steps=True"),
        ({"steps": 3, "lr": None, "name": "a"}, r"method.lr=None"),
        ({"steps": 0, "lr": 0.1, "name": "a"}, r"method.steps=0: must be a whole number > 0"),
        ({"steps": 3, "lr": 0.1, "name": "???"}, "method.name is required"),
    ],
)
def test_bad_nodes_get_the_same_messages(node, message):
    with pytest.raises(VizlabError, match=message):
        typed(Plain, node, "method")


def test_schemas_with_other_field_types_go_through_omegaconf():
    assert schema._plain_fields(WithList) is None
    assert typed(WithList, {"names": ("a", "b")}, "x").names == ["a", "b"]
    assert typed(WithList, {}, "x").names == []
