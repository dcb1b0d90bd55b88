"""Read a filter (azure-mgmt-eventgrid model or its REST JSON) into one plain form, and check it.

``read_filter`` is lenient: it accepts anything the engine can evaluate (a missing or empty
``values`` list simply matches nothing). ``validate_filter`` applies what Azure rejects when a
subscription is created: missing/empty values, wrong value types, the 25-filter and 25-value
limits, 512-character strings. Both raise ``FilterValidationError`` naming the field.

Limits (spec §3.4 CONFLICT): the current docs allow 25 advanced filters and 25 values in total;
older API versions allowed 5 filters (and 5 values for In/NotIn). The current limits apply here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from ..events.models import json_type, preview

MAX_ADVANCED_FILTERS = 25
MAX_FILTER_VALUES = 25
MAX_STRING_VALUE_LENGTH = 512

# operatorType -> value kind: "numbers", "number", "ranges", "bool", "strings", "none"
OPERATORS = {
    "NumberIn": "numbers",
    "NumberNotIn": "numbers",
    "NumberLessThan": "number",
    "NumberGreaterThan": "number",
    "NumberLessThanOrEquals": "number",
    "NumberGreaterThanOrEquals": "number",
    "NumberInRange": "ranges",
    "NumberNotInRange": "ranges",
    "BoolEquals": "bool",
    "StringIn": "strings",
    "StringNotIn": "strings",
    "StringBeginsWith": "strings",
    "StringNotBeginsWith": "strings",
    "StringEndsWith": "strings",
    "StringNotEndsWith": "strings",
    "StringContains": "strings",
    "StringNotContains": "strings",
    "IsNullOrUndefined": "none",
    "IsNotNull": "none",
}
LIST_KINDS = ("numbers", "ranges", "strings")


class FilterValidationError(ValueError):
    """A filter Azure would reject; ``field`` is its path, e.g. ``filter.advancedFilters[2].values``."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.detail = message
        super().__init__(f"{field}: {message}")


@dataclass
class AdvancedClause:
    """One advanced filter: operator, key, and ``value`` (single-value ops) or ``values``."""

    index: int
    operator: str
    key: str
    value: Any = None
    values: list | None = None

    @property
    def kind(self) -> str:
        """The value kind of the operator (see ``OPERATORS``)."""
        return OPERATORS[self.operator]

    @property
    def field(self) -> str:
        """The REST path of this clause, for error messages."""
        return f"filter.advancedFilters[{self.index}]"


@dataclass
class FilterSpec:
    """The parts of an ``EventSubscriptionFilter``, in plain Python values."""

    included_event_types: list[str] | None = None
    subject_begins_with: str | None = None
    subject_ends_with: str | None = None
    is_subject_case_sensitive: bool = False
    enable_advanced_filtering_on_arrays: bool = False
    advanced_filters: list[AdvancedClause] = field(default_factory=list)


def _norm(name: str) -> str:
    """Fold ``includedEventTypes``, ``included_event_types`` and friends to one spelling."""
    return name.replace("_", "").lower()


def _getter(obj: Any):
    """Return a ``get(camelName)`` reading a dict (any casing, snake_case too) or a model object."""
    if isinstance(obj, dict):
        folded = {_norm(k): v for k, v in obj.items() if isinstance(k, str)}
        return lambda name: folded.get(_norm(name))

    def get(name: str):
        snake = "".join("_" + c.lower() if c.isupper() else c for c in name)
        return getattr(obj, snake, None)

    return get


def read_filter(flt: Any) -> FilterSpec:
    """Return the ``FilterSpec`` of a filter model, its REST dict, or None (match everything).

    A whole event subscription (``EventSubscription`` model or ARM JSON) is accepted too: its
    ``filter`` is read.
    """
    if flt is None:
        return FilterSpec()
    if isinstance(flt, FilterSpec):
        return flt
    flt = _unwrap_subscription(flt)
    if flt is None:  # a subscription without a filter gets every event type the topic publishes
        return FilterSpec()
    flt = _as_sent(flt)
    if not isinstance(flt, dict) and not hasattr(flt, "advanced_filters") and not hasattr(flt, "included_event_types"):
        raise FilterValidationError(
            "filter", f"expected an EventSubscriptionFilter or its JSON object, got {type(flt).__name__}"
        )
    get = _getter(flt)
    spec = FilterSpec()
    types = get("includedEventTypes")
    if isinstance(types, (list, tuple)):
        types = [t.value if isinstance(t, enum.Enum) else t for t in types]  # SystemEventNames members
    if types is not None:
        if not isinstance(types, (list, tuple)) or not all(isinstance(x, str) for x in types):
            raise FilterValidationError("filter.includedEventTypes", f"expected an array of strings, got {preview(types, 80)}")
        spec.included_event_types = list(types)
    for name, attr in (("subjectBeginsWith", "subject_begins_with"), ("subjectEndsWith", "subject_ends_with")):
        value = get(name)
        if value is not None and not isinstance(value, str):
            raise FilterValidationError(f"filter.{name}", f"expected a string, got {json_type(value)}")
        setattr(spec, attr, value)
    for name, attr in (("isSubjectCaseSensitive", "is_subject_case_sensitive"),
                       ("enableAdvancedFilteringOnArrays", "enable_advanced_filtering_on_arrays")):
        value = get(name)
        if value is not None and not isinstance(value, bool):
            raise FilterValidationError(f"filter.{name}", f"expected true or false, got {preview(value, 40)}")
        setattr(spec, attr, bool(value))
    advanced = get("advancedFilters")
    if advanced is not None:
        if not isinstance(advanced, (list, tuple)):
            raise FilterValidationError("filter.advancedFilters", f"expected an array, got {json_type(advanced)}")
        spec.advanced_filters = [_read_clause(i, item) for i, item in enumerate(advanced)]
    return spec


def _is_sdk_model(obj: Any) -> bool:
    return callable(getattr(obj, "serialize", None)) and isinstance(getattr(obj, "_attribute_map", None), dict)


def _as_sent(flt: Any) -> Any:
    """An azure-mgmt-eventgrid filter model as the SDK sends it, so it is judged as Azure judges it.

    The models keep what they were given (``values=[5]``, ``value="true"``); their serializer turns
    that into ``["5"]`` and ``true`` on the wire. Values it cannot send are named here.
    """
    if not _is_sdk_model(flt):
        return flt
    from azure.core.exceptions import SerializationError
    try:
        return flt.serialize()
    except SerializationError:
        for i, clause in enumerate(getattr(flt, "advanced_filters", None) or []):
            where = f"filter.advancedFilters[{i}]"
            if not _is_sdk_model(clause):
                raise FilterValidationError(where, "expected an advanced filter model such as StringInAdvancedFilter, "
                                                   f"got {type(clause).__name__}") from None
            try:
                clause.serialize()
            except SerializationError:
                shown = preview(getattr(clause, "values", getattr(clause, "value", None)), 80)
                raise FilterValidationError(where, f"the SDK cannot send this {type(clause).__name__}: its value(s) "
                                                   f"{shown} are not of the operator's type") from None
        raise FilterValidationError("filter", "the SDK cannot serialize this filter; check each field's type") from None


def _unwrap_subscription(obj: Any) -> Any:
    """Return the filter of a whole event subscription (model or ARM JSON), else ``obj``."""
    if isinstance(obj, dict):
        props = obj.get("properties")
        if isinstance(props, dict) and ("destination" in props or "filter" in props):
            return props.get("filter") or {}
        return obj
    if hasattr(obj, "destination") and hasattr(obj, "filter"):
        return obj.filter
    return obj


def _read_clause(index: int, item: Any) -> AdvancedClause:
    """Read one advanced filter; only what makes it impossible to evaluate is an error here."""
    where = f"filter.advancedFilters[{index}]"
    if item is None or isinstance(item, (str, int, float, list)):
        raise FilterValidationError(where, f"expected an advanced filter object, got {json_type(item)}")
    get = _getter(item)
    op = get("operatorType")
    if not isinstance(op, str):  # a list or an object is unhashable: name the field instead of failing
        raise FilterValidationError(
            f"{where}.operatorType", f"expected an operator name (a string), got {json_type(op)}; "
                                     f"allowed: {', '.join(OPERATORS)}"
        )
    if op not in OPERATORS:
        raise FilterValidationError(
            f"{where}.operatorType", f"unknown operator {op!r}; allowed: {', '.join(OPERATORS)}"
        )
    key = get("key")
    if not isinstance(key, str) or not key:
        raise FilterValidationError(f"{where}.key", f"expected a non-empty string such as 'data.modelTags.stage', got {preview(key, 80)}")
    kind = OPERATORS[op]
    clause = AdvancedClause(index, op, key)
    if kind in LIST_KINDS:
        values = get("values")
        if values is not None and not isinstance(values, (list, tuple)):
            raise FilterValidationError(f"{where}.values", f"expected an array, got {json_type(values)}")
        values = list(values or [])
        if kind == "ranges":
            for j, pair in enumerate(values):
                if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                        or not all(_is_number(x) for x in pair)):
                    raise FilterValidationError(f"{where}.values[{j}]", f"expected a [low, high] pair of numbers, got {preview(pair, 60)}")
        clause.values = values
    elif kind != "none":
        clause.value = get("value")
    return clause


def _is_number(value: Any) -> bool:
    """True for JSON numbers (not booleans)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def count_values(spec: FilterSpec) -> int:
    """Count filter values the way the 25-value limit does (a range pair counts once)."""
    total = 0
    for c in spec.advanced_filters:
        if c.kind in LIST_KINDS:
            total += len(c.values or [])
        elif c.kind != "none":
            total += 1
    return total


def problems(spec: FilterSpec) -> list[tuple[str, str]]:
    """Return ``(field, message)`` for everything Azure rejects in a readable filter."""
    out = []
    if len(spec.advanced_filters) > MAX_ADVANCED_FILTERS:
        out.append(("filter.advancedFilters", f"{len(spec.advanced_filters)} advanced filters; at most {MAX_ADVANCED_FILTERS} are allowed"))
    total = count_values(spec)
    if total > MAX_FILTER_VALUES:
        out.append(("filter.advancedFilters", f"{total} filter values in total; at most {MAX_FILTER_VALUES} are allowed across all advanced filters"))
    for c in spec.advanced_filters:
        if c.kind in LIST_KINDS:
            if not c.values:
                out.append((f"{c.field}.values", f"{c.operator} needs at least one value in 'values'"))
            for j, v in enumerate(c.values or []):
                if c.kind == "numbers" and not _is_number(v):
                    out.append((f"{c.field}.values[{j}]", f"expected a number, got {json_type(v)} {preview(v, 40)}"))
                elif c.kind == "strings" and not isinstance(v, str):
                    out.append((f"{c.field}.values[{j}]", f"expected a string, got {json_type(v)} {preview(v, 40)}"))
                elif c.kind == "strings" and len(v) > MAX_STRING_VALUE_LENGTH:
                    out.append((f"{c.field}.values[{j}]", f"{len(v)} characters; at most {MAX_STRING_VALUE_LENGTH} are allowed"))
        elif c.kind == "number" and not _is_number(c.value):
            out.append((f"{c.field}.value", f"{c.operator} needs a number in 'value', got {json_type(c.value)}"))
        elif c.kind == "bool" and not isinstance(c.value, bool):
            out.append((f"{c.field}.value", f"BoolEquals needs true or false in 'value', got {json_type(c.value)}"))
    return out


def validate_filter(flt: Any) -> FilterSpec:
    """Raise ``FilterValidationError`` for anything Azure would reject; return the read filter."""
    spec = read_filter(flt)
    found = problems(spec)
    if found:
        raise FilterValidationError(*found[0])
    return spec
