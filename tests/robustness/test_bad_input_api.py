"""Hostile arguments to the kit's public Python API: a clear exception or a correct result, never a crash inside.

For every public builder, parser, filter function, drift function and ``connect()``, hypothesis
replaces one argument (or one field of a valid event, filter or frame) with a hostile value. The call
must either succeed (and what it returns must be valid: a built event passes ``validate_event``) or
raise a ``ValueError``/``TypeError`` whose message names the argument or field (``model_name`` or
``modelName``, ``filter.advancedFilters[0].key``, the column) — never an AttributeError, KeyError or
IndexError from deep inside, and never a ValueError that does not say which input is wrong.
The inputs tried per function are in pytest's terminal summary.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlevents_kit import connect, events, filters
from amlevents_kit import drift
from robust import TALLY, json_paths, with_value, without

API = settings(max_examples=int(os.environ.get("AMLEVENTS_ROBUST_API_EXAMPLES", "60")), deadline=None,
               database=None, derandomize=bool(os.environ.get("CI")), suppress_health_check=list(HealthCheck))
TOPIC = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/" \
        "Microsoft.MachineLearningServices/workspaces/ws"

HOSTILE = [None, 0, -1, 1.5, math.nan, math.inf, True, "", " ", "ü名前-🙂", "\ud800", "x" * 100_000, "\x00",
           [], [1, None], {}, {"a": {"b": [object()]}}, object(), b"bytes", datetime(2024, 1, 1), 10 ** 400,
           "../../etc", "2024-13-45T99:00:00Z"]
hostile_values = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=30), st.integers(), st.floats(),
                           st.lists(st.integers(), max_size=3),
                           st.dictionaries(st.text(max_size=5), st.integers() | st.none(), max_size=3))


def spellings(name: str) -> list[str]:
    """``model_name`` → model_name, modelName, ModelName (how a message may name the field)."""
    parts = name.strip("_").split("_")
    camel = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    return [name, camel, camel[:1].upper() + camel[1:]]


def verdict(call: Callable[[], Any], names: list[str]) -> tuple[str, Any]:
    """("ok", result) | ("clear", exc) | ("unclear"|"crash", text) for one call."""
    try:
        return "ok", call()
    except (ValueError, TypeError, FileNotFoundError) as exc:  # a missing file is a clear error too
        text = str(exc)
        wanted = [s for n in names for s in spellings(n)]
        if isinstance(exc, UnicodeError) or not any(w.lower() in text.lower() for w in wanted if w):
            return "unclear", f"{type(exc).__name__} naming none of {names}: {text[:200]}"
        return "clear", exc
    except RecursionError as exc:
        return "crash", f"RecursionError: {str(exc)[:120]}"
    except Exception as exc:  # AttributeError, KeyError, IndexError ... from inside
        return "crash", f"{type(exc).__name__}: {str(exc)[:200]}"


@dataclass(frozen=True)
class Known:
    """A bug in another area's API that these tests find; reproduced by a strict xfail test below."""

    area: str
    function: str  # regex on the Run name
    problem: str  # regex on the problem text
    reason: str


KNOWN: list[Known] = []


def known_bug(key: str, problem: str) -> Known | None:
    for k in KNOWN:
        if re.search(k.function, key.partition("::")[2]) and re.search(k.problem, problem):
            return k
    return None


class Run:
    """Collects one function's inputs and failures for the report and the assertion."""

    def __init__(self, name: str) -> None:
        self.key = "api::" + name
        self.failures: list[str] = []

    def check(self, call: Callable[[], Any], names: list[str], what: str,
              result_check: Callable[[Any], str | None] | None = None) -> None:
        kind, value = verdict(call, names)
        problem = None
        if kind in ("unclear", "crash"):
            problem = value
        elif kind == "ok" and result_check is not None:
            problem = result_check(value)
        known = problem is not None and known_bug(self.key, problem) is not None
        TALLY.record(self.key, 200 if kind == "ok" else 400 if kind == "clear" else 500,
                     [problem] if problem else [], what, known=int(known))
        if problem and not known:
            self.failures.append(f"{problem} <- {what}")

    def done(self) -> None:
        assert not self.failures, f"{len(self.failures)} bad outcomes:\n" + "\n".join(self.failures[:10])


def _valid_event(result: Any) -> str | None:
    try:
        events.validate_event(result)
    except Exception as exc:
        return f"the builder returned an event its own validate_event rejects: {exc}"[:300]
    try:
        json.dumps(result).encode("utf-8")
    except (TypeError, ValueError) as exc:
        return f"the builder returned an event that is not JSON: {exc}"[:300]
    return None


# -- amlevents_kit.events --------------------------------------------------------------------------------

BUILDERS: dict[str, tuple[Callable, dict]] = {
    "model_registered": (events.model_registered, dict(topic=TOPIC, model_name="churn", model_version="3",
                                                       model_tags={"stage": "prod"}, model_properties={})),
    "model_deployed": (events.model_deployed, dict(topic=TOPIC, service_name="svc", model_ids=["churn:3"],
                                                   service_compute_type="ACI", service_tags={})),
    "run_completed": (events.run_completed, dict(topic=TOPIC, experiment_id="e1", experiment_name="exp",
                                                 run_id="r1", run_type="azureml.scriptrun", run_tags={})),
    "run_status_changed": (events.run_status_changed, dict(topic=TOPIC, experiment_id="e1", experiment_name="exp",
                                                           run_id="r1", run_status="Failed")),
    "dataset_drift_detected": (events.dataset_drift_detected, dict(
        topic=TOPIC, data_drift_id="d1", data_drift_name="dd", run_id="r1", base_dataset_id="b",
        target_dataset_id="t", drift_coefficient=0.8, start_time="2024-01-01T00:00:00Z",
        end_time="2024-01-02T00:00:00Z")),
    "subscription_validation": (events.subscription_validation, dict(topic=TOPIC, validation_code="abc",
                                                                     validation_url="https://127.0.0.1/v")),
    "subscription_deleted": (events.subscription_deleted, dict(topic=TOPIC, event_subscription_id=TOPIC + "/x")),
}
ENVELOPE = ["schema", "id", "time", "subject", "data_version"]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_event_builders_reject_bad_arguments_clearly(name: str) -> None:
    fn, good = BUILDERS[name]
    run = Run(f"events.{name}")
    params = sorted(good) + ENVELOPE

    @API
    @given(st.sampled_from(params), hostile_values, st.sampled_from(["EventGridSchema", "CloudEventSchemaV1_0"]))
    def one(param: str, value: Any, schema: str) -> None:
        kwargs = {**good, "schema": schema, param: value}
        names = [param, "time" if param == "time" else param, "data", "event"]
        if param == "time":
            names.append("eventTime")
        run.check(lambda: fn(**kwargs), [param] + (["eventTime"] if param == "time" else []),
                  f"{name}({param}={value!r:.60})", _valid_event)

    one()
    run.done()


def test_build_event_rejects_bad_arguments_clearly() -> None:
    run = Run("events.build_event")
    good = dict(event_type=events.MODEL_REGISTERED, topic=TOPIC,
                data={"modelName": "m", "modelVersion": "1", "modelTags": {}, "modelProperties": {}})

    @API
    @given(st.sampled_from(["event_type", "topic", "data", "subject", "id", "time", "data_version", "schema"]),
           hostile_values)
    def one(param: str, value: Any) -> None:
        kwargs = {**good, param: value}
        event_type = kwargs.pop("event_type")
        names = [param, "eventType" if param == "event_type" else param]
        if param == "data":
            names += ["modelName", "modelVersion", "modelTags", "modelProperties"]
        run.check(lambda: events.build_event(event_type, **kwargs), names, f"build_event({param}={value!r:.60})",
                  _valid_event)

    one()
    run.done()


SAMPLES = [(t, s) for t in sorted(events.ALL_AML_EVENT_TYPES) for s in ("EventGridSchema", "CloudEventSchemaV1_0")]


@pytest.mark.parametrize("function", ["parse_events", "validate_event", "to_cloudevent_schema", "to_eventgrid_schema"])
def test_event_parsers_reject_bad_events_clearly(function: str) -> None:
    """A sample event with one field dropped or replaced; the error names that field."""
    run = Run(f"events.{function}")
    fn = getattr(events, function)

    @API
    @given(st.sampled_from(SAMPLES), st.data())
    def one(sample: tuple[str, str], data) -> None:
        event = events.sample_event(*sample)
        path = data.draw(st.sampled_from(json_paths(event)))
        drop = data.draw(st.booleans())
        value = None if drop else data.draw(hostile_values)
        try:
            bad = without(event, path) if drop else with_value(event, path, value)
        except TypeError:
            return
        field = str(path[-1]) if isinstance(path[-1], str) else str(path[-2])
        what = f"{function}({sample[0].rsplit('.', 1)[-1]} with {'.'.join(map(str, path))} " \
               f"{'dropped' if drop else '= ' + repr(value)[:40]})"
        run.check(lambda: fn(bad), [field, "data", "event"], what)

    one()
    run.done()


BODIES = [b"", b"\xff\xfe", b"{", b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
          b"null", b"5", b'"text"', b"[null]", b"[[]]", b'[{"eventType": 5}]', b'{"specversion": 1}',
          b'[{"id": "\\ud800", "eventType": "x", "subject": "s", "eventTime": "2024-01-01T00:00:00Z", "data": {}, '
          b'"dataVersion": "1"}]']


def test_parse_events_rejects_bad_bodies_clearly() -> None:
    run = Run("events.parse_events(body)")

    @API
    @given(st.one_of(st.sampled_from(BODIES), st.binary(max_size=100), st.sampled_from(HOSTILE)))
    def one(body: Any) -> None:
        run.check(lambda: events.parse_events(body), ["body", "event", "eventType", "id", "data", "["],
                  f"parse_events({body!r:.60})")

    one()
    run.done()


def test_sample_event_rejects_unknown_types_clearly() -> None:
    run = Run("events.sample_event")

    @API
    @given(hostile_values, st.one_of(st.sampled_from(["EventGridSchema", "CloudEventSchemaV1_0"]), hostile_values))
    def one(event_type: Any, schema: Any) -> None:
        run.check(lambda: events.sample_event(event_type, schema), ["event_type", "schema"],
                  f"sample_event({event_type!r:.40}, {schema!r:.40})")

    one()
    run.done()


# -- amlevents_kit.filters -------------------------------------------------------------------------------

GOOD_FILTER = {
    "includedEventTypes": [events.MODEL_REGISTERED],
    "subjectBeginsWith": "models/", "subjectEndsWith": "", "isSubjectCaseSensitive": False,
    "enableAdvancedFilteringOnArrays": True,
    "advancedFilters": [
        {"operatorType": "StringIn", "key": "data.modelTags.stage", "values": ["production"]},
        {"operatorType": "NumberGreaterThan", "key": "data.modelVersion", "value": 2},
        {"operatorType": "NumberInRange", "key": "data.x", "values": [[1, 5]]},
        {"operatorType": "IsNotNull", "key": "subject"},
    ],
}
OVER_LIMIT = [
    {"advancedFilters": [{"operatorType": "StringIn", "key": f"data.k{i}", "values": ["a"]} for i in range(26)]},
    {"advancedFilters": [{"operatorType": "StringIn", "key": "data.k", "values": [str(i) for i in range(26)]}]},
    {"advancedFilters": [{"operatorType": "StringIn", "key": "data." + ".".join("k" * 12), "values": ["a"]}]},
    {"advancedFilters": [{"operatorType": "StringContains", "key": "subject", "values": ["v" * 10_000]}]},
    {"advancedFilters": [{"operatorType": "NotAnOperator", "key": "subject", "values": ["a"]}]},
]
FILTER_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "validate_filter": filters.validate_filter,
    "compile_filter": lambda f: filters.compile_filter(f)(events.sample_event(events.MODEL_REGISTERED)),
    "matches": lambda f: filters.matches(events.sample_event(events.MODEL_REGISTERED), f),
    "explain": lambda f: str(filters.explain(events.sample_event(events.MODEL_REGISTERED), f)),
    "lint": filters.lint,
}


@pytest.mark.parametrize("function", sorted(FILTER_FUNCTIONS))
def test_filter_functions_reject_bad_filters_clearly(function: str) -> None:
    """A valid REST filter with one field dropped or replaced, or an over-limit filter; errors name the path."""
    run = Run(f"filters.{function}")
    fn = FILTER_FUNCTIONS[function]

    @API
    @given(st.data())
    def one(data) -> None:
        if data.draw(st.integers(0, 5)) == 0:
            flt = data.draw(st.sampled_from(OVER_LIMIT + [None, 5, "x", [], {"advancedFilters": None}]))
            what, names = f"{function}({json.dumps(flt)[:60] if not isinstance(flt, str) else flt!r})", ["filter"]
        else:
            path = data.draw(st.sampled_from(json_paths(GOOD_FILTER)))
            drop = data.draw(st.booleans())
            value = None if drop else data.draw(hostile_values)
            flt = without(GOOD_FILTER, path) if drop else with_value(GOOD_FILTER, path, value)
            field = next((str(p) for p in reversed(path) if isinstance(p, str)), "advancedFilters")
            names = [field, "filter"]
            what = f"{function}(filter with {'.'.join(map(str, path))} {'dropped' if drop else '= ' + repr(value)[:40]})"
        run.check(lambda: fn(flt), names, what)

    one()
    run.done()


def test_matches_rejects_bad_events_clearly() -> None:
    """A good filter against a hostile event: a bool, or a clear error naming the event."""
    run = Run("filters.matches(event)")

    @API
    @given(st.one_of(hostile_values, st.builds(lambda v: {"eventType": v, "subject": v, "data": v}, hostile_values)))
    def one(event: Any) -> None:
        def check(result: Any) -> str | None:
            return None if isinstance(result, bool) else f"matches returned {type(result).__name__}, not bool"
        run.check(lambda: filters.matches(event, GOOD_FILTER), ["event"], f"matches({event!r:.60})", check)

    one()
    run.done()


# -- amlevents_kit.drift -----------------------------------------------------------------------------------

def _frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """120 rows: enough that the 3-value text column stays categorical under Azure v1 typing (< 5% distinct)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n), "y": rng.integers(0, 5, size=n),
                         "c": rng.choice(["a", "b", "c"], size=n)})


BAD_COLUMNS: dict[str, Callable[[int], Any]] = {
    "all NaN": lambda n: [np.nan] * n,
    "infinities": lambda n: [np.inf, -np.inf] * (n // 2),
    "mixed objects": lambda n: ([1, "a", None, 2.5, (1, 2)] * n)[:n],
    "dicts": lambda n: [{"a": 1}] * n,
    "lists": lambda n: [[1, 2]] * n,
    "bytes": lambda n: [b"x"] * n,
    "complex": lambda n: [1 + 2j] * n,
    "datetimes": lambda n: pd.date_range("2024-01-01", periods=n),
    "one value": lambda n: [7.0] * n,
    "huge": lambda n: [1e308] * n,
    "bools": lambda n: [True, False] * (n // 2),
}


def test_profile_and_detect_reject_bad_frames_clearly() -> None:
    """One column replaced by hostile data, in the baseline or the target; the error names the column."""
    run = Run("drift.profile/detect(frame)")

    @settings(API, max_examples=max(10, API.max_examples // 2))
    @given(st.sampled_from(sorted(BAD_COLUMNS)), st.sampled_from(["x", "c", "new"]), st.sampled_from(["baseline", "target"]))
    def one(kind: str, column: str, side: str) -> None:
        base, target = _frame(), _frame(seed=1)
        frame = base if side == "baseline" else target
        frame[column] = BAD_COLUMNS[kind](len(frame))

        def call() -> Any:
            return drift.detect(drift.profile(base), target).table

        run.check(call, [column, side, "baseline", "target"], f"{side}[{column!r}] = {kind}")

    one()
    for what, make in {"empty frame": lambda: pd.DataFrame(), "no rows": lambda: _frame().iloc[:0],
                       "duplicate columns": lambda: pd.concat([_frame(), _frame()], axis=1),
                       "integer column names": lambda: _frame().set_axis([0, 1, 2], axis=1),
                       "a list": lambda: [[1, 2]], "None": lambda: None, "a Series": lambda: _frame()["x"],
                       "a numpy array": lambda: _frame()[["x"]].to_numpy()}.items():
        run.check(lambda: drift.profile(make()), ["baseline"], f"profile({what})")
        run.check(lambda: drift.detect(drift.profile(_frame()), make()).table, ["target"], f"detect(target={what})")
    run.done()


def test_drift_options_reject_bad_values_clearly() -> None:
    run = Run("drift.profile/detect(options)")
    prof = drift.profile(_frame())
    target = _frame(seed=1)

    @API
    @given(st.sampled_from(["metric", "threshold", "features", "rule", "share", "coefficient_threshold",
                            "subsample", "random_state", "grid", "sample_rows", "categorical", "name"]),
           hostile_values)
    def one(option: str, value: Any) -> None:
        if option in ("grid", "sample_rows", "categorical", "name"):
            call = lambda: drift.profile(_frame(), **{option: value})  # noqa: E731
        else:
            call = lambda: drift.detect(prof, target, **{option: value}).table  # noqa: E731
        names = [option] + (["numeric", "categorical", "x", "c", "y"] if option in ("metric", "threshold") else [])
        run.check(call, names, f"{option}={value!r:.60}")

    one()
    run.done()


def test_drift_to_event_data_rejects_bad_values_clearly() -> None:
    run = Run("drift.DriftResult.to_event_data")
    result = drift.detect(drift.profile(_frame()), _frame(seed=1))
    good = dict(data_drift_id="d", data_drift_name="n", run_id="r", base_dataset_id="b", target_dataset_id="t",
                start_time="2024-01-01T00:00:00Z", end_time=None)

    @API
    @given(st.sampled_from(sorted(good)), hostile_values)
    def one(param: str, value: Any) -> None:
        def check(data: Any) -> str | None:
            kind, value = verdict(lambda: build(data), ["x"])
            return None if kind == "ok" else f"the builder rejects what to_event_data returned: {value}"

        def build(data: Any) -> str | None:
            event = events.dataset_drift_detected(topic=TOPIC, **{
                "data_drift_id": data["dataDriftId"], "data_drift_name": data["dataDriftName"],
                "run_id": data["runId"], "base_dataset_id": data["baseDatasetId"],
                "target_dataset_id": data["targetDatasetId"], "drift_coefficient": data["driftCoefficient"],
                "start_time": data.get("startTime"), "end_time": data.get("endTime")})
            return _valid_event(event)
        run.check(lambda: result.to_event_data(**{**good, param: value}), [param], f"{param}={value!r:.60}", check)

    one()
    run.done()


# -- connect() -------------------------------------------------------------------------------------------------

def _closing(target: Any) -> Any:
    if getattr(target, "sandbox", None) is not None:
        target.sandbox.close()
    return target


def test_connect_rejects_bad_targets_clearly() -> None:
    run = Run("connect(target)")

    @API
    @given(hostile_values.filter(lambda v: not (isinstance(v, str) and v.strip().lower() in ("sandbox", "azure", ""))))
    def one(value: Any) -> None:
        run.check(lambda: _closing(connect(value)), ["target"], f"connect({value!r:.60})")

    one()
    run.done()


@pytest.mark.parametrize("kwargs, names", [
    ({"folder": 123}, ["folder"]),
    ({"folder": ["a"]}, ["folder"]),
    ({"folder": "bad\x00name"}, ["folder"]),
    ({"url": "https://127.0.0.1:1"}, ["ca_path"]),
    ({"url": 5, "ca_path": "x"}, ["url"]),
    ({"url": "not a url", "ca_path": "/nonexistent/ca.pem"}, ["url", "ca_path"]),
])
def test_connect_sandbox_options_reject_bad_values_clearly(kwargs: dict, names: list[str], tmp_path: Path,
                                                           monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # a relative folder must not land in the checkout
    run = Run("connect(sandbox options)")
    run.check(lambda: _closing(connect(**kwargs)), names, f"connect(**{kwargs!r:.60})")
    run.done()


@pytest.mark.parametrize("content, names", [
    (None, ["config"]),  # the path does not exist
    ("{not json", ["config", "json"]),
    ("[1, 2]", ["config", "subscription_id"]),
    ('"just a string"', ["config", "subscription_id"]),
    ("{}", ["subscription_id"]),
    ('{"subscription_id": 5, "resource_group": [], "workspace_name": {}}', ["subscription_id"]),
    ('{"subscription_id": "s", "resource_group": "r", "workspace_name": "w", "location": 5}', ["location"]),
    (b"\xff\xfe\x00", ["config"]),
])
def test_connect_azure_config_rejects_bad_files_clearly(content: Any, names: list[str], tmp_path: Path) -> None:
    """connect("azure", config=...) with a broken config.json; a fake credential (no real tenant needed)."""
    path = tmp_path / "config.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    run = Run("connect('azure', config)")
    run.check(lambda: connect("azure", config=path, credential=object()), names, f"config.json = {content!r:.60}")
    run.done()


# -- the known bugs, one deterministic reproduction each -------------------------------------------------

def _reason(area: str, problem: str) -> str:
    return next(k.reason for k in KNOWN if k.area == area and re.search(k.problem, problem))


def _clear(call: Callable[[], Any], names: list[str]) -> None:
    kind, value = verdict(call, names)
    assert kind in ("ok", "clear"), value


def test_parse_events_deep_json_is_an_event_validation_error() -> None:
    with pytest.raises(events.EventValidationError, match="body"):
        events.parse_events(b"[" * 10_000 + b"]" * 10_000)


def test_lone_surrogate_is_an_event_validation_error() -> None:
    event = events.sample_event(events.MODEL_REGISTERED)
    event["subject"] = "models/\ud800"
    with pytest.raises(events.EventValidationError, match="subject"):
        events.validate_event(event)


def test_model_deployed_model_ids_of_numbers_names_the_argument() -> None:
    _clear(lambda: events.model_deployed(topic=TOPIC, service_name="s", model_ids=[1, 2]), ["model_ids"])


@pytest.mark.parametrize("kwargs, name", [({"model_tags": {"a": object()}}, "model_tags"),
                                          ({"subject": datetime(2024, 1, 1)}, "subject")])
def test_builders_name_a_non_json_argument(kwargs: dict, name: str) -> None:
    _clear(lambda: events.model_registered(topic=TOPIC, model_name="m", model_version="1", **kwargs), [name])


def test_huge_model_version_is_an_event_validation_error() -> None:
    with pytest.raises(events.EventValidationError, match="modelVersion"):
        events.model_registered(topic=TOPIC, model_name="m", model_version=10 ** 400)


@pytest.mark.parametrize("function", ["validate_filter", "compile_filter", "matches", "explain"])
def test_filter_operator_type_of_the_wrong_type_names_the_field(function: str) -> None:
    flt = {"advancedFilters": [{"operatorType": ["StringIn"], "key": "subject", "values": ["a"]}]}
    with pytest.raises(filters.FilterValidationError, match="operatorType"):
        FILTER_FUNCTIONS[function](flt)


def test_drift_to_event_data_names_an_argument_with_a_lone_surrogate() -> None:
    result = drift.detect(drift.profile(_frame()), _frame(seed=1))
    with pytest.raises(drift.DriftError, match="run_id"):
        result.to_event_data(data_drift_id="d", data_drift_name="n", run_id="\ud800", base_dataset_id="b",
                             target_dataset_id="t")


@pytest.mark.parametrize("call, option", [
    (lambda: drift.detect(drift.profile(_frame()), _frame(seed=1), share=[1]), "share"),
    (lambda: drift.profile(_frame(), sample_rows=None), "sample_rows"),
    (lambda: drift.profile(_frame(), grid="many"), "grid"),
    (lambda: drift.profile(_frame(), categorical=5), "categorical"),
    (lambda: drift.profile(_frame(), random_state="seed"), "random_state"),
    (lambda: drift.detect(drift.profile(_frame()), _frame(seed=1), threshold=10 ** 400).table, "threshold"),
], ids=["share=[1]", "sample_rows=None", "grid='many'", "categorical=5", "random_state='seed'", "threshold=10**400"])
def test_drift_options_of_the_wrong_type_raise_drift_error(call: Callable[[], Any], option: str) -> None:
    with pytest.raises(drift.DriftError, match=option):
        call()


def test_drift_column_of_dicts_raises_drift_error() -> None:
    base = _frame()
    base["c"] = [{"a": 1}] * len(base)
    with pytest.raises(drift.DriftError, match="c"):
        drift.profile(base)


def test_every_known_bug_has_a_strict_xfail_test() -> None:
    import sys
    module = sys.modules[__name__]
    reasons = {m.kwargs["reason"] for name in dir(module) for m in getattr(getattr(module, name), "pytestmark", [])
               if m.name == "xfail" and m.kwargs.get("strict")}
    assert {k.reason for k in KNOWN} <= reasons
