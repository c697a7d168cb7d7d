"""Typed configs: each config group (and each method's options) has a dataclass schema.

A schema declares the keys of a config node, their types, and in ``__post_init__`` their
ranges (with :func:`require` and the ``check_*`` helpers). The YAML files in ``conf/`` hold the
values; a schema field has no default unless its key may be left out of the YAML. The runner
checks every node against its schema right after composing, before any model is loaded, so a
wrong type, an unknown key or an out-of-range value is one message naming the key, the value
and what would be valid::

    @dataclass
    class InversionOptions:
        name: str
        iterations: int
        C: float

        def __post_init__(self):
            check_positive("iterations", self.iterations, integer=True)
            check_positive("C", self.C)

    options = typed(InversionOptions, cfg.method, "method")   # -> InversionOptions

OmegaConf does the type conversion (``"5"`` -> 5 for an ``int`` field, ``1.5`` is refused);
``__post_init__`` runs on the converted values. OmegaConf's unions are strict (``float | str``
refuses the int ``1``), so a key that takes several kinds of value (``C: auto | number``,
``index: int | list | "a:b"``) is typed ``Any`` and checked in ``__post_init__``.
"""

from __future__ import annotations

import functools
import math
import types
import typing
from collections.abc import Iterable
from dataclasses import MISSING, fields, is_dataclass
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from vizlab.errors import VizlabError, format_choices, nearest

T = TypeVar("T")


class OptionError(ValueError):
    """A value out of range, raised by a schema's ``__post_init__``; :func:`typed` adds the
    config path. ``valid`` says what would be accepted."""

    def __init__(self, key: str, value: Any, valid: str):
        super().__init__(f"{key}={value!r}: {valid}")
        self.key, self.value, self.valid = key, value, valid


def require(condition: bool, key: str, value: Any, valid: str) -> None:
    """Raise :class:`OptionError` for ``key=value`` unless ``condition``."""
    if not condition:
        raise OptionError(key, value, valid)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_finite(key: str, value: Any) -> None:
    require(_is_number(value) and math.isfinite(value), key, value, "must be a finite number")


def check_positive(
    key: str, value: Any, *, integer: bool = False, allow_zero: bool = False
) -> None:
    """``value`` > 0 (>= 0 with ``allow_zero``), finite, and a whole number if ``integer``."""
    kind = "a whole number" if integer else "a finite number"
    bound = ">= 0" if allow_zero else "> 0"
    ok = _is_number(value) and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if integer:
        ok = ok and float(value).is_integer()
    require(ok, key, value, f"must be {kind} {bound}")


def check_range(key: str, value: Any, low: float | None = None, high: float | None = None) -> None:
    """``low <= value <= high`` (either bound may be None), finite."""
    ok = _is_number(value) and math.isfinite(value)
    ok = ok and (low is None or value >= low) and (high is None or value <= high)
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    require(ok, key, value, f"must be a finite number in [{lo}, {hi}]")


def check_choice(key: str, value: Any, choices: Iterable[Any]) -> None:
    choices = list(choices)
    if value in choices:
        return
    hint = nearest(str(value), [str(c) for c in choices], n=1)
    require(
        False,
        key,
        value,
        f"must be one of {format_choices([str(c) for c in choices], 30)}"
        + (f" (did you mean {hint[0]}?)" if hint else ""),
    )


def entries_of(node: Any, prefix: str, what: str) -> dict[str, Any]:
    """A config node of named entries (regularizers, transforms) as a plain dict; None is
    empty. Anything but a mapping is a VizlabError: ``{prefix}={node!r} is not {what}``."""
    if node is None:
        return {}
    data = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    if not isinstance(data, dict):
        raise VizlabError(f"{prefix}={node!r} is not {what}")
    return data


def _join(prefix: str, key: Any) -> str:
    key = "" if key is None else str(key)
    if not prefix:
        return key
    if not key:
        return prefix
    return f"{prefix}{key}" if key.startswith("[") else f"{prefix}.{key}"


def _field_names(schema: type) -> list[str]:
    return [f.name for f in fields(schema)] if is_dataclass(schema) else []


def typed(schema: type[T], node: DictConfig | dict | None, prefix: str) -> T:
    """``node`` checked against ``schema`` and converted to an instance of it.

    ``prefix`` is the node's path in the composed config (``"method"``, ``"param"``...), used
    in messages. Raises :class:`VizlabError` naming the key, the bad value and what is valid.

    A node whose every value already has its field's type (the usual case after Hydra's
    composition) is built directly (:func:`_plain_arguments`); anything else (a value to
    convert, an unknown or missing key, lists, nested schemas) goes through OmegaConf's
    structured merge, which converts it or names what is wrong.
    """
    if isinstance(node, DictConfig):
        data = OmegaConf.to_container(node, resolve=True)
    else:
        data = dict(node or {})
    arguments = _plain_arguments(schema, data)
    if arguments is not None:
        try:
            return schema(**arguments)
        except OptionError as err:
            raise VizlabError(
                f"Invalid value {_join(prefix, err.key)}={err.value!r}: {err.valid}."
            ) from None
        except Exception:  # noqa: BLE001 - reported below exactly as OmegaConf's path reports it
            pass
    return _typed_by_omegaconf(schema, data, prefix)


_PLAIN_TYPES: dict[Any, tuple[type, ...]] = {
    int: (int,),
    float: (float, int),
    bool: (bool,),
    str: (str,),
}
"""Field type -> the exact value types taken as they are (``float`` also takes an ``int``,
converted, as OmegaConf does); ``Any`` takes any of these."""


@functools.cache
def _plain_fields(schema: type) -> tuple[tuple[str, Any, bool, Any, bool], ...] | None:
    """Per schema class, each field as (name, type, optional, default, has a default factory),
    when every field is an ``int``, ``float``, ``bool``, ``str``, ``Any``, ``dict[str, Any]`` or
    a nested schema, optionally ``| None``; else None (the schema goes through OmegaConf)."""
    if not is_dataclass(schema):
        return None
    try:
        hints = typing.get_type_hints(schema)
    except Exception:  # noqa: BLE001 - an unresolvable annotation: OmegaConf reports it
        return None
    out = []
    for f in fields(schema):
        kind, optional = hints.get(f.name), False
        if typing.get_origin(kind) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(kind) if a is not type(None)]
            if len(args) != 1 or len(typing.get_args(kind)) != 2:
                return None
            kind, optional = args[0], True
        if typing.get_origin(kind) is dict and typing.get_args(kind) == (str, Any):
            kind = dict
        elif is_dataclass(kind):
            kind = "schema"  # taken only as None; a nested node goes through OmegaConf
        elif kind is not Any and kind not in _PLAIN_TYPES:
            return None
        if not f.init:
            return None
        out.append((f.name, kind, optional, f.default, f.default_factory is not MISSING))
    return tuple(out)


def _is_plain(value: Any) -> bool:
    """A value OmegaConf keeps as it is in an ``Any`` field."""
    if type(value) is str:
        return value != "???" and "${" not in value
    return value is None or type(value) in (int, float, bool)


def _plain_value(kind: Any, optional: bool, value: Any) -> tuple[bool, Any]:
    """(whether ``value`` is taken as it is by a field of this type, the value OmegaConf would
    give the field)."""
    if value is None:
        return optional or kind is Any, None
    if kind is Any:
        return _is_plain(value), value
    if kind is dict:  # a mapping of plain values, copied as OmegaConf copies it
        ok = type(value) is dict and all(type(k) is str and _is_plain(v) for k, v in value.items())
        return ok, dict(value) if ok else value
    if kind == "schema" or type(value) not in _PLAIN_TYPES[kind] or not _is_plain(value):
        return False, value
    return True, kind(value)


def _plain_arguments(schema: type, data: dict) -> dict[str, Any] | None:
    """The schema's constructor arguments when every value of ``data`` (and every default used)
    already has its field's type, converted as OmegaConf would (an ``int`` for a ``float``
    field becomes a float); None when OmegaConf has to convert or report something."""
    plain = _plain_fields(schema)
    if plain is None or any(key not in {f[0] for f in plain} for key in data):
        return None  # not a plain schema, or an unknown key
    arguments: dict[str, Any] = {}
    for name, kind, optional, default, factory in plain:
        if name not in data and (factory or default is MISSING):
            return None  # a missing key, or a default OmegaConf would convert
        ok, arguments[name] = _plain_value(kind, optional, data.get(name, default))
        if not ok:
            return None
    return arguments


def _typed_by_omegaconf(schema: type[T], data: dict, prefix: str) -> T:
    """:func:`typed` through OmegaConf's structured merge (conversions and every error)."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), data)
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except OptionError as err:
        raise VizlabError(
            f"Invalid value {_join(prefix, err.key)}={err.value!r}: {err.valid}."
        ) from None
    except (ConfigKeyError, ConfigAttributeError) as err:
        names = _field_names(schema)
        hint = nearest(str(err.key), names, n=1)
        where = prefix or "the config"
        raise VizlabError(
            f"Unknown key {_join(prefix, err.full_key or err.key)}. Valid keys of {where}: "
            f"{format_choices(names, 40)}" + (f" (did you mean {hint[0]}?)" if hint else "") + "."
        ) from None
    except MissingMandatoryValue as err:
        raise VizlabError(
            f"{_join(prefix, err.full_key or err.key)} is required but has no value; set it "
            f"on the command line, e.g. {_join(prefix, err.full_key or err.key)}=..."
        ) from None
    except ValidationError as err:
        key = _join(prefix, err.full_key or err.key)
        value = _lookup(data, str(err.full_key or err.key))
        expected = _expected_type(schema, str(err.full_key or err.key))
        raise VizlabError(
            f"Invalid value {key}={value!r}: expected {expected}. ({err.msg.splitlines()[0]})"
        ) from None
    except OmegaConfBaseException as err:
        raise VizlabError(f"Invalid {prefix} config: {str(err).splitlines()[0]}") from None


def _lookup(data: Any, path: str) -> Any:
    """The value at a dotted/indexed OmegaConf path such as ``lst[0]`` or ``a.b``."""
    current = data
    for part in path.replace("[", ".").replace("]", "").split("."):
        if not part:
            continue
        try:
            current = current[int(part)] if isinstance(current, list) else current[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return "?"
    return current


def _expected_type(schema: type, path: str) -> str:
    name = path.split(".")[0].split("[")[0]
    for f in fields(schema) if is_dataclass(schema) else []:
        if f.name == name:
            t = f.type if isinstance(f.type, str) else str(f.type).replace("typing.", "")
            return {"int": "a whole number", "float": "a number", "bool": "true or false"}.get(
                str(t), f"a value of type {t}"
            )
    return "a value of the declared type"
