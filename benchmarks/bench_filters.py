"""Benchmark: events x subscriptions evaluated per second, compiled filters vs a baseline loop.

The baseline is what a naive delivery engine does: call ``matches(event, flt)`` for every pair,
reading the azure-mgmt-eventgrid filter object each time. The compiled run builds each
filter once with ``compile_filter`` (compile time reported separately) and calls the results.
Both run here, on the same events and subscriptions, and must agree on every verdict.

    .venv/bin/python benchmarks/bench_filters.py [--subscriptions 1000] [--events 200]
"""

from __future__ import annotations

import argparse
import random
import time

from azure.mgmt.eventgrid import models as m

from amlevents_kit import events as ev
from amlevents_kit.filters import compile_filter, matches

STAGES = ["production", "staging", "dev", "Production"]


def make_events(n: int, rng: random.Random) -> list[dict]:
    """A mix of the five AML events with varied tags, statuses and coefficients."""
    ws = ev.workspace_topic("00000000-0000-0000-0000-000000000000", "rg", "ws")
    out = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            out.append(ev.model_registered(topic=ws, model_name=f"model{rng.randrange(20)}", model_version=rng.randrange(1, 9),
                                           model_tags={"stage": rng.choice(STAGES), "team": f"t{rng.randrange(5)}"}))
        elif kind == 1:
            out.append(ev.model_deployed(topic=ws, service_name=f"svc{rng.randrange(20)}", model_ids=["a:1", "b:2"],
                                         service_tags={"env": rng.choice(STAGES)}))
        elif kind == 2:
            out.append(ev.run_completed(topic=ws, experiment_id=f"exp{rng.randrange(10)}", experiment_name="train",
                                        run_id=f"run{i}", run_type="command", run_tags={"scores": [rng.random(), rng.random()]}))
        elif kind == 3:
            out.append(ev.run_status_changed(topic=ws, experiment_id=f"exp{rng.randrange(10)}", experiment_name="train",
                                             run_id=f"run{i}", run_status=rng.choice(["Failed", "Running", "Canceled"])))
        else:
            out.append(ev.dataset_drift_detected(topic=ws, data_drift_id=f"d{rng.randrange(5)}", data_drift_name="mon",
                                                 run_id=f"r{i}", base_dataset_id="b", target_dataset_id="t",
                                                 drift_coefficient=rng.random()))
    return out


def make_filters(n: int, rng: random.Random) -> list[m.EventSubscriptionFilter]:
    """Subscriptions as learners write them: a type list, maybe a prefix, 2-4 advanced filters."""
    pool = [
        lambda: m.StringInAdvancedFilter(key="data.modelTags.stage", values=rng.sample(STAGES, 2)),
        lambda: m.StringNotInAdvancedFilter(key="data.modelTags.team", values=[f"t{rng.randrange(5)}"]),
        lambda: m.NumberGreaterThanOrEqualsAdvancedFilter(key="data.driftCoefficient", value=rng.random()),
        lambda: m.NumberInRangeAdvancedFilter(key="data.driftCoefficient", values=[[0.1, 0.4], [0.6, 0.9]]),
        lambda: m.StringContainsAdvancedFilter(key="data.runStatus", values=["fail", "cancel"]),
        lambda: m.StringBeginsWithAdvancedFilter(key="subject", values=["models/model1", "experiments/exp"]),
        lambda: m.NumberGreaterThanAdvancedFilter(key="data.runTags.scores", value=0.5),
        lambda: m.IsNotNullAdvancedFilter(key="data.modelName"),
        lambda: m.StringEndsWithAdvancedFilter(key="data.serviceName", values=["1", "2", "3"]),
    ]
    out = []
    for _ in range(n):
        flt = m.EventSubscriptionFilter(
            included_event_types=rng.sample(ev.ALL_AML_EVENT_TYPES, rng.randrange(1, 4)),
            subject_begins_with=rng.choice(["", "", "models/", "experiments/"]),
            enable_advanced_filtering_on_arrays=rng.random() < 0.5,
            advanced_filters=[rng.choice(pool)() for _ in range(rng.randrange(2, 5))],
        )
        out.append(flt)
    return out


def run(n_subscriptions: int, n_events: int, baseline_events: int) -> None:
    """Time both loops and print pairs per second and their ratio."""
    rng = random.Random(7)
    evs = make_events(n_events, rng)
    flts = make_filters(n_subscriptions, rng)

    sample = evs[:baseline_events]
    t0 = time.perf_counter()
    base = [[matches(e, f) for f in flts] for e in sample]
    t_base = time.perf_counter() - t0

    t0 = time.perf_counter()
    compiled = [compile_filter(f) for f in flts]
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = [[c(e) for c in compiled] for e in evs]
    t_fast = time.perf_counter() - t0

    assert fast[: len(base)] == base, "compiled filters disagree with matches()"
    base_rate = len(sample) * len(flts) / t_base
    fast_rate = len(evs) * len(flts) / t_fast
    delivered = sum(map(sum, fast))
    print(f"subscriptions={len(flts)} events={len(evs)} advanced filters/subscription="
          f"{sum(len(f.advanced_filters) for f in flts) / len(flts):.1f} delivered pairs={delivered}")
    print(f"baseline  matches(event, flt) loop : {base_rate:12,.0f} event×subscription/s "
          f"({len(sample)} events)")
    print(f"compiled  compile_filter once      : {fast_rate:12,.0f} event×subscription/s "
          f"(compile {len(flts)} filters: {t_compile * 1000:.1f} ms)")
    print(f"ratio compiled/baseline            : {fast_rate / base_rate:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--baseline-events", type=int, default=40, help="events for the slower baseline loop")
    args = parser.parse_args()
    run(args.subscriptions, args.events, min(args.baseline_events, args.events))


if __name__ == "__main__":
    main()
