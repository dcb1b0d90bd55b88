"""The filter engine against the truth tables of fixtures/filters/CASES.md, read at test time.

CASES.md restates Azure's documented rules (§1) and the edge cases of a local simulator
(pm7y/AzureEventGridSimulator, §2-3). Where the simulator departs from Azure's documents, or
where our documented choice differs (see ``amlevents_kit.filters.engine``), the expected value
is overridden below with the reason, never silently.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from amlevents_kit.filters import OPERATORS, compile_filter, explain

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CASES = SHARED / "fixtures" / "filters" / "CASES.md"

pytestmark = pytest.mark.skipif(not CASES.exists(), reason="../shared fixtures are not beside the checkout")

BIG = {"2^64-1": str(2**64 - 1), "2^63-1": str(2**63 - 1)}


def _section(text: str, title: str) -> str:
    """Return the text of the markdown section whose heading starts with ``title``."""
    start = text.index(title)
    nxt = re.search(r"\n#{2,3} ", text[start + len(title):])
    return text[start: start + len(title) + (nxt.start() if nxt else len(text))]


def _rows(section: str) -> list[list[str]]:
    """Table rows of a section (header and separator dropped), cells stripped."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in section.splitlines() if line.startswith("|")]
    return rows[2:]


def _alternatives(cell: str) -> list:
    """Parse a 'Filter value(s)' cell: alternatives split by ' / ' or ' or ', each JSON-ish."""
    cell = re.sub(r"\s*\(empty\)", "", cell)
    for k, v in BIG.items():
        cell = cell.replace(k, v)
    return [json.loads(part) for part in re.split(r" / | or ", cell)]


def _filter(op: str, key: str, alt) -> dict:
    """Build the REST form of one advanced filter from a table alternative."""
    kind = OPERATORS[op]
    item = {"operatorType": op, "key": key}
    if kind in ("numbers", "strings", "ranges"):
        item["values"] = alt if isinstance(alt, list) or alt is None else [alt]
    else:
        item["value"] = alt
    return {"advancedFilters": [item]}


def _expected(cell: str) -> bool:
    """'match …' -> True, 'no match …' -> False (bold marks are ignored)."""
    cell = cell.strip("* ")
    assert cell.startswith(("match", "no match")), cell
    return cell.startswith("match")


SIM_EVENT = {
    "id": "EventId", "topic": "THE_EVENT_TOPIC", "subject": "TheEventSubject",
    "eventType": "this.is.a.test.event.type", "eventTime": "2024-01-01T00:00:00Z",
    "dataVersion": "5.0", "metadataVersion": "2.3.4",
    "data": {"NumberValue": 1, "IsTrue": True, "Name": "StringValue", "DoubleValue": 0.12345,
             "NumberMaxValue": 2**64 - 1, "SubObject": {"Id": 1, "Name": "Test"}},
}

# (key, operator, filter value as written) -> (our verdict, why it differs from the table)
OVERRIDES = {
    ("Data.NumberValue", "NumberNotIn", '[0, 2, 3.5, "stringValue", true]'): (
        True, "Azure's doc: entries of another type are ignored, so 1 is in none of [0, 2, 3.5] "
              "(the table itself flags the simulator's 'no match' as a quirk)"),
}


def _section2_cases():
    """Yield (id, key, op, alternative, expected) for every row of CASES.md §2.1-2.3."""
    text = CASES.read_text(encoding="utf-8")
    for title, key_col in (("### 2.1 Id", None), ("### 2.2 ", 0), ("### 2.3 Data fields", 0)):
        for row in _rows(_section(text, title)):
            if key_col is None:
                key, (op, values, expected) = "Id", row
            else:
                key, op, values, expected = row
                key = re.sub(r"\s*\(.*\)$", "", key)
            for alt in _alternatives(values):
                want = _expected(expected)
                override = OVERRIDES.get((key, op, values))
                if override:
                    want = override[0]
                yield pytest.param(key, op, alt, want, id=f"{key}-{op}-{json.dumps(alt)}")


@pytest.mark.parametrize("key,op,alt,want", list(_section2_cases()) if CASES.exists() else [])
def test_simulator_fixed_event_table(key, op, alt, want):
    flt = _filter(op, key, alt)
    assert compile_filter(flt)(SIM_EVENT) is want
    assert explain(SIM_EVENT, flt).matched is want


def test_section2_table_was_read():
    # Guards against a silently empty parametrisation if CASES.md changes shape.
    assert len(list(_section2_cases())) >= 140


@pytest.mark.parametrize("key", ["EventId", "Source", "EventTypeVersion"])
@pytest.mark.parametrize("op,values", [("StringIn", ["x"]), ("StringContains", ["e"]),
                                       ("StringBeginsWith", ["t"]), ("NumberIn", [1])])
def test_cloudevent_only_keys_do_not_exist_on_an_eventgrid_event(key, op, values):
    # CASES §2.4. (NotIn operators are left out: Azure documents that they match a missing key.)
    assert compile_filter(_filter(op, key, values))(SIM_EVENT) is False


def test_scalar_data_section_2_5():
    event = dict(SIM_EVENT, data=1)
    assert compile_filter(_filter("NumberIn", "Data", [1]))(event)
    both = {"advancedFilters": [
        {"operatorType": "NumberGreaterThanOrEquals", "key": "Data", "value": 1},
        {"operatorType": "NumberLessThanOrEquals", "key": "Data", "value": 1}]}
    assert compile_filter(both)(event)
    single = {"advancedFilters": [{"operatorType": "NumberIn", "key": "Data", "value": 1}]}
    assert compile_filter(single)(event) is False


# §3: the operator × value-shape truth table.
TRUTH_EVENT_DATA = {"IntValue": 5, "NumericString": "5", "Text": "Hello", "BoolValue": True,
                    "NullValue": None, "Numbers": [1, 5], "Strings": ["Hello", "World"]}
COLUMNS = [("Missing", "Data.MissingValue", False), ("null", "Data.NullValue", False),
           ("5", "Data.IntValue", False), ('"5"', "Data.NumericString", False),
           ('"Hello"', "Data.Text", False), ("true", "Data.BoolValue", False),
           ("[1,5]", "Data.Numbers", False), ("[1,5] +arr", "Data.Numbers", True),
           ('["Hello","World"]', "Data.Strings", False), ('["Hello","World"] +arr', "Data.Strings", True)]

# Unstarred cells where our documented choices differ from the simulator (engine docstring).
TRUTH_OVERRIDES = {
    ("NNotIn", "null"): (True, "null counts as a missing key, and NumberNotIn matches a missing key"),
    ("NNotInR", "null"): (True, "null counts as a missing key; NumberNotInRange is treated like NumberNotIn"),
    ("SNotIn", "[1,5]"): (False, "an array without enableAdvancedFilteringOnArrays is a value of the wrong type"),
    ("SNotIn", '["Hello","World"]'): (False, "an array without enableAdvancedFilteringOnArrays is a value of the wrong type"),
}


def _truth_filters(text: str) -> dict:
    """Read the '- NGT: NumberGreaterThan 4' bullets of §3 into REST advanced filters."""
    out = {}
    for name, op, rest in re.findall(r"^- (\w+): (\w+) ?(.*)$", _section(text, "## 3."), re.M):
        if op not in OPERATORS:
            continue
        alt = json.loads(rest) if rest else None
        out[name] = (op, alt)
    return out


def _truth_cases():
    """Yield (filter name, column, op, alt, key, arrays, expected) for every cell of §3."""
    text = CASES.read_text(encoding="utf-8")
    section = _section(text, "## 3.")
    filters = _truth_filters(text)
    table = [row for row in _rows(section) if row and row[0] in filters]
    for row in table:
        name = row[0]
        op, alt = filters[name]
        for (label, key, arrays), cell in zip(COLUMNS, row[1:]):
            starred = cell.endswith("*")
            want = cell.startswith("Y")
            why = ""
            if starred:
                want, why = not want, "the table marks the simulator's answer as a quirk"
            if (name, label) in TRUTH_OVERRIDES:
                want, why = TRUTH_OVERRIDES[(name, label)]
            yield pytest.param(name, op, alt, key, arrays, want, id=f"{name}-{label}")


@pytest.mark.parametrize("name,op,alt,key,arrays,want", list(_truth_cases()) if CASES.exists() else [])
def test_operator_value_shape_truth_table(name, op, alt, key, arrays, want):
    event = dict(SIM_EVENT, data=TRUTH_EVENT_DATA)
    flt = _filter(op, key, alt) if op not in ("IsNullOrUndefined", "IsNotNull") else {
        "advancedFilters": [{"operatorType": op, "key": key}]}
    flt["enableAdvancedFilteringOnArrays"] = arrays
    assert compile_filter(flt)(event) is want
    assert explain(event, flt).matched is want


def test_truth_table_was_read():
    assert len(list(_truth_cases())) == 20 * 10
