"""Find what Azure rejects in a filter, and what makes a filter never (or always) match.

Errors: Azure refuses the subscription, or the filter can never let an AML event through.
Warnings: it works, but probably not as meant (casing of keys, partly impossible parts...).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from ..events.models import DATA_CLASSES
from ..events.types import ALL_AML_EVENT_TYPES, SUBJECT_TEMPLATES
from .engine import MATCHES_MISSING
from .spec import AdvancedClause, FilterSpec, FilterValidationError, problems, read_filter

# Envelope keys of the Event Grid schema (AML system events are published in it).
_EG_KEYS = {"id": "ID", "topic": "Topic", "subject": "Subject", "eventtype": "EventType",
            "dataversion": "DataVersion", "metadataversion": "MetadataVersion", "eventtime": "EventTime"}
_CE_ONLY = {"source": "Topic", "type": "EventType", "specversion": None, "time": "EventTime"}


@dataclass
class Finding:
    """One lint result: ``severity`` is "error" or "warning"; ``field`` the REST path."""

    severity: str
    message: str
    field: str = "filter"

    def __str__(self) -> str:
        return f"{self.severity}: {self.field}: {self.message}"


def _short(event_type: str) -> str:
    """``Microsoft.MachineLearningServices.ModelRegistered`` -> ``ModelRegistered``."""
    return event_type.rsplit(".", 1)[-1]


def _tokens(template: str) -> list[tuple[str, str]]:
    """Split a subject template into ("lit", text) and ("var", name) tokens."""
    out, rest = [], template
    while rest:
        head, brace, tail = rest.partition("{")
        if head:
            out.append(("lit", head))
        if not brace:
            break
        name, _, rest = tail.partition("}")
        out.append(("var", name))
    return out


def _can_prefix(text: str, tokens: list[tuple[str, str]]) -> bool:
    """True if ``text`` can begin some subject of the template (placeholders: 1+ chars, no '/')."""
    if not text:
        return True
    if not tokens:
        return False
    kind, lit = tokens[0]
    if kind == "lit":
        n = min(len(text), len(lit))
        if text[:n] != lit[:n]:
            return False
        return len(text) <= len(lit) or _can_prefix(text[len(lit):], tokens[1:])
    i = 0
    while i < len(text) and text[i] != "/":
        i += 1
        if _can_prefix(text[i:], tokens[1:]):
            return True
    return False


def subject_possible(event_type: str, *, begins: str = "", ends: str = "", case_sensitive: bool = False) -> bool:
    """True if some subject of ``event_type`` can begin with ``begins`` and end with ``ends``."""
    template = SUBJECT_TEMPLATES.get(event_type)
    if template is None:
        return True
    if not case_sensitive:
        template, begins, ends = template.lower(), begins.lower(), ends.lower()
    tokens = _tokens(template)
    reverse = [(k, v[::-1] if k == "lit" else v) for k, v in reversed(tokens)]
    return _can_prefix(begins, tokens) and _can_prefix(ends[::-1], reverse)


def _check_types(spec: FilterSpec, topic_types: list[str], out: list[Finding]) -> list[str]:
    """Check includedEventTypes; return the event types the subscription can actually receive."""
    if not spec.included_event_types:
        return list(topic_types)
    usable = []
    for i, name in enumerate(spec.included_event_types):
        where = f"filter.includedEventTypes[{i}]"
        if name in topic_types:
            usable.append(name)
            continue
        same = [t for t in topic_types if t.lower() == name.lower()]
        if same:
            out.append(Finding("error", f"{name!r} differs in casing from {same[0]!r}; event types match exactly, so it never matches", where))
            continue
        near = difflib.get_close_matches(name, topic_types, n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]!r}?" if near else f"; this topic publishes {', '.join(map(_short, topic_types))}"
        out.append(Finding("error", f"event type {name!r} does not exist for this topic{hint}", where))
    if not usable:
        out.append(Finding("error", "none of the listed event types can occur: the subscription never receives an event", "filter.includedEventTypes"))
    return usable


def _check_subject(spec: FilterSpec, types: list[str], out: list[Finding]) -> None:
    """Flag subject prefixes/suffixes impossible for the chosen event types."""
    begins, ends = spec.subject_begins_with or "", spec.subject_ends_with or ""
    for name, value in (("subjectBeginsWith", begins), ("subjectEndsWith", ends)):
        if "*" in value:
            out.append(Finding("warning", "subject filters have no wildcards; '*' is compared literally", f"filter.{name}"))
    if not (begins or ends) or not types:
        return
    templated = [t for t in types if t in SUBJECT_TEMPLATES]
    if not templated:
        return
    ok = [t for t in templated if subject_possible(t, begins=begins, ends=ends, case_sensitive=spec.is_subject_case_sensitive)]
    bad = [t for t in templated if t not in ok]
    if not bad:
        return
    field = "filter.subjectBeginsWith" if begins and not all(
        subject_possible(t, begins=begins, case_sensitive=spec.is_subject_case_sensitive) for t in bad) else "filter.subjectEndsWith"
    shapes = "; ".join(f"{_short(t)} subjects look like {SUBJECT_TEMPLATES[t]!r}" for t in bad)
    what = " and ".join(f"{n} {v!r}" for n, v in (("begins with", begins), ("ends with", ends)) if v)
    hint = " (AML subjects do not start with '/')" if begins.startswith("/") else ""
    if not ok:
        out.append(Finding("error", f"no subject {what} can occur, so this never matches: {shapes}{hint}", field))
    elif spec.included_event_types:
        out.append(Finding("warning", f"a subject that {what} is impossible for {', '.join(map(_short, bad))} ({shapes}); those events never match{hint}", field))


def _schema_fields(event_type: str) -> dict[str, Any]:
    """Wire key -> dataclass field metadata for a known event type."""
    return {f.metadata["key"]: f.metadata for f in DATA_CLASSES[event_type].fields()}


def _check_key(c: AdvancedClause, types: list[str], out: list[Finding]) -> None:
    """Flag keys that do not exist, differ in casing, or do not fit the operator."""
    where = f"{c.field}.key"
    parts = c.key.split(".")
    head = parts[0].lower()
    missing_matches = c.operator in MATCHES_MISSING
    never = "always matches (the key is never present)" if missing_matches else "never matches"
    if head in _EG_KEYS:
        if len(parts) > 1:
            out.append(Finding("error", f"{parts[0]!r} is a plain envelope field; {c.key!r} {never}", where))
        return
    if head in _CE_ONLY:
        alt = _CE_ONLY[head]
        use = f"; in that schema use {alt!r}" if alt else ""
        out.append(Finding("warning", f"{parts[0]!r} is a CloudEvents attribute, but AML events are published in the Event Grid schema{use}", where))
        return
    known = [t for t in types if t in DATA_CLASSES]
    if head != "data":
        keys = sorted({k for t in known for k in _schema_fields(t)})
        near = [k for k in keys if k.lower() == head]
        hint = f"; did you mean 'data.{'.'.join([near[0]] + parts[1:])}'?" if near else "; payload keys start with 'data.'"
        out.append(Finding("error", f"{parts[0]!r} is not an envelope field, so {c.key!r} {never}{hint}", where))
        return
    if len(parts) < 2 or not known:
        return
    sub = parts[1]
    exact = [t for t in known if sub in _schema_fields(t)]
    folded = [t for t in known if t not in exact and sub.lower() in {k.lower() for k in _schema_fields(t)}]
    if not exact and not folded:
        keys = sorted({k for t in known for k in _schema_fields(t)})
        near = difflib.get_close_matches(sub.lower(), [k.lower() for k in keys], n=1, cutoff=0.7)
        proper = next((k for k in keys if near and k.lower() == near[0]), None)
        hint = f"; did you mean 'data.{'.'.join([proper] + parts[2:])}'?" if proper else f"; keys: {', '.join(keys)}"
        severity = "warning" if missing_matches else "error"
        out.append(Finding(severity, f"no {'/'.join(map(_short, known))} event has data key {sub!r}, so this {never}{hint}", where))
        return
    if folded:
        spelled = next(k for k in _schema_fields(folded[0]) if k.lower() == sub.lower())
        out.append(Finding("warning", f"the service spells this key {spelled!r}, not {sub!r}; key-name case-sensitivity is not documented by Azure, so write 'data.{'.'.join([spelled] + parts[2:])}'", where))
    having = exact + folded
    lacking = [t for t in known if t not in having]
    if lacking and not missing_matches:
        out.append(Finding("warning", f"only {', '.join(map(_short, having))} events have data.{sub}; {', '.join(map(_short, lacking))} events never match", where))
    meta = next(m for k, m in _schema_fields(having[0]).items() if k.lower() == sub.lower())
    _check_kind(c, meta["kind"], parts, where, out)


def _check_kind(c: AdvancedClause, kind: str, parts: list[str], where: str, out: list[Finding]) -> None:
    """Flag operators that cannot apply to the schema type of the key."""
    if c.kind == "none":
        return
    if kind == "object":
        if len(parts) == 2:
            out.append(Finding("error", f"data.{parts[1]} is an object; {c.operator} compares single values, so it never matches (use data.{parts[1]}.<name>)", where))
        return
    if len(parts) > 2:
        out.append(Finding("error", f"data.{parts[1]} is not an object; {c.key!r} never matches", where))
        return
    if c.kind == "bool" and kind != "bool":
        word = {"nullable-string": "string", "datetime": "date-time string", "version": "string or number"}.get(kind, kind)
        out.append(Finding("error", f"data.{parts[1]} is a {word}; BoolEquals matches only true or false, so it "
                                    "never matches", where))
    elif kind == "version" and c.kind == "strings":
        out.append(Finding("warning", f"data.{parts[1]} may arrive as a number (Azure's own examples send 20); "
                                      f"{c.operator} compares strings only, so use NumberIn for those events", where))
    elif kind == "number" and c.kind == "strings":
        out.append(Finding("error", f"data.{parts[1]} is a number; {c.operator} compares strings, so it never matches", where))
    elif kind in ("string", "nullable-string", "datetime") and c.kind in ("numbers", "number", "ranges"):
        out.append(Finding("warning", f"data.{parts[1]} is a string; {c.operator} only matches if it holds a number", where))


def _check_values(c: AdvancedClause, out: list[Finding]) -> None:
    """Flag values that are ignored or make a clause empty."""
    if c.kind == "strings":
        for j, v in enumerate(c.values or []):
            if v == "" and c.operator not in ("StringIn", "StringNotIn"):
                out.append(Finding("warning", f"an empty string is ignored by {c.operator}", f"{c.field}.values[{j}]"))
            elif isinstance(v, str) and "*" in v:
                out.append(Finding("warning", "advanced filters have no wildcards; '*' is compared literally", f"{c.field}.values[{j}]"))
    if c.kind == "ranges":
        for j, (lo, hi) in enumerate(c.values or []):
            if lo > hi:
                out.append(Finding("warning", f"range [{lo}, {hi}] is empty (low > high)", f"{c.field}.values[{j}]"))


def lint(flt: Any, event_types: list[str] | None = None) -> list[Finding]:
    """Return the findings for a filter (model object, REST dict or None).

    ``event_types``: the event types the topic publishes (default: the five AML types).
    """
    if isinstance(event_types, str) or hasattr(event_types, "value"):  # one type given on its own
        event_types = [event_types]
    topic_types = [getattr(t, "value", t) for t in (event_types or ALL_AML_EVENT_TYPES)]
    if not all(isinstance(t, str) for t in topic_types):
        raise TypeError("event_types: expected a list of event type names (strings or SystemEventNames members)")
    try:
        spec = read_filter(flt)
    except FilterValidationError as exc:
        return [Finding("error", exc.detail, exc.field)]
    out = [Finding("error", message, field) for field, message in problems(spec)]
    types = _check_types(spec, topic_types, out)
    _check_subject(spec, types, out)
    for clause in spec.advanced_filters:
        _check_key(clause, types, out)
        _check_values(clause, out)
    return out
