"""Property tests: operator pairs that must be complements, and explain() agreeing with the engine."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from azure.mgmt.eventgrid import models as m

from amlevents_kit.filters import OPERATORS, compile_filter, explain

common = settings(max_examples=150, deadline=None)

text = st.text(alphabet="aAbB5.é", max_size=4)
number = st.one_of(st.integers(-5, 5), st.floats(-5, 5, allow_nan=False))
scalar = st.one_of(st.none(), st.booleans(), number, text, st.just("5"))
value = st.one_of(scalar, st.lists(scalar, max_size=3))
MISSING = object()
KEYS = ["data.a", "data.b.c", "data.missing", "Data.A", "subject"]


def _event(a, c):
    data = {"b": {} if c is MISSING else {"c": c}}
    if a is not MISSING:
        data["a"] = a
    return {"id": "1", "topic": "/subscriptions/x", "subject": "models/m:1", "eventType": "T",
            "eventTime": "2024-01-01T00:00:00Z", "data": data, "dataVersion": "2", "metadataVersion": "1"}


events_st = st.builds(_event, st.one_of(st.just(MISSING), value), st.one_of(st.just(MISSING), value))


def _one(op, key, values=None, value=None):
    kind = OPERATORS[op]
    item = {"operatorType": op, "key": key}
    if kind in ("numbers", "strings", "ranges"):
        item["values"] = values
    elif kind != "none":
        item["value"] = value
    return item


def _run(op, key, event, arrays, **kw):
    return compile_filter({"advancedFilters": [_one(op, key, **kw)], "enableAdvancedFilteringOnArrays": arrays})(event)


def _kind_of(event, key):
    """'missing', 'null', 'str', 'num', 'bool', 'list' or 'other' for the value at data.a."""
    v = event["data"].get("a", MISSING)
    if v is MISSING:
        return "missing"
    if v is None:
        return "null"
    return {str: "str", bool: "bool", int: "num", float: "num", list: "list"}.get(type(v), "other")


@common
@given(events_st, st.lists(text, min_size=1, max_size=3), st.booleans())
def test_string_in_and_not_in_are_complements_for_strings_and_missing_keys(event, values, arrays):
    if _kind_of(event, "data.a") in ("str", "missing", "null"):
        assert _run("StringIn", "data.a", event, arrays, values=values) != _run("StringNotIn", "data.a", event, arrays, values=values)


@common
@given(events_st, st.lists(number, min_size=1, max_size=3), st.booleans())
def test_number_in_and_not_in_are_complements_for_numbers_and_missing_keys(event, values, arrays):
    kind = _kind_of(event, "data.a")
    a = event["data"].get("a")
    numeric = kind == "num" or (kind == "str" and a in ("5",))
    if numeric or kind in ("missing", "null"):
        assert _run("NumberIn", "data.a", event, arrays, values=values) != _run("NumberNotIn", "data.a", event, arrays, values=values)
        ranges = [[v, v + 1] for v in values]
        assert _run("NumberInRange", "data.a", event, arrays, values=ranges) != _run("NumberNotInRange", "data.a", event, arrays, values=ranges)


@common
@given(events_st, st.lists(text.filter(bool), min_size=1, max_size=3),
       st.sampled_from(["Contains", "BeginsWith", "EndsWith"]))
def test_string_positive_and_negated_are_complements_on_present_strings(event, values, op):
    if _kind_of(event, "data.a") == "str":
        assert _run(f"String{op}", "data.a", event, False, values=values) != _run(f"StringNot{op}", "data.a", event, False, values=values)
    elif _kind_of(event, "data.a") == "missing":
        # Azure documents that neither form matches a missing key.
        assert not _run(f"String{op}", "data.a", event, False, values=values)
        assert not _run(f"StringNot{op}", "data.a", event, False, values=values)


@common
@given(events_st, st.sampled_from(KEYS), st.booleans())
def test_null_checks_are_complements(event, key, arrays):
    assert _run("IsNullOrUndefined", key, event, arrays) != _run("IsNotNull", key, event, arrays)


@common
@given(events_st, number)
def test_greater_than_and_less_or_equal_are_complements_for_numbers(event, limit):
    if _kind_of(event, "data.a") == "num":
        assert _run("NumberGreaterThan", "data.a", event, False, value=limit) != _run("NumberLessThanOrEquals", "data.a", event, False, value=limit)
        assert _run("NumberLessThan", "data.a", event, False, value=limit) != _run("NumberGreaterThanOrEquals", "data.a", event, False, value=limit)


@common
@given(events_st, st.lists(text, min_size=1, max_size=3), st.sampled_from(["StringIn", "StringContains", "StringBeginsWith"]))
def test_string_values_ignore_case(event, values, op):
    lower = _run(op, "data.a", event, True, values=[v.lower() for v in values])
    upper = _run(op, "data.a", event, True, values=[v.upper() for v in values])
    assert lower == upper


def _clause_strategy():
    def build(op, key, strings, numbers, single, flag):
        kind = OPERATORS[op]
        if kind == "strings":
            return _one(op, key, values=strings)
        if kind == "numbers":
            return _one(op, key, values=numbers)
        if kind == "ranges":
            return _one(op, key, values=[[n, n + 2] for n in numbers])
        if kind == "bool":
            return _one(op, key, value=flag)
        return _one(op, key, value=single)

    return st.builds(build, st.sampled_from(sorted(OPERATORS)), st.sampled_from(KEYS),
                     st.lists(text, max_size=3), st.lists(number, max_size=3), number, st.booleans())


filters_st = st.fixed_dictionaries({
    "advancedFilters": st.lists(_clause_strategy(), max_size=3),
    "enableAdvancedFilteringOnArrays": st.booleans(),
    "subjectBeginsWith": st.sampled_from(["", "models/", "MODELS/M", "endpoints/"]),
    "includedEventTypes": st.sampled_from([None, ["T"], ["U"]]),
})


@common
@given(events_st, filters_st)
def test_explain_agrees_with_the_compiled_engine(event, flt):
    # explain() is a separate, value-by-value implementation: a differential test.
    result = explain(event, flt)
    assert result.matched == compile_filter(flt)(event)
    assert all(c.reason for c in result.clauses)


@common
@given(events_st, filters_st)
def test_and_across_filters(event, flt):
    whole = compile_filter(flt)(event)
    parts = [compile_filter(dict(flt, advancedFilters=[c]))(event) for c in flt["advancedFilters"]]
    bare = compile_filter(dict(flt, advancedFilters=[]))(event)
    assert whole == (bare and all(parts))


@common
@given(events_st, st.lists(text, min_size=2, max_size=4), st.sampled_from(["StringIn", "StringContains", "StringEndsWith"]))
def test_or_within_one_filter(event, values, op):
    together = _run(op, "data.a", event, True, values=values)
    assert together == any(_run(op, "data.a", event, True, values=[v]) for v in values)


@common
@given(events_st, filters_st)
def test_model_objects_and_rest_json_agree(event, flt):
    model = m.EventSubscriptionFilter.deserialize(
        {k: v for k, v in flt.items() if v is not None and k != "advancedFilters"}
        | {"advancedFilters": [c for c in flt["advancedFilters"] if not _has_non_float(c)]}
    )
    rest = model.serialize()
    assert compile_filter(model)(event) == compile_filter(rest)(event)


def _has_non_float(clause):
    """Model deserialisation coerces values; skip clauses where that would change them."""
    return clause.get("value") is None and OPERATORS[clause["operatorType"]] in ("number", "bool")
