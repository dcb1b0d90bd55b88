"""The Workflow Definition Language subset: tokenizer, parser, evaluator and create-time checks."""

from __future__ import annotations

import itertools

import pytest

from amlevents_kit.sandbox.providers.logic import expressions as ex

EVENT = {"eventType": "Microsoft.MachineLearningServices.RunStatusChanged", "subject": "experiments/e1/runs/r1",
         "data": {"runStatus": "Failed", "experimentName": "Churn", "runTags": {"stage": "prod"}, "score": 0.93,
                  "items": [1, 2, 3]}}


@pytest.fixture
def ctx() -> ex.Context:
    return ex.Context({"triggerBody": lambda: EVENT, "body": lambda name: {"Compose": {"x": 1}}[name]})


@pytest.mark.parametrize("text, expected", [
    ("@equals(triggerBody()?['eventType'], 'Microsoft.MachineLearningServices.RunStatusChanged')", True),
    ("@equals(toLower(triggerBody()?['data']?['runStatus']), 'failed')", True),
    ("@equals(triggerBody()?['data']?['runStatus'], 'FAILED')", True),        # equals ignores case
    ("@contains(triggerBody()?['subject'], 'runs/r1')", True),
    ("@contains(triggerBody()?['subject'], 'RUNS/R1')", False),              # contains does not
    ("@startsWith(triggerBody()?['subject'], 'Experiments/')", True),
    ("@endsWith(triggerBody()?['subject'], '/r2')", False),
    ("@and(greater(triggerBody()?['data']?['score'], 0.9), less(1, 2))", True),
    ("@or(equals(1, 2), not(equals(1, 2)))", True),
    ("@triggerBody()?['data']?['missing']?['deeper']", None),
    ("@triggerBody().data.runTags.stage", "prod"),
    ("@triggerBody()?['data']?['items'][1]", 2),
    ("@concat('a', 1, true, null)", "a1True"),
    ("@length(triggerBody()?['data']?['items'])", 3),
    ("@body('Compose')?['x']", 1),
    ("@'it''s'", "it's"),
    ("@@literal", "@literal"),
    ("plain text", "plain text"),
    ("Run @{triggerBody()?['subject']} is @{toLower(triggerBody()?['data']?['runStatus'])}",
     "Run experiments/e1/runs/r1 is failed"),
    ("@{triggerBody()?['data']?['runTags']}", '{"stage":"prod"}'),
    ("x @@{not a hole}", "x @{not a hole}"),
    ("@if(equals(1, 1), 'yes', 'no')", "yes"),
    ("@coalesce(null, triggerBody()?['nope'], 'fallback')", "fallback"),
    ("@encodeURIComponent('a b/c')", "a%20b%2Fc"),
    ("@div(7, 2)", 3),
    ("@-5", -5),
])
def test_evaluates(ctx, text, expected):
    assert ctx.value(text) == expected


def test_values_are_evaluated_deeply(ctx):
    assert ctx.value({"To": "a@b.c", "Subject": ["@{triggerBody()?['data']?['experimentName']}", 3]}) == \
        {"To": "a@b.c", "Subject": ["Churn", 3]}


@pytest.mark.parametrize("text, fragment", [
    ("@equals(1, 2", "expected ')'"),
    ("@equals(1 2)", "expected ')'"),
    ("@'unterminated", "unterminated string"),
    ("@triggerBody()?", "'?' must be followed"),
    ("@foo", "not a function call"),
    ("@", "empty"),
    ("@equals(1, 2) extra", "after the end"),
    ("Hi @{triggerBody()", "not closed"),
    ("@equals(1, #)", "unexpected character"),
    ("@add(" + "9" * 5000 + ", 1)", "the number is too long"),   # was Python's ValueError: a 500 at create
])
def test_parse_errors_say_what_and_where(text, fragment):
    with pytest.raises(ex.ExpressionError) as info:
        ex.parse_value(text)
    assert fragment in str(info.value)
    assert info.value.position is not None


def test_position_points_into_the_template():
    with pytest.raises(ex.ExpressionError) as info:
        ex.check("Subject: @{nosuch(1)}", {})
    assert info.value.position == len("Subject: @{")
    assert "nosuch" in info.value.message


def test_check_counts_arguments():
    with pytest.raises(ex.ExpressionError, match="'equals' expects 2 parameter"):
        ex.check("@equals(1)", {})
    calls = ex.check("@body('A')", {"body": (1, 1)})
    assert [c.name for c in calls] == ["body"]


@pytest.mark.parametrize("text, fragment", [
    ("@triggerBody()['nope']", "doesn't exist; available properties are 'eventType'"),
    ("@triggerBody()?['data']?['missing']['x']", "value is null"),
    ("@greater('a', 1)", "expects numbers"),
    ("@startsWith(1, 'a')", "expects strings"),
    ("@and(1, true)", "expects booleans"),
    ("@triggerBody()?['data']?['items'][7]", "outside the array"),
    ("@div(1, 0)", "divide by zero"),
    ("@int('x')", "cannot convert"),
    ("@first(5)", "'first' expects an array or a string; it got an Integer"),
    ("@last(json('{\"a\": 1}'))", "'last' expects an array or a string; it got an Object"),
    ("@join(5, ',')", "'join' expects an array; it got an Integer"),
    ("@join(createArray(1), 5)", "'join' expects strings"),
    ("@split('a,b', '')", "'split' needs a delimiter"),
    ("@substring('abc', json('1e400'))", "'substring' cannot convert"),
    ("@add(9223372036854775807, 1)", "'add' overflowed"),
])
def test_runtime_errors_name_the_problem(ctx, text, fragment):
    with pytest.raises(ex.ExpressionError) as info:
        ctx.value(text)
    assert fragment in str(info.value)


def test_property_lookup_ignores_case(ctx):
    assert ctx.value("@triggerBody()?['EVENTTYPE']") == EVENT["eventType"]


def test_to_text_writes_values_as_wdl_does():
    assert [ex.to_text(v) for v in (None, True, 2.0, 2.5, [1], "s")] == ["", "True", "2", "2.5", "[1]", "s"]


# JSON values of every type, and the edges Python's arithmetic trips on (inf, nan, beyond Int64 and float)
ODD_VALUES = [None, True, 0, 5, -3, 2.5, float("nan"), float("inf"), 10 ** 400, "", "abc", "12", [], [1, "a"],
              {}, {"a": 1}]


@pytest.mark.parametrize("name", sorted(ex.BUILTINS))
def test_built_ins_fail_only_with_expression_errors_naming_themselves(name):
    """first(5), join(5, ','), split(s, '') ... once raised TypeError/ValueError: a 500 and no run."""
    impl, lo, hi = ex.BUILTINS[name]
    for n in range(lo, (hi if hi is not None else lo + 1) + 1):
        for args in itertools.product(ODD_VALUES, repeat=n):
            try:
                impl(*args)
            except ex.ExpressionError as err:
                assert f"'{name}'" in err.message, (args, err.message)
