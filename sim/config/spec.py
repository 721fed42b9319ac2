"""Typed schemas for the files users write (terrain presets, study files), on pydantic.

Why: a workshop user edits YAML by hand; every mistake must come back as one line naming the key,
the value and what is allowed (:class:`~sim.errors.ConfigError`, exit code 2), never as a
traceback halfway through a sweep. Pydantic checks types, ranges, required and unknown keys from
the schema itself; this module supplies the pieces every schema shares -- a strict base model,
number and point types that carry their own "what is allowed" text -- and turns the first
pydantic error into that one line.

Writing a schema: give each constrained field a ``description`` phrased as what is allowed
("a number from 0 to 1"); :func:`config_error` shows it for any error on that field. A
cross-field rule raises :class:`ConfigError` from a ``model_validator`` with a key relative to
the model (``"kurd+sunni_arab"``); the key is prefixed with the model's own position.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.errors import ConfigError

__all__ = ["Flag", "Spec", "config_error", "num", "validate_spec", "whole"]


class Spec(BaseModel):
    """Base of every file schema: unknown keys are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def num(lo: float, hi: float, unit: str = "", *, gt: bool = False) -> Any:
    """A finite number in ``[lo, hi]`` (``(lo, hi]`` with ``gt``), with its allowed-text.

    Booleans and strings are refused (strict), whole numbers are accepted.
    """
    suffix = f" ({unit})" if unit else ""
    low = f"above {lo:g}" if gt else f"from {lo:g}"
    text = f"a number {low} to {hi:g}{suffix}"
    bound = {"gt": lo} if gt else {"ge": lo}
    return Annotated[
        float, Field(strict=True, allow_inf_nan=False, le=hi, description=text, **bound)
    ]


#: ``true`` or ``false`` (1, 0 and "yes" are refused).
Flag = Annotated[bool, Field(strict=True, description="true or false")]


def whole(lo: int, hi: int, what: str = "a whole number") -> Any:
    """A whole number in ``[lo, hi]`` (booleans and floats refused)."""
    return Annotated[int, Field(strict=True, ge=lo, le=hi, description=f"{what} from {lo} to {hi}")]


def validate_spec[M: BaseModel](model: type[M], data: Any, prefix: str, where: str = "") -> M:
    """``model.model_validate(data)``, or the first problem as one :class:`ConfigError` line.

    Args:
        model: the schema.
        data: plain containers (dicts, lists, scalars).
        prefix: dotted key of ``data`` in the user's view (``terrain``), or ``""``.
        where: appended to the message (e.g. ``(in experiments/x.yaml)``).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, model, data, prefix, where) from None


def config_error(
    exc: ValidationError, model: type[BaseModel], data: Any, prefix: str = "", where: str = ""
) -> ConfigError:
    """One line for the first error: the key (down to the field it concerns), value, allowed."""
    err = exc.errors(include_url=False)[0]
    loc = tuple(err["loc"])
    kind = err["type"]
    path, field, rest, owner = _walk(model, loc)
    inner = (err.get("ctx") or {}).get("error")
    if isinstance(inner, ConfigError):  # a cross-field rule of the model at `path`
        key = _join(prefix, (*path, *_split(inner.key)))
        return ConfigError(key, inner.value, _with(inner.allowed, where))
    value = _value_at(data, path) if rest or kind == "missing" else err.get("input")
    described = _description(field)
    if kind == "missing":
        return ConfigError(_join(prefix, path), None, _with("required", where))
    if kind == "extra_forbidden":
        known = ", ".join(sorted(owner.model_fields))
        key = _join(prefix, (*path, loc[-1]))
        return ConfigError(key, err.get("input"), _with(f"unknown key; allowed: {known}", where))
    if kind == "union_tag_invalid":  # a discriminated union: name the tag's key
        ctx = err.get("ctx") or {}
        tag = str(ctx.get("discriminator", "")).strip("'")
        key = _join(prefix, (*path, tag) if tag else path)
        return ConfigError(
            key, ctx.get("tag"), _with(f"must be one of {ctx.get('expected_tags')}", where)
        )
    if kind in ("model_type", "model_attributes_type") or (kind == "dict_type" and not described):
        target = _model_of(field) if field is not None else model
        keys = f"a mapping with keys {', '.join(sorted(target.model_fields))}" if target else None
        return ConfigError(
            _join(prefix, path), value, _with(keys or "a mapping (key: value)", where)
        )
    return ConfigError(_join(prefix, path), value, _with(described or _plain_message(err), where))


def _description(field: Any) -> str | None:
    """A field's allowed-text, also when its constrained type sits inside ``X | None``."""
    if field is None:
        return None
    if field.description:
        return field.description
    for member in _unwrap_annotated(field.annotation):
        for meta in typing.get_args(member)[1:]:
            if getattr(meta, "description", None):
                return meta.description
    return None


def _unwrap_annotated(tp: Any) -> list[Any]:
    """The ``Annotated[...]`` members of a union annotation."""
    if typing.get_origin(tp) is Annotated:
        return [tp]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(tp) for m in _unwrap_annotated(a)]
    return []


def _with(text: str, where: str) -> str:
    return f"{text} {where}" if where else text


def _plain_message(err: Any) -> str:
    msg = str(err.get("msg", "invalid value"))
    for lead in ("Input should be ", "Value error, "):
        if msg.startswith(lead):
            msg = ("must be " if lead.startswith("Input") else "") + msg.removeprefix(lead)
    return msg


def _split(key: str) -> tuple[Any, ...]:
    return tuple(key.split(".")) if key else ()


def _join(prefix: str, parts: tuple[Any, ...]) -> str:
    text = prefix
    for p in parts:
        if isinstance(p, int):
            text += f"[{p}]"
        else:
            text += f".{p}" if text else str(p)
    return text


def _value_at(data: Any, path: tuple[Any, ...]) -> Any:
    node = data
    for p in path:
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _model_of(field: Any) -> type[BaseModel] | None:
    """The model a field holds, directly or as the elements of a list or dict."""
    return _model_in(field.annotation) or _model_in(_container(field.annotation))


def _walk(
    model: type[BaseModel], loc: tuple[Any, ...]
) -> tuple[tuple[Any, ...], Any, bool, type[BaseModel]]:
    """Follow ``loc`` through nested models to the leaf field it concerns.

    Returns:
        ``(path, field, rest, owner)``: the locator up to and including that field (list
        indices between models kept), the pydantic ``FieldInfo`` (None at the root), whether
        ``loc`` went deeper than the field (inside a point, a list of numbers, ...), and the
        last model reached (whose fields an unknown key could have been).
    """
    path: list[Any] = []
    current: Any = model
    owner: type[BaseModel] = model
    field = None
    i = 0
    while i < len(loc):
        part = loc[i]
        tagged = _tagged_member(current, part)
        if tagged is not None:  # a discriminated union names its member by the tag value
            current = owner = tagged
            i += 1
            continue
        target = _model_in(current)
        if target is None:
            elem = _container(current)
            if elem is not None and _model_in(elem) is not None:  # a list or dict of models
                path.append(part)
                current = elem
                i += 1
                continue
            return tuple(path), field, True, owner
        owner = target
        if not isinstance(part, str) or part not in target.model_fields:
            return tuple(path), field, part != "__root__" and i < len(loc) - 1, owner
        field = target.model_fields[part]
        path.append(part)
        current = field.annotation
        i += 1
    return tuple(path), field, False, _model_in(current) or owner


def _unwrap(tp: Any) -> list[Any]:
    """The member types of ``Annotated``/``Optional``/``Union`` annotations."""
    if typing.get_origin(tp) is Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(tp) for m in _unwrap(a)]
    return [tp]


def _model_in(tp: Any) -> type[BaseModel] | None:
    for member in _unwrap(tp):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _tagged_member(tp: Any, part: Any) -> type[BaseModel] | None:
    """The member of a union of models whose literal tag field equals ``part``."""
    models = [m for m in _unwrap(tp) if isinstance(m, type) and issubclass(m, BaseModel)]
    if len(models) < 2 or not isinstance(part, str):
        return None
    for m in models:
        for f in m.model_fields.values():
            if typing.get_origin(f.annotation) is typing.Literal and part in typing.get_args(
                f.annotation
            ):
                return m
    return None


def _container(tp: Any) -> Any:
    """The element type of a ``list[...]``/``tuple[...]``/``dict[str, ...]`` annotation."""
    for member in _unwrap(tp):
        origin = typing.get_origin(member)
        if origin in (list, tuple) and typing.get_args(member):
            return typing.get_args(member)[0]
        if origin is dict and typing.get_args(member):
            return typing.get_args(member)[1]
    return None
