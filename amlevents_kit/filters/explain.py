"""Say, clause by clause, why a filter does or does not let an event through.

This is a second, deliberately plain evaluation of the rules in ``engine`` (value by value,
with words); tests check it always agrees with the compiled engine.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from .engine import (COERCE, MATCHES_MISSING, MISSING, NEGATED, as_number, event_type_of,
                     raw_event, resolve, subject_of)
from ..events.models import json_type, preview
from ..events.validate import json_depth
from .spec import AdvancedClause, FilterSpec, problems, read_filter

_VERBS = {
    "StringIn": ("equals", "does not equal"),
    "StringBeginsWith": ("begins with", "does not begin with"),
    "StringEndsWith": ("ends with", "does not end with"),
    "StringContains": ("contains", "does not contain"),
    "NumberIn": ("equals", "does not equal"),
    "NumberInRange": ("is in", "is not in"),
    "NumberGreaterThan": ("is greater than", "is not greater than"),
    "NumberGreaterThanOrEquals": ("is at least", "is less than"),
    "NumberLessThan": ("is less than", "is not less than"),
    "NumberLessThanOrEquals": ("is at most", "is greater than"),
    "BoolEquals": ("equals", "does not equal"),
}
_KIND_WORDS = {"numbers": "numbers", "number": "numbers", "ranges": "numbers", "bool": "booleans",
               "strings": "strings"}


@dataclass
class ClauseResult:
    """One part of a filter: where it is, what it tests, its verdict and the reason in words."""

    where: str
    test: str
    matched: bool
    reason: str


@dataclass
class Explanation:
    """The verdict of a whole filter for one event, with every clause explained."""

    matched: bool
    clauses: list[ClauseResult] = field(default_factory=list)
    #: What Azure would refuse in this filter (``field: message``): such a subscription is never created.
    rejected: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.matched

    def __str__(self) -> str:
        head = "MATCH: the event is delivered" if self.matched else "NO MATCH: the event is not delivered"
        if not self.clauses:
            head += " (the filter is empty)"
        lines = [head]
        lines += [f"  ! Azure rejects this filter, so the subscription would not exist: {r}" for r in self.rejected]
        for c in self.clauses:
            lines.append(f"  {'✓' if c.matched else '✗'} {c.where}: {c.reason}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        color = "#1a7f37" if self.matched else "#cf222e"
        verdict = "MATCH — delivered" if self.matched else "NO MATCH — not delivered"
        rows = "".join(
            f"<tr><td>{'✓' if c.matched else '✗'}</td><td><code>{html.escape(c.where)}</code></td>"
            f"<td><code>{html.escape(c.test)}</code></td><td>{html.escape(c.reason)}</td></tr>"
            for c in self.clauses
        )
        rejected = "".join(f"<div style='color:#9a6700'>⚠ Azure rejects this filter, so the subscription would "
                           f"not exist: {html.escape(r)}</div>" for r in self.rejected)
        return (
            f"<div><b style='color:{color}'>{verdict}</b>{rejected}"
            "<table><thead><tr><th></th><th>clause</th><th>test</th><th>why</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>"
        )


def _hit(base: str, x: Any, v: Any) -> bool:
    """Compare one comparable event value with one filter value (positive operator form)."""
    if base == "StringIn":
        return x == v.lower()
    if base == "StringBeginsWith":
        return bool(v) and x.startswith(v.lower())
    if base == "StringEndsWith":
        return bool(v) and x.endswith(v.lower())
    if base == "StringContains":
        return bool(v) and v.lower() in x
    if base == "NumberInRange":
        return as_number(v[0]) <= x <= as_number(v[1])
    if base == "BoolEquals":
        return x is v
    v = as_number(v)
    return {"NumberIn": x == v, "NumberGreaterThan": x > v, "NumberGreaterThanOrEquals": x >= v,
            "NumberLessThan": x < v, "NumberLessThanOrEquals": x <= v}[base]


def _usable(kind: str, values: list) -> list:
    """Filter values of the operator's type (others are ignored, as by the engine)."""
    if kind == "strings":
        return [v for v in values if type(v) is str]
    if kind == "bool":
        return [v for v in values if type(v) is bool]
    if kind == "ranges":
        return list(values)
    return [v for v in values if type(v) in (int, float)]


def _repr(value: Any) -> str:
    """repr() of filter values; shortened when nested over 6 levels (repr would recurse on 10k levels)."""
    return repr(value) if json_depth(value) <= 6 else preview(value, 200)


def _show(values: list, single: bool, c: AdvancedClause | None = None) -> str:
    """Render filter values for a sentence (and say so when the given ones are of the wrong type)."""
    given = ([c.value] if single else list(c.values or [])) if c is not None else []
    if not values and any(v is not None for v in given):
        shown = _repr(given[0] if single else given)
        return f"(no usable value: {shown} is not {_KIND_WORDS[c.kind]}, and Azure rejects such a filter)"
    if single:
        return _repr(values[0]) if values else "(no value)"
    if not values:
        return "any of [] (no values)"
    return _repr(values[0]) if len(values) == 1 else f"any of {_repr(values)}"


def _explain_clause(ev: dict, c: AdvancedClause, arrays: bool) -> ClauseResult:
    """Evaluate one advanced filter value by value and word the result."""
    op, key = c.operator, c.key
    single = c.kind in ("number", "bool")
    shown = c.value if single else c.values
    test = f"{op} {key}" + ("" if c.kind == "none" else f" {_repr(shown)}")
    where = f"advancedFilters[{c.index}]"
    value = resolve(ev, key)
    absent = "key not found" if value is MISSING else "null (treated like a missing key)"
    if op in ("IsNullOrUndefined", "IsNotNull"):
        is_null = value is MISSING or value is None
        ok = is_null if op == "IsNullOrUndefined" else not is_null
        reason = f"{key}: {absent}" if is_null else f"{key} = {preview(value, 80)} is not null"
        return ClauseResult(where, test, ok, reason)
    if value is MISSING or value is None:
        ok = op in MATCHES_MISSING
        return ClauseResult(where, test, ok, f"{key}: {absent}; {op} {'matches' if ok else 'never matches'} a missing key")
    base = op.replace("Not", "", 1) if op in NEGATED else op
    negated = op in NEGATED
    verb, verb_not = _VERBS[base]
    coerce = COERCE[c.kind]
    values = _usable(c.kind, [c.value] if single else (c.values or []))
    if type(value) is list:
        if not arrays:
            return ClauseResult(where, test, False, f"{key} is an array; set enableAdvancedFilteringOnArrays to compare its elements")
        items = [(item, coerce(item)) for item in value]
        items = [(item, x) for item, x in items if x is not None]
        if not items:
            return ClauseResult(where, test, False, f"{key} has no {_KIND_WORDS[c.kind]} among its elements {preview(value, 80)}")
        hits = [(item, v) for item, x in items for v in values if _hit(base, x, v)]
        subject = lambda item: f"element {preview(item, 60)} of {key}"  # noqa: E731
        miss = f"no element of {key} {verb} {_show(values, single, c)}"
    else:
        x = coerce(value)
        if x is None:
            return ClauseResult(where, test, False, f"{key} = {preview(value, 60)} is {json_type(value)}; {op} compares {_KIND_WORDS[c.kind]}")
        hits = [(value, v) for v in values if _hit(base, x, v)]
        subject = lambda item: f"{key} = {preview(item, 60)}"  # noqa: E731
        miss = f"{key} = {preview(value, 60)} {verb_not} {_show(values, single, c)}"
    case = " (ignoring case)" if c.kind == "strings" else ""
    if hits:
        item, v = hits[0]
        said = f"{subject(item)} {verb} {v!r}{case}"
        if negated:
            return ClauseResult(where, test, False, f"{said}, which {op} excludes")
        return ClauseResult(where, test, True, said)
    return ClauseResult(where, test, negated, miss + case)


def explain(event: Any, flt: Any) -> "Explanation":
    """Return an ``Explanation``: the verdict of ``flt`` for ``event`` and every clause's reason.

    ``flt`` is an ``EventSubscriptionFilter`` model, its REST dict, or None; ``event`` a wire
    dict or an ``events.Event``. Clauses after a failing one are still evaluated and listed.
    """
    ev = raw_event(event)
    spec: FilterSpec = read_filter(flt)
    out: list[ClauseResult] = []
    if spec.included_event_types:
        et = event_type_of(ev)
        ok = et in spec.included_event_types
        if ok:
            reason = f"event type {et!r} is listed"
        else:
            reason = f"event type {et!r} is not in {spec.included_event_types!r}"
            near = [t for t in spec.included_event_types if isinstance(et, str) and t.lower() == et.lower()]
            if near:
                reason += f" ({near[0]!r} differs only in casing; this match is exact)"
        out.append(ClauseResult("includedEventTypes", f"eventType in {spec.included_event_types!r}", ok, reason))
    sensitive = spec.is_subject_case_sensitive
    case = "" if sensitive else " (ignoring case)"
    subject = subject_of(ev)
    for part, wanted, verbs, check in (
        ("subjectBeginsWith", spec.subject_begins_with, ("begins with", "does not begin with"), str.startswith),
        ("subjectEndsWith", spec.subject_ends_with, ("ends with", "does not end with"), str.endswith),
    ):
        if not wanted:
            continue
        ok = check(subject, wanted) if sensitive else check(subject.lower(), wanted.lower())
        out.append(ClauseResult(part, f"subject {verbs[0]} {wanted!r}", ok,
                                f"subject {subject!r} {verbs[0 if ok else 1]} {wanted!r}{case}"))
    for clause in spec.advanced_filters:
        out.append(_explain_clause(ev, clause, spec.enable_advanced_filtering_on_arrays))
    return Explanation(all(c.matched for c in out), out, [f"{f}: {m}" for f, m in problems(spec)])
