"""Hostile requests at every sandbox route: never a 500, never a hang, always an ARM-shaped error.

Routes are read from ``sandbox.router.routes`` when the tests are collected, so a route added by any
provider is fuzzed too. The sandbox is seeded with something real behind every path (robust.seed_world:
a custom and a system topic with subscriptions, a factory with a pipeline run, a workflow with a run,
a connection, ML models, code, an endpoint with a deployment, a job). Three sweeps per route, each
drawn by hypothesis and tallied on its own:

- ``arm-body``: every route that reads a body, on its real path with the right query and headers, so the
  body is what gets judged: the body the route accepts (robust.VALID_BODIES) and the published OpenAPI
  examples (fixtures/arm), mutated one place at a time (dropped, null, wrong type, invalid enum or
  hostile string, MBs long, 10k levels deep), non-JSON bytes, wrong top-level types, over-limit filters,
  bodies over ARM's 4 MB;
- ``arm-path``: the real path with one or two named segments made up (a missing parent) or hostile
  (``..``, unicode, 5000 characters, empty), and the accepted body;
- ``arm-request``: the real path with no, odd or doubled api-version and odd query parameters, odd or
  missing headers and credentials, other and unknown methods, and hostile bodies on routes that read none.

Each call runs through ``sandbox.handle`` in a worker thread with a deadline. The inputs tried, their
statuses and the failures found per route are printed in pytest's terminal summary.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robust import (CALL_DEADLINE, FACTORY_ID, GROUP_VALUES, HOSTILE_VALUES, RG_ID, TALLY, TOPIC, TOPIC_ID, WS, build_url,
                    collection_of, encode_body, json_paths, load_seeds, problems_with, query_for, real_request,
                    real_values, route_key, seed_sandbox, seed_world, valid_body, valid_values, value_at,
                    with_value, without)

EXAMPLES = int(os.environ.get("AMLEVENTS_ROBUST_EXAMPLES", "24"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=bool(os.environ.get("CI")),
                suppress_health_check=list(HealthCheck))
SEEDS = load_seeds()
METHODS = ["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS", "PROPFIND", "TRACE", "BREW", "get"]
MB = 1024 * 1024
DEEP = 10_000
DEEP_MARK = "__robust_deep__"
NON_JSON = [b"{not json", b"\xff\xfe\x00garbage", b"<xml a='1'/>", b"{'single': 'quotes'}", b"[1, 2,]",
            b'{"a": 1} trailing', b"NaN", b"\x00" * 64, b'{"a": "\\ud800"}', b"\xef\xbb\xbf{}", b"--boundary\r\n"]
TOP_LEVEL = [[], "a string", 12345, True, None, 1.5e308, [{}], [[]]]
WRONG_TYPES = [12345, -1, 1.5e308, True, [], {}, "a string", [1, "two", None], {"nested": {"x": []}}]
BAD_STRINGS = ["NotAnAllowedValue", "", " ", "ü名前-🙂", "\ud800", "\x00", "a" * 1000, "${jndi:x}", "../../etc/passwd"]
ODD_API_VERSIONS = ["", "abc", "9999-99-99", "2025-02-15-preview", "1" * 300, "ü", "2025-02-15&x=1"]
ODD_QUERY = [("$top", "-1"), ("$top", "abc"), ("$top", "99999999999999999999999"), ("$top", "0"),
             ("$filter", "name eq 'x' or 1=1'"), ("$filter", "ü" * 50), ("$skipToken", "!!!"),
             ("$skiptoken", "a" * 2000), ("$expand", "everything"), ("timeout", "-5"), ("id", "../.."),
             ("token", "ü" * 10), ("sig", "x" * 5000), ("restype", "container"), ("comp", "list"),
             ("x", "&" * 100)]


def _dumps(value: Any) -> bytes:
    text = json.dumps(value)
    if DEEP_MARK in text:
        text = text.replace(f'"{DEEP_MARK}"', "[" * DEEP + "]" * DEEP)
    return text.encode("utf-8", "surrogatepass")


def _filters_over_limit(n_filters: int, n_values: int) -> list[dict]:
    return [{"operatorType": "StringIn", "key": f"data.k{i}", "values": [f"v{j}" for j in range(n_values)]}
            for i in range(n_filters)]


def body_seeds(route) -> list[tuple[Any, str]]:
    """What the body fuzzer starts from: the body the route accepts (most often), then the published examples."""
    valid = valid_body(route)
    out = [(valid, "the accepted body")] * 3 if valid is not None else []
    out += [(e, "a published example") for e in SEEDS.get(collection_of(route)) or []]
    return out or [({}, "{}")]


@st.composite
def bodies(draw, route) -> tuple[bytes, str]:
    """A request body for ``route`` and a short description of it."""
    seed, origin = draw(st.sampled_from(body_seeds(route)))
    writes = route.method in ("PUT", "PATCH", "POST")
    kinds = ["seed", "mutate", "mutate", "mutate", "mutate", "mutate", "non_json", "top_level", "deep", "empty",
             "huge_string", "huge_body", "filters"] if writes else ["empty", "empty", "empty", "seed", "non_json",
                                                                    "deep"]
    kind = draw(st.sampled_from(kinds))
    if kind == "seed" or isinstance(seed, bytes):
        return encode_body(seed) if isinstance(seed, bytes) else _dumps(seed), origin
    if kind == "empty":
        return b"", "an empty body"
    if kind == "non_json":
        raw = draw(st.one_of(st.sampled_from(NON_JSON), st.binary(max_size=200)))
        return raw, f"non-JSON {raw[:40]!r}"
    if kind == "top_level":
        value = draw(st.sampled_from(TOP_LEVEL))
        return json.dumps(value).encode(), f"top-level {type(value).__name__}"
    if kind == "deep":
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        inner = b"1" if opener.startswith("{") else b""
        return opener.encode() * DEEP + inner + closer.encode() * DEEP, f"{DEEP} levels of {opener}"
    if kind == "huge_body":
        return b'{"properties": {"description": "' + b"x" * (5 * MB) + b'"}}', "a 5 MB body"
    if kind == "filters":
        base = seed if isinstance(seed, dict) else {}
        props = copy.deepcopy(base.get("properties")) if isinstance(base.get("properties"), dict) else {}
        which = draw(st.sampled_from(["26 advanced filters", "26 values in one filter", "bad operatorType",
                                      "key 12 levels deep", "value of 10k characters", "numbers as strings"]))
        flt = {"26 advanced filters": _filters_over_limit(26, 1),
               "26 values in one filter": _filters_over_limit(1, 26),
               "bad operatorType": [{"operatorType": "StringSortOf", "key": "subject", "values": ["a"]}],
               "key 12 levels deep": [{"operatorType": "StringIn", "key": "data." + ".".join("k" * 12),
                                       "values": ["a"]}],
               "value of 10k characters": [{"operatorType": "StringContains", "key": "subject",
                                            "values": ["v" * 10_000]}],
               "numbers as strings": [{"operatorType": "NumberIn", "key": "data.x", "values": ["one", "2"]}],
               }[which]
        props.setdefault("filter", {})
        if not isinstance(props["filter"], dict):
            props["filter"] = {}
        props["filter"]["advancedFilters"] = flt
        return _dumps({**base, "properties": props}), f"{which} in {origin}"
    paths = json_paths(seed)
    if not paths:
        return _dumps(seed), f"{origin} (nothing to mutate)"
    path = draw(st.sampled_from(paths))
    where = ".".join(str(p) for p in path)
    if kind == "huge_string":
        size = draw(st.sampled_from([MB, 3 * MB]))
        return _dumps(with_value(seed, path, "h" * size)), f"{size // MB} MB string at {where} of {origin}"
    how = draw(st.sampled_from(["drop", "null", "wrong type", "wrong type", "bad string", "bad string", "deep"]))
    if how == "drop":
        return _dumps(without(seed, path)), f"{where} dropped from {origin}"
    if how == "null":
        return _dumps(with_value(seed, path, None)), f"{where} null in {origin}"
    if how == "deep":
        return _dumps(with_value(seed, path, DEEP_MARK)), f"{where} {DEEP} levels deep in {origin}"
    if how == "bad string":
        value = draw(st.sampled_from(BAD_STRINGS))
        return _dumps(with_value(seed, path, value)), f"{where} = {value[:20]!r} in {origin}"
    current = value_at(seed, path)
    value = draw(st.sampled_from([v for v in WRONG_TYPES if type(v) is not type(current)]))
    return (_dumps(with_value(seed, path, value)),
            f"{where} = {json.dumps(value)[:30]} (was {type(current).__name__}) in {origin}")


@st.composite
def hostile_paths(draw, route, world: dict) -> tuple[dict[str, str], str]:
    """The route's real names with one (sometimes two) named segments replaced: made-up or hostile."""
    values = real_values(route, world)
    names = sorted(route.regex.groupindex)
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=min(2, len(names)), unique=True))
    notes = []
    for name in chosen:
        made_up = [v for v in GROUP_VALUES.get(name, []) if v != values.get(name)] + ["rb-missing"]
        values[name] = draw(st.one_of(st.sampled_from(made_up), st.sampled_from(HOSTILE_VALUES),
                                      st.text(max_size=30)))
        notes.append(f"{name}={values[name][:24]!r}")
    return values, ", ".join(notes)


@st.composite
def odd_requests(draw, route, world: dict, keys: dict) -> tuple[str, str, dict, bytes, str]:
    """A call on the real path whose query, headers, method or (for a route that reads none) body are odd."""
    url, headers = real_request(route, world, keys)
    base, _, real_query = url.partition("?")
    query = [tuple(p.split("=", 1)) for p in real_query.split("&") if p] if real_query else []
    body, what = encode_body(valid_body(route)), "the accepted body" if valid_body(route) is not None else "no body"
    notes = []
    method = route.method
    odd = draw(st.sampled_from(["query", "query", "headers", "headers", "method", "body", "all"]))
    if odd in ("query", "all"):
        q = draw(st.sampled_from(["none", "odd", "double", "junk"]))
        if q == "none":
            query = []
        elif q == "odd":
            query = [("api-version", draw(st.sampled_from(ODD_API_VERSIONS)))]
        elif q == "double":
            query = query + [("api-version", "1999-01-01"), ("API-VERSION", "")]
        else:
            query = query + [draw(st.sampled_from(ODD_QUERY))]
        notes.append(f"query {q}: {query}"[:80])
    if odd in ("method", "all"):
        method = draw(st.sampled_from([m for m in METHODS if m != route.method]))
        notes.append(f"method {method}")
    if odd in ("headers", "all"):
        h = draw(st.sampled_from(["none", "text", "auth", "huge", "unicode", "sas"]))
        if h == "none":
            headers = {}
        elif h == "text":
            headers["Content-Type"] = "text/plain; charset=latin-1"
        elif h == "auth":
            headers["Authorization"] = draw(st.sampled_from(["Bearer", "Basic ü", "Bearer " + "x" * 9000, ""]))
        elif h == "huge":
            headers["x-ms-client-request-id"] = "r" * 65536
        elif h == "unicode":
            headers["x-ms-client-request-id"] = "ü名前\ud800"
            headers["If-Match"] = "\x00*"
        else:
            headers.pop("aeg-sas-key", None)
            headers[draw(st.sampled_from(["aeg-sas-key", "aeg-sas-token", "Authorization"]))] = draw(st.sampled_from(
                ["", "wrong", "ü", "r=ü&e=x&s=y", "SharedAccessSignature r=a&e=b&s=c", "r=&e=&s=", "=&=&="]))
        notes.append(f"headers {h}")
    if odd in ("body", "all"):
        body, what = draw(bodies(route))
    target = base + ("?" + "&".join(f"{quote(k, safe='$-')}={quote(v, safe='-:%')}" for k, v in query)
                     if query else "")
    return method, target, headers, body, "; ".join([what, *notes])


@dataclass(frozen=True)
class Known:
    """A bug in another area's code that the sweep finds: reproduced by a strict xfail test below.

    The sweep does not fail on a failure whose route and problem text match; once the owner fixes
    the bug its xfail test passes, fails as strict, and this entry goes.
    """

    area: str
    route: str  # regex on route_key()
    problem: str  # regex on the problem text
    reason: str


KNOWN: list[Known] = []  # none left: the last two (Data Factory children, API connections) are fixed


def known_bug(key: str, problem: str) -> Known | None:
    for k in KNOWN:
        if re.search(k.route, key.partition("::")[2]) and re.search(k.problem, problem):
            return k
    return None


def _sweep(seeded, key: str, strategy) -> None:
    """Run ``strategy``'s calls through the deadline caller; tally them; fail on any new problem."""
    failures: list[str] = []

    @FUZZ
    @given(strategy)
    def one(req) -> None:
        method, url, headers, body, what = req
        result = seeded.caller(method, url, headers, body)
        if result is None:
            problems = [f"no answer within {seeded.caller.deadline:.0f} s (a hang)"]
            status = None
        else:
            status, out_headers, data = result
            problems = problems_with(status, out_headers, data, method)
        where = f"{method} {url[:160]} [{what}]"
        new = [p for p in problems if known_bug(key, p) is None]
        TALLY.record(key, status, problems, where, known=len(problems) - len(new))
        if new:
            failures.append(f"{'; '.join(new)} <- {where}")

    one()
    assert not failures, f"{len(failures)} bad answers on {key}:\n" + "\n".join(failures[:10])


def _reseed(seeded) -> tuple[dict, dict]:
    """Put back what an earlier route deleted, unregistered or regenerated: (topic keys, world names)."""
    keys = seed_sandbox(seeded.sandbox) or seeded.topic_keys
    return keys, seed_world(seeded.sandbox)


def test_every_route_survives_bad_bodies(body_route, seeded) -> None:
    """Hostile bodies on the route's real path (existing subscription, group, workspace and parents), so
    each body is read: mutations of the body the route accepts, non-JSON, deep, huge, wrong top level."""
    route = body_route
    keys, world = _reseed(seeded)
    url, headers = real_request(route, world, keys)

    @st.composite
    def calls(draw):
        body, what = draw(bodies(route))
        return route.method, url, dict(headers), body, what

    _sweep(seeded, "arm-body::" + route_key(route), calls())


def test_every_route_survives_bad_paths(path_route, seeded) -> None:
    """Path segments alone: the real names with one or two replaced by made-up or hostile ones; good body."""
    route = path_route
    keys, world = _reseed(seeded)
    _, headers = real_request(route, world, keys)
    body = encode_body(valid_body(route))

    @st.composite
    def calls(draw):
        values, what = draw(hostile_paths(route, world))
        url = build_url(route, values, query_for(route))
        if "/paths/invoke" in route.pattern.replace("\\", "") and world.get("logic_query"):
            url += "?" + world["logic_query"]
        return route.method, url, dict(headers), body, what

    _sweep(seeded, "arm-path::" + route_key(route), calls())


def test_every_route_survives_bad_requests(route, seeded) -> None:
    """The real path, with odd or missing api-version and query, odd headers and credentials, other methods."""
    keys, world = _reseed(seeded)
    _sweep(seeded, "arm-request::" + route_key(route), odd_requests(route, world, keys))


#: Routes a well-formed call cannot complete on the seeded sandbox, and why (regex on the route key).
UNREACHABLE = {
    r"/msi/token$": "needs the X-IDENTITY-HEADER a managed-identity host sets (test_boundaries covers it)",
    r"/operations(Status|Results)/\{op_id\}$|operationResults": "an operation id the sandbox chose",
    r"/eventsubscriptions/\{name\}/validate$": "a validation token sent to a webhook",
    r"^GET /\{container\}$": "only ?restype=container&comp=list is emulated (501)",
    r"/getFullUrl$": "the seeded subscriptions deliver to queues: getFullUrl is for webhooks (a 400)",
    r"/score$": "the seeded deployment has no real model (the scoring URI has its own sweep below)",
}


def test_real_names_reach_every_route(seeded) -> None:
    """The premise of the body sweep: with the real names and the accepted body, every route answers 2xx."""
    keys, world = _reseed(seeded)
    from robust import discover_routes
    refused = []
    for route in discover_routes():
        key = route_key(route)
        if route.method == "DELETE" or any(re.search(rule, key) for rule in UNREACHABLE):
            continue
        keys, world = _reseed(seeded)
        url, headers = real_request(route, world, keys)
        result = seeded.caller(route.method, url, headers, encode_body(valid_body(route)))
        assert result is not None, f"{key} did not answer"
        if not 200 <= result[0] < 300:
            refused.append(f"{result[0]} {key}: {result[2][:200]!r}")
    assert not refused, "\n".join(refused)


def test_routes_are_all_reachable(seeded) -> None:
    """The renderer builds a path every route's own regex matches, with the sandbox's names in it."""
    from robust import discover_routes, render_path
    from urllib.parse import quote, unquote
    routes = discover_routes()
    assert len(routes) == len(seeded.sandbox.router.routes)
    for route in routes:
        values = valid_values(route)
        path = unquote(render_path(route, {k: quote(v, safe="/") for k, v in values.items()}))
        match = route.regex.fullmatch(path)
        assert match, (route_key(route), path)
        for name, value in values.items():
            assert match.group(name) == value, (route_key(route), name)
    assert {"subscription", "resource_group", "topic", "name"} <= {
        n for r in routes for n in r.regex.groupindex if n in GROUP_VALUES}


# -- the known bugs, one deterministic reproduction each -------------------------------------------------

def _handle(seeded, method: str, path: str, body: bytes = b"", headers: dict | None = None,
            api: str | None = "2025-02-15") -> tuple[int, dict, bytes]:
    url = "https://management.azure.com" + path + (f"?api-version={api}" if api else "")
    result = seeded.caller(method, url, {"Content-Type": "application/json", **(headers or {})}, body)
    assert result is not None, f"{method} {path} did not answer (a hang)"
    return result


def _assert_clean(result: tuple[int, dict, bytes], method: str, allowed: range) -> None:
    status, headers, data = result
    assert status in allowed, (status, data[:300])
    assert problems_with(status, headers, data, method) == []


def _reason(area: str, problem: str) -> str:
    return next(k.reason for k in KNOWN if k.area == area and re.search(k.problem, problem))


PUBLISH = f"/eventgrid/topics/{TOPIC}/api/events"
EVENT = {"id": "1", "subject": "s", "eventType": "Contoso.Items.ItemReceived", "eventTime": "2024-01-01T00:00:00Z",
         "data": {}, "dataVersion": "1"}
ML_WS = f"{RG_ID}/providers/Microsoft.MachineLearningServices/workspaces/{WS}"


def test_publish_deeply_nested_json_is_a_400(seeded) -> None:
    body = b"[" * DEEP + b"]" * DEEP
    key = seed_sandbox(seeded.sandbox)["key1"]  # the sweep may have regenerated the keys or deleted the topic
    result = _handle(seeded, "POST", PUBLISH, body, {"aeg-sas-key": key}, api=None)
    _assert_clean(result, "POST", range(400, 401))


@pytest.mark.parametrize("header, value", [("aeg-sas-key", "ü"), ("aeg-sas-token", "r=ü&e=x&s=y"),
                                           ("aeg-sas-token", "r=a&e=x&s=ü")])
def test_publish_non_ascii_credentials_are_a_401(seeded, header: str, value: str) -> None:
    result = _handle(seeded, "POST", PUBLISH, json.dumps([EVENT]).encode(), {header: value}, api=None)
    _assert_clean(result, "POST", range(401, 402))


def test_publish_lone_surrogate_is_a_400(seeded) -> None:
    body = json.dumps([{**EVENT, "id": "\ud800"}]).encode()  # valid JSON: "\ud800" is an escape
    key = seed_sandbox(seeded.sandbox)["key1"]
    result = _handle(seeded, "POST", PUBLISH, body, {"aeg-sas-key": key}, api=None)
    _assert_clean(result, "POST", range(400, 401))


@pytest.mark.parametrize("method", ["PATCH"])
def test_topic_with_properties_not_an_object_is_a_400(seeded, method: str) -> None:
    seed_sandbox(seeded.sandbox)
    body = {"location": "eastus", "properties": "a string"}
    result = _handle(seeded, method, TOPIC_ID, json.dumps(body).encode())
    _assert_clean(result, method, range(400, 401))


ADF_API = "2018-06-01"
WAIT = {"name": "Pause", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}
COPY = {"name": "Copy", "type": "Copy", "inputs": [{"referenceName": "rb-data", "type": "DatasetReference"}],
        "outputs": [{"referenceName": "rb-data", "type": "DatasetReference"}]}


@pytest.mark.parametrize("kind, props", [
    ("pipelines", {"activities": [{**WAIT, "typeProperties": "a string"}]}),
    ("pipelines", {"activities": [{**WAIT, "name": ["Pause"]}]}),
    ("pipelines", {"activities": [{**WAIT, "dependsOn": ["Other"]}]}),
    ("pipelines", {"activities": [{**WAIT, "dependsOn": [{"activity": ["Other"], "dependencyConditions": []}]}]}),
    ("pipelines", {"activities": [{**COPY, "inputs": "d"}]}),
    ("pipelines", {"activities": [{**COPY, "inputs": {"referenceName": "rb-data"}}]}),
    ("datasets", {"type": "Binary", "linkedServiceName": "rb-files"}),
], ids=["typeProperties='a string'", "name=[...]", "dependsOn=['Other']", "dependsOn[0].activity=[...]",
        "Copy inputs='d'", "Copy inputs={...}", "dataset linkedServiceName='rb-files'"])
def test_data_factory_child_with_a_wrong_type_inside_is_a_400(seeded, kind: str, props: dict) -> None:
    seed_sandbox(seeded.sandbox)
    seed_world(seeded.sandbox)
    body = json.dumps({"properties": props}).encode()
    result = _handle(seeded, "PUT", f"{FACTORY_ID}/{kind}/rb-bad", body, api=ADF_API)
    _assert_clean(result, "PUT", range(400, 401))


@pytest.mark.parametrize("props", ["a string", {"api": "office365"}, [1]],
                         ids=["properties='a string'", "properties.api='office365'", "properties=[1]"])
def test_connection_with_properties_not_an_object_is_a_400(seeded, props) -> None:
    seed_sandbox(seeded.sandbox)
    body = json.dumps({"location": "eastus", "properties": props}).encode()
    result = _handle(seeded, "PUT", f"{RG_ID}/providers/Microsoft.Web/connections/rb-bad", body, api="2016-06-01")
    _assert_clean(result, "PUT", range(400, 401))


def _ml_body(collection: str, path: tuple, value) -> bytes:
    body = copy.deepcopy((SEEDS.get(collection) or [{"properties": {}}])[0])
    target = body
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize("path, collection, field, value", [
    ("/models/rb-model", "models", ("properties",), 12345),
    ("/codes/rb-code/versions/1", "versions", ("properties",), "a string"),
    ("/jobs/rb-job", "jobs", ("properties", "properties"), -1),
    ("/onlineEndpoints/rb-ep", "onlineendpoints", ("properties", "traffic"), "a string"),
    ("/onlineEndpoints/rb-ep", "onlineendpoints", ("properties", "traffic"), {"blue": "abc"}),
    ("/onlineEndpoints/rb-ep", "onlineendpoints", ("properties", "traffic"), {"blue": None}),
], ids=["model properties=12345", "code properties='a string'", "job properties.properties=-1",
        "endpoint traffic='a string'", "endpoint traffic.blue='abc'", "endpoint traffic.blue=null"])
def test_ml_body_with_a_wrong_type_inside_is_a_400(seeded, path: str, collection: str, field: tuple, value) -> None:
    seed_sandbox(seeded.sandbox)
    result = _handle(seeded, "PUT", ML_WS + path, _ml_body(collection, field, value), api="2025-12-01")
    _assert_clean(result, "PUT", range(400, 401))


@pytest.mark.parametrize("name", ["..", ".", "a%00b", "n" * 300])
def test_blob_put_with_a_bad_name_is_a_400(seeded, name: str) -> None:
    container = next(r for r in seeded.sandbox.router.routes if "azureml-" in r.pattern and r.method == "PUT")
    path = build_url(container, {"container": "azureml-blobstore-0a"}, None).split("azure.com", 1)[1]
    path = path.rsplit("/", 1)[0] + "/" + name
    result = _handle(seeded, "PUT", path, b"data", {"x-ms-blob-type": "BlockBlob"}, api=None)
    status, headers, data = result
    assert 400 <= status < 500, (status, data[:200])
    assert problems_with(status, headers, data, "PUT") == []


@pytest.mark.parametrize("endpoint", ["%20", "%C3%BC"])
def test_score_with_an_odd_endpoint_name_is_a_404(seeded, endpoint: str) -> None:
    result = _handle(seeded, "POST", f"/online-endpoints/{endpoint}/score", b'{"data": [[1]]}', api=None)
    _assert_clean(result, "POST", range(404, 405))


def test_score_errors_are_arm_shaped(seeded) -> None:
    result = _handle(seeded, "POST", "/online-endpoints/rb-no-such-endpoint/score", b'{"data": [[1]]}', api=None)
    _assert_clean(result, "POST", range(404, 405))


def test_every_known_bug_has_a_strict_xfail_test() -> None:
    """Each KNOWN entry's reason is the reason of an xfail(strict=True) test in this module."""
    import sys
    module = sys.modules[__name__]
    reasons = set()
    for name in dir(module):
        fn = getattr(module, name)
        for mark in getattr(fn, "pytestmark", []):
            if mark.name == "xfail" and mark.kwargs.get("strict"):
                reasons.add(mark.kwargs["reason"].split(" (here:")[0])
    assert {k.reason for k in KNOWN} <= reasons


# -- over the real HTTPS server: a smaller sample, and what only a socket can send ---------------------------

def _https(server, method: str, target: str, body: bytes = b"", headers: dict | None = None,
           timeout: float = CALL_DEADLINE) -> tuple[int, dict, bytes]:
    import http.client
    import ssl
    ctx = ssl.create_default_context(cafile=str(server.ca_path))
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for k, v in {"Content-Length": str(len(body)), **(headers or {})}.items():
            conn.putheader(k, v)
        conn.endheaders(body or None)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_https_sample_of_every_route(seeded) -> None:
    """Hostile requests per route over HTTPS (real sockets, real TLS), bounded by a client timeout: on the real
    path a non-JSON and an over-limit body, and a deep body under a hostile path segment."""
    server = seeded.sandbox.serve()
    failures = []
    from robust import discover_routes
    for route in discover_routes():
        keys, world = _reseed(seeded)  # an earlier route may have unregistered a provider or deleted a parent
        key = "https::" + route_key(route)
        url, headers = real_request(route, world, keys)
        values = real_values(route, world)
        hostile = dict(values)
        if hostile:
            hostile[sorted(hostile)[0]] = "..%ü" + "a" * 300
        hostile_url = build_url(route, hostile, query_for(route))
        samples = [(url, b"{not json", "non-JSON"), (hostile_url, b"[" * DEEP + b"]" * DEEP, "deep, hostile segment"),
                   (url, json.dumps({"properties": {"filter": {"advancedFilters": _filters_over_limit(26, 1)}}}
                                    ).encode(), "26 advanced filters")]
        for full, body, what in samples[: 3 if route.method in ("PUT", "PATCH", "POST") else 2]:
            target = full.split("azure.com", 1)[1]
            try:
                status, out_headers, data = _https(server, route.method, target, body, headers)
                problems = problems_with(status, out_headers, data, route.method)
            except (TimeoutError, OSError) as exc:
                status, problems = None, [f"no answer over HTTPS: {type(exc).__name__}: {exc}"]
            new = [p for p in problems if known_bug(key, p) is None]
            TALLY.record(key, status, problems, f"{route.method} {target[:120]} [{what}]", known=len(problems) - len(new))
            if new:
                failures.append(f"{'; '.join(new)} <- {route.method} {target[:120]} [{what}]")
    assert not failures, "\n".join(failures[:20])


def test_https_an_idle_connection_does_not_stall_the_server(seeded) -> None:
    """A client that connects and never starts TLS must not block everyone else (the accept loop)."""
    import socket
    server = seeded.sandbox.serve()
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    try:
        status, _, data = _https(server, "GET", "/subscriptions?api-version=2022-09-01", timeout=CALL_DEADLINE)
        assert status == 200, data[:200]
    finally:
        for s in idle:
            s.close()


@pytest.mark.parametrize("length, expected", [("-1", 400), ("abc", 400), ("99999999999999", 413), (" ", 200)])
def test_https_bad_content_length(seeded, length: str, expected: int) -> None:
    """A lying Content-Length is answered at once (it hung on -1 and dropped the connection on 'abc')."""
    seed_sandbox(seeded.sandbox)
    server = seeded.sandbox.serve()
    status, headers, data = _https(server, "POST", f"{TOPIC_ID}/listKeys?api-version=2025-02-15",
                                   headers={"Content-Length": length})
    assert status == expected, data[:200]
    assert problems_with(status, headers, data, "POST") == []


@pytest.mark.parametrize("raw, expected", [
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET /subscriptions HTTP/1.1\r\nX-Big: " + b"h" * 70000 + b"\r\n\r\n", 431),
    (b"BREW /subscriptions?api-version=2022-09-01 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
    (b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"POST /subscriptions?api-version=2022-09-01 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5\r\nhello\r\n0\r\n\r\n", 501),  # the chunked body is read; POST /subscriptions is not emulated
])
def test_https_malformed_requests_get_arm_errors(seeded, raw: bytes, expected: int) -> None:
    """What only a raw socket sends: over-long request lines and headers, unknown methods, bad chunking."""
    import socket
    import ssl
    server = seeded.sandbox.serve()
    ctx = ssl.create_default_context(cafile=str(server.ca_path))
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=CALL_DEADLINE),
                         server_hostname="127.0.0.1") as sock:
        sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer: {data[:200]!r}"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:])
        length = int(headers.get("Content-Length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    status = int(head.split(b" ", 2)[1])
    assert status == expected, data[:300]
    assert problems_with(status, headers, rest, "GET") == []


# -- the delivery receiver (a webhook host the kit starts): hostile deliveries ---------------------------------

#: Receiver failures the fuzz test tolerates (each reproduced by a strict xfail below): regex on the input.
RECEIVER_KNOWN_INPUTS: dict[str, str] = {}  # none left


@st.composite
def deliveries(draw) -> tuple[str, dict, bytes, str]:
    """One request to a receiver: a method, Event Grid's headers (some odd), a broken or hostile body."""
    from amlevents_kit import events
    method = draw(st.sampled_from(["POST"] * 6 + ["OPTIONS", "GET", "PUT", "DELETE", "BREW"]))
    headers = {"Content-Type": draw(st.sampled_from(["application/json", "application/cloudevents+json",
                                                     "application/cloudevents-batch+json", "text/plain", ""]))}
    kind = draw(st.sampled_from(["SubscriptionValidation", "Notification", "SubscriptionDeletion", "", "ü"]))
    if kind:
        headers["aeg-event-type"] = kind.encode()  # bytes: UTF-8 on the wire, as a careless sender would
    if method == "OPTIONS":
        headers["WebHook-Request-Origin"] = draw(st.sampled_from(["eventgrid.azure.net", "", "x" * 5000, "a, b"]))
    shape = draw(st.sampled_from(["mutated", "mutated", "non_json", "top_level", "huge", "validation"]))
    if shape == "non_json":
        body = draw(st.one_of(st.sampled_from([b for b in NON_JSON]), st.binary(max_size=100)))
    elif shape == "top_level":
        body = json.dumps(draw(st.sampled_from(TOP_LEVEL))).encode()
    elif shape == "huge":
        body = json.dumps([{"id": "h", "data": "h" * (2 * MB)}]).encode()
    else:
        schema = draw(st.sampled_from(["EventGridSchema", "CloudEventSchemaV1_0"]))
        event_type = (events.SUBSCRIPTION_VALIDATION if shape == "validation"
                      else draw(st.sampled_from(sorted(events.ALL_AML_EVENT_TYPES))))
        event = events.sample_event(event_type, schema)
        paths = json_paths(event)
        path = draw(st.sampled_from(paths))
        value = draw(st.sampled_from(WRONG_TYPES + BAD_STRINGS + [None]))
        event = with_value(event, path, value) if draw(st.booleans()) else without(event, path)
        batch = draw(st.booleans())
        body = _dumps([event] if batch or schema == "EventGridSchema" else event)
    return method, headers, body, f"{method} {kind or '-'} {shape} {body[:50]!r}"


def test_the_delivery_receiver_survives_bad_deliveries() -> None:
    """What a hostile or broken sender can POST to a Receiver: never a 500, never a hang."""
    import httpx
    from amlevents_kit import events
    from amlevents_kit.receiver import Receiver
    receiver = Receiver().start()
    seen: list[str] = []
    receiver.on(events.MODEL_REGISTERED)(lambda event: seen.append(event.id))
    key = "receiver::" + receiver.path
    failures: list[str] = []
    try:
        with httpx.Client(timeout=CALL_DEADLINE) as client:
            @FUZZ
            @given(deliveries())
            def one(req) -> None:
                method, headers, body, what = req
                try:
                    status = client.request(method, receiver.url, headers=headers, content=body).status_code
                    problems = [f"status {status}"] if status >= 500 else []
                except httpx.TimeoutException:
                    status, problems = None, [f"no answer within {CALL_DEADLINE:.0f} s (a hang)"]
                known = bool(problems) and status is not None and any(
                    re.search(k, what) for k in RECEIVER_KNOWN_INPUTS)
                TALLY.record(key, status, problems, what, known=len(problems) if known else 0)
                if problems and not known:
                    failures.append(f"{'; '.join(problems)} <- {what}")

            one()
    finally:
        receiver.stop()
    assert not failures, "\n".join(failures[:10])


def test_the_delivery_receiver_answers_a_deep_body_with_a_400() -> None:
    import httpx
    from amlevents_kit.receiver import Receiver
    receiver = Receiver().start()
    try:
        answer = httpx.post(receiver.url, content=b"[" * DEEP + b"]" * DEEP,
                            headers={"aeg-event-type": "Notification"}, timeout=CALL_DEADLINE)
        assert answer.status_code == 400, answer.text[:200]
    finally:
        receiver.stop()


def test_the_delivery_receiver_answers_an_empty_validation_batch_with_a_400() -> None:
    import httpx
    from amlevents_kit.receiver import Receiver
    receiver = Receiver().start()
    try:
        answer = httpx.post(receiver.url, content=b"[]", headers={"aeg-event-type": "SubscriptionValidation"},
                            timeout=CALL_DEADLINE)
        assert answer.status_code == 400, answer.text[:200]
    finally:
        receiver.stop()


# -- a deployed model's scoring URI: hostile scoring requests --------------------------------------------------

SCORING_KNOWN: dict[str, str] = {}  # regex on the problem -> the reason of its strict xfail test (none left)


@pytest.fixture(scope="module")
def scoring(tmp_path_factory):
    """An MLflow scikit-learn model deployed on an endpoint of a fresh sandbox: (scoring URI, key, columns)."""
    pytest.importorskip("azure.ai.ml")
    import pickle
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint, Model
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from amlevents_kit import connect
    from amlevents_kit.providers import ensure_providers
    folder = tmp_path_factory.mktemp("scoring")
    target = connect(folder=folder / "sandbox")
    try:
        ensure_providers(target, quiet=True)
        ml = target.ml_client()
        X, y = load_iris(return_X_y=True, as_frame=True)
        model_dir = folder / "model"
        model_dir.mkdir()
        with (model_dir / "model.pkl").open("wb") as fh:
            pickle.dump(LogisticRegression(max_iter=300).fit(X, y), fh)
        (model_dir / "MLmodel").write_text(
            "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n"
            "    predict_fn: predict\n  sklearn:\n    pickled_model: model.pkl\n    serialization_format: pickle\n")
        model = ml.models.create_or_update(Model(path=str(model_dir), name="rb-iris", type=AssetTypes.MLFLOW_MODEL))
        ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="rb-ep", auth_mode="key")).result()
        ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
            name="blue", endpoint_name="rb-ep", model=f"azureml:rb-iris:{model.version}",
            instance_type="Standard_DS3_v2", instance_count=1)).result()
        endpoint = ml.online_endpoints.get("rb-ep")
        endpoint.traffic = {"blue": 100}
        endpoint = ml.online_endpoints.begin_create_or_update(endpoint).result()
        yield endpoint.scoring_uri, ml.online_endpoints.get_keys("rb-ep").primary_key, list(X.columns)
    finally:
        target.sandbox.close()


@st.composite
def scoring_requests(draw, columns: list[str]) -> tuple[bytes, str]:
    good = {"input_data": {"columns": columns, "index": [0], "data": [[5.1, 3.5, 1.4, 0.2]]}}
    shape = draw(st.sampled_from(["good", "mutated", "mutated", "non_json", "top_level", "other_keys"]))
    if shape == "good":
        return json.dumps(good).encode(), "a good request"
    if shape == "non_json":
        body = draw(st.one_of(st.sampled_from(NON_JSON), st.binary(max_size=80)))
        return body, f"non-JSON {body[:30]!r}"
    if shape == "top_level":
        value = draw(st.sampled_from(TOP_LEVEL))
        return json.dumps(value).encode(), f"top-level {value!r:.30}"
    if shape == "other_keys":
        key = draw(st.sampled_from(["dataframe_split", "dataframe_records", "inputs", "instances", "data", "ü"]))
        value = draw(st.sampled_from(WRONG_TYPES + [[[1, 2, 3, 4]], {"columns": columns, "data": [[1, 2, 3, 4]]}]))
        return json.dumps({key: value}).encode(), f"{key} = {json.dumps(value)[:30]}"
    path = draw(st.sampled_from(json_paths(good)))
    value = draw(st.sampled_from(WRONG_TYPES + BAD_STRINGS[:4] + [None]))
    return _dumps(with_value(good, path, value)), f"{'.'.join(map(str, path))} = {json.dumps(value)[:30]}"


def test_the_scoring_uri_survives_bad_requests(scoring) -> None:
    """What a broken client can POST to a deployed model: a 4xx (or a prediction), never a 500 or a hang."""
    import httpx
    uri, key, columns = scoring
    failures: list[str] = []
    with httpx.Client(timeout=CALL_DEADLINE, headers={"Authorization": f"Bearer {key}",
                                                      "Content-Type": "application/json"}) as client:
        @FUZZ
        @given(scoring_requests(columns))
        def one(req) -> None:
            body, what = req
            try:
                answer = client.post(uri, content=body)
                status = answer.status_code
                problems = [f"status {status}: {answer.text[:160]}"] if status >= 500 else []
            except httpx.TimeoutException:
                status, problems = None, [f"no answer within {CALL_DEADLINE:.0f} s (a hang)"]
            known = [p for p in problems if any(re.search(k, p) for k in SCORING_KNOWN)]
            TALLY.record("scoring::POST {scoring_uri}", status, problems, what, known=len(known))
            if len(known) < len(problems):
                failures.append(f"{'; '.join(problems)} <- {what}")

        one()
    assert not failures, "\n".join(failures[:10])


def test_scoring_a_deep_body_is_a_400(scoring) -> None:
    import httpx
    uri, key, _ = scoring
    answer = httpx.post(uri, content=b"[" * DEEP + b"]" * DEEP, headers={"Authorization": f"Bearer {key}"},
                        timeout=CALL_DEADLINE)
    assert answer.status_code == 400, answer.text[:200]


@pytest.mark.parametrize("data, columns", [([["a", "b", "c", "d"]], None), ({"a": 1}, None),
                                           ([[1, 2, 3, 4]], [[1], [2], [3], [4]])],
                         ids=["strings", "a dict", "columns of lists"])
def test_scoring_data_the_model_cannot_take_is_a_400(scoring, data, columns) -> None:
    import httpx
    uri, key, good_columns = scoring
    answer = httpx.post(uri, json={"input_data": {"columns": columns or good_columns, "index": [0], "data": data}},
                        headers={"Authorization": f"Bearer {key}"}, timeout=CALL_DEADLINE)
    assert answer.status_code == 400, answer.text[:200]
