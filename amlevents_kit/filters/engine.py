"""Evaluate Event Grid subscription filters the way Azure documents it (spec/eventgrid.md §3.3-3.4).

Rules, documented by Azure:

* ``includedEventTypes``: the event type must be one of them (exact match); unset = all types.
* ``subjectBeginsWith`` / ``subjectEndsWith``: prefix / suffix, case-insensitive unless
  ``isSubjectCaseSensitive``; empty = no condition.
* Advanced filters: OR across the values of one filter, AND across filters (and with the
  two parts above). String comparisons ignore case. A missing key matches only NumberNotIn,
  StringNotIn (and IsNullOrUndefined). With ``enableAdvancedFilteringOnArrays`` an array
  value matches a positive operator if any element does, and fails a negated operator if any
  element matches; elements of another type are ignored.
* Keys: envelope fields (``ID``, ``Topic``, ``Subject``, ``EventType``, ``DataVersion``; for
  CloudEvents ``id``, ``source``, ``type``, ``specversion``, extensions) or ``data.<path>``
  with ``.`` as the nesting separator.

Choices where Azure's documents are silent (UNVERIFIED; the local simulator differs on some):

* Keys are looked up exactly first, then ignoring case (``data.ModelName`` finds ``modelName``),
  because Azure's docs and its service spell AML data keys differently (spec §1.3). ``lint``
  warns about such keys.
* A JSON ``null`` counts as a missing key (as IsNullOrUndefined treats them alike).
  NumberNotInRange matches a missing key, like NumberNotIn.
* A value of another type than the operator's (a string for NumberGreaterThan, an array
  without the array option, an array with no element of the right type) matches no operator,
  positive or negated. Numeric strings ("5") count as numbers. Booleans are never numbers.
* Numbers compare as 64-bit floats; empty strings in BeginsWith/EndsWith/Contains values are
  ignored; values of the wrong type in ``values`` are ignored (``validate_filter`` rejects them).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from ..events.validate import lookup
from .spec import FilterSpec, read_filter

MISSING = object()  # marker: the key does not exist in the event

NEGATED = {"NumberNotIn", "NumberNotInRange", "StringNotIn", "StringNotBeginsWith",
           "StringNotEndsWith", "StringNotContains"}
MATCHES_MISSING = {"NumberNotIn", "NumberNotInRange", "StringNotIn", "IsNullOrUndefined"}


def raw_event(event: Any) -> dict:
    """Return the wire dict of an event given as a dict or an ``events.Event``."""
    if type(event) is dict:
        return event
    raw = getattr(event, "raw", None)
    if isinstance(raw, dict):
        return raw
    if isinstance(event, dict):
        return dict(event)
    raise TypeError(f"event: expected a wire event dict or an amlevents_kit.events.Event, got {type(event).__name__}")


def resolve(event: dict, key: str | tuple) -> Any:
    """Return the value at a filter key (``data.a.b``, ``Subject``…), or MISSING."""
    cur: Any = event
    for part in (key.split(".") if isinstance(key, str) else key):
        if type(cur) is not dict:
            return MISSING
        value = cur.get(part, MISSING)
        if value is MISSING:
            value = lookup(cur, part, MISSING)
            if value is MISSING:
                return MISSING
        cur = value
    return cur


def event_type_of(event: dict) -> Any:
    """Return ``eventType`` (Event Grid) or ``type`` (CloudEvents)."""
    value = event.get("eventType")
    if value is None:
        value = event.get("type")
        if value is None:
            value = lookup(event, "eventType", MISSING)
            if value is MISSING:
                value = lookup(event, "type", MISSING)
    return None if value is MISSING else value


def subject_of(event: dict) -> str:
    """Return the subject ("" when absent, as CloudEvents may omit it)."""
    value = event.get("subject")
    if value is None:
        value = lookup(event, "subject")
    return value if isinstance(value, str) else ""


# -- value coercion: return the comparable form, or None when the type does not fit ---------

def as_string(value: Any) -> str | None:
    """Lower-cased string, or None for non-strings."""
    return value.lower() if type(value) is str else None


def as_number(value: Any) -> float | None:
    """Float for JSON numbers and numeric strings, None otherwise (booleans are not numbers)."""
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if kind is str and "_" not in value:
        try:
            number = float(value)
        except ValueError:
            return None
        return None if math.isnan(number) else number
    return None


def as_bool(value: Any) -> bool | None:
    """The boolean itself, None for anything else."""
    return value if type(value) is bool else None


COERCE = {"numbers": as_number, "number": as_number, "ranges": as_number,
          "bool": as_bool, "strings": as_string}


def filter_numbers(values: list) -> list[float]:
    """The numeric filter values as floats (others ignored)."""
    return [as_number(v) for v in values if type(v) in (int, float)]


def filter_strings(values: list, *, drop_empty: bool) -> list[str]:
    """The string filter values, lower-cased (others, and empty ones if asked, ignored)."""
    return [v.lower() for v in values if type(v) is str and (v or not drop_empty)]


def positive_test(operator: str, clause_value: Any, clause_values: list | None) -> Callable[[Any], bool]:
    """Return the fast test of one comparable value for the positive form of ``operator``."""
    base = operator.replace("Not", "", 1) if operator in NEGATED else operator
    values = clause_values or []
    if base == "StringIn":
        pool = frozenset(filter_strings(values, drop_empty=False))
        return pool.__contains__
    if base in ("StringBeginsWith", "StringEndsWith", "StringContains"):
        parts = tuple(filter_strings(values, drop_empty=True))
        if not parts:
            return lambda x: False
        if base == "StringBeginsWith":
            return lambda x: x.startswith(parts)
        if base == "StringEndsWith":
            return lambda x: x.endswith(parts)
        return lambda x: any(p in x for p in parts)
    if base == "NumberIn":
        pool = frozenset(filter_numbers(values))
        return pool.__contains__
    if base == "NumberInRange":
        pairs = tuple((as_number(lo), as_number(hi)) for lo, hi in values)
        return lambda x: any(lo <= x <= hi for lo, hi in pairs)
    if base == "BoolEquals":
        wanted = clause_value
        return (lambda x: x is wanted) if type(wanted) is bool else (lambda x: False)
    limit = as_number(clause_value) if type(clause_value) in (int, float) else None
    if limit is None:
        return lambda x: False
    return {
        "NumberGreaterThan": lambda x: x > limit,
        "NumberGreaterThanOrEquals": lambda x: x >= limit,
        "NumberLessThan": lambda x: x < limit,
        "NumberLessThanOrEquals": lambda x: x <= limit,
    }[base]


def compile_clause(clause, arrays: bool) -> Callable[[dict], bool]:
    """Return ``f(event_dict) -> bool`` for one advanced filter."""
    parts = tuple(clause.key.split("."))
    op = clause.operator
    if op == "IsNullOrUndefined":
        return lambda ev: (v := resolve(ev, parts)) is MISSING or v is None
    if op == "IsNotNull":
        return lambda ev: (v := resolve(ev, parts)) is not MISSING and v is not None
    coerce = COERCE[clause.kind]
    test = positive_test(op, clause.value, clause.values)
    negated = op in NEGATED
    on_missing = op in MATCHES_MISSING

    def evaluate(ev: dict) -> bool:
        value = resolve(ev, parts)
        if value is MISSING or value is None:
            return on_missing
        if type(value) is list:
            if not arrays:
                return False
            items = [x for x in map(coerce, value) if x is not None]
            if not items:
                return False
            hit = any(map(test, items))
        else:
            x = coerce(value)
            if x is None:
                return False
            hit = test(x)
        return hit != negated

    return evaluate


def compile_filter(flt: Any) -> Callable[[Any], bool]:
    """Compile a filter once into a fast ``f(event) -> bool`` (event: wire dict or ``Event``).

    Accepts an azure-mgmt-eventgrid ``EventSubscriptionFilter``, its REST dict, or None.
    Raises ``FilterValidationError`` if the filter cannot be evaluated at all.
    """
    spec: FilterSpec = read_filter(flt)
    types = frozenset(spec.included_event_types) if spec.included_event_types else None
    sensitive = spec.is_subject_case_sensitive
    begins = spec.subject_begins_with or ""
    ends = spec.subject_ends_with or ""
    if not sensitive:
        begins, ends = begins.lower(), ends.lower()
    clauses = tuple(compile_clause(c, spec.enable_advanced_filtering_on_arrays) for c in spec.advanced_filters)
    check_subject = bool(begins or ends)

    def matches_event(event: Any) -> bool:
        ev = event if type(event) is dict else raw_event(event)
        if types is not None:
            event_type = event_type_of(ev)
            if type(event_type) is not str or event_type not in types:
                return False
        if check_subject:
            subject = subject_of(ev)
            if not sensitive:
                subject = subject.lower()
            if not subject.startswith(begins) or not subject.endswith(ends):
                return False
        for clause in clauses:
            if not clause(ev):
                return False
        return True

    return matches_event


def matches(event: Any, flt: Any) -> bool:
    """True if Event Grid would deliver ``event`` to a subscription with filter ``flt``.

    ``flt`` may be an azure-mgmt-eventgrid ``EventSubscriptionFilter`` (with any of the
    ``*AdvancedFilter`` classes), the REST JSON of one (``properties.filter``), or None.
    For many events use ``compile_filter`` once instead.
    """
    return compile_filter(flt)(event)
