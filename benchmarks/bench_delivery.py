"""Benchmark: Event Grid delivery in the sandbox, publish -> handler 2xx on loopback, beside raw HTTP POSTs.

    .venv/bin/python benchmarks/bench_delivery.py                 # defaults below
    .venv/bin/python benchmarks/bench_delivery.py --events 3000 --batched-events 20000 --seconds 4

Setup: a sandbox on a temporary folder; Microsoft.EventGrid registered; two webhook subscriptions on the
workspace created through the real EventGridManagementClient (validated by the handshake): one with
Azure's default maxEventsPerBatch=1, one with maxEventsPerBatch=100. Events are ModelRegistered events
built beforehand and published with ``sandbox.publish`` (filter matching, outbox rows, delivery).

Throughput: the receiver (amlevents_kit.receiver, uvicorn) runs in its own process, as an endpoint
would. Time from the first publish until the engine has recorded every event as delivered (the
endpoint answered 2xx). Baseline, same run, same receiver: raw POSTs of the same bodies (one event per
POST, or 100 per POST) from as many threads as the engine has senders, through one kept-alive
httpx.Client: the cost of the HTTP alone.

Latency at a steady rate: same receiver process; its handler stamps each event's arrival with
time.perf_counter (CLOCK_MONOTONIC, comparable across processes on Linux); this process publishes one
event every 1/rate seconds; latency = handler arrival - publish call start. Baseline: raw POSTs at the
same rate from one thread, latency = request start -> handler arrival.

Goals (issue 4): >= 5,000 events/s delivered; p99 < 50 ms at 500 events/s.

This measures the engine alone, published in process from one thread. bench_load.py measures the whole
path under load: several publisher processes, the HTTPS publish endpoint with topic keys, several
topics and subscriptions, memory and the outbox.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from amlevents_kit import connect, events

GOAL_EPS, GOAL_P99_MS = 5000, 50.0
RECEIVER_PROCESS = """
import json, sys, time
from amlevents_kit.receiver import Receiver
rx = Receiver().start()
arrivals = {}
rx.on()(lambda event: arrivals.__setitem__(event.id, time.perf_counter()))
print(rx.url, flush=True)
for line in sys.stdin:  # "dump": the handler's arrival times (CLOCK_MONOTONIC, same as the parent's)
    print(json.dumps(arrivals), flush=True)
    arrivals.clear()
    rx.received.clear()
    rx.deliveries.clear()
rx.stop()
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def setup(folder: str):
    from azure.mgmt.eventgrid import EventGridManagementClient
    from azure.mgmt.eventgrid.models import EventSubscription, EventSubscriptionFilter, WebHookEventSubscriptionDestination

    target = connect(folder=folder)
    sandbox = target.sandbox
    sandbox.backends["resources"].register(target.subscription_id, "Microsoft.EventGrid")
    sandbox.clock.advance(seconds=5)
    client = target.client(EventGridManagementClient)
    workspace = events.workspace_topic(target.subscription_id, target.resource_group, target.workspace_name)

    def subscribe(name: str, url: str, prefix: str, batch: int = 1) -> None:
        client.event_subscriptions.begin_create_or_update(workspace, name, EventSubscription(
            destination=WebHookEventSubscriptionDestination(endpoint_url=url, max_events_per_batch=batch,
                                                            preferred_batch_size_in_kilobytes=1024),
            filter=EventSubscriptionFilter(included_event_types=[events.MODEL_REGISTERED],
                                           subject_begins_with=prefix))).result()
    return target, sandbox, workspace, subscribe


def ids_of(sandbox) -> dict[str, str]:
    return {b["name"]: b["id"] for b in sandbox.backends["eventgrid"].all_subscriptions()}


def make_events(workspace: str, prefix: str, n: int) -> list[dict]:
    return [events.model_registered(topic=workspace, model_name=prefix, model_version=str(i)) for i in range(n)]


def wait_delivered(engine, sub_id: str, n: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while engine.stats(sub_id)["delivered"] < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"timeout: {engine.stats(sub_id)}")
        engine.pump()


def engine_throughput(sandbox, engine, sub_id: str, evs: list[dict], chunk: int) -> float:
    before = engine.stats(sub_id)["delivered"]
    start = time.perf_counter()
    for i in range(0, len(evs), chunk):
        sandbox.publish(evs[i:i + chunk])
    wait_delivered(engine, sub_id, before + len(evs))
    return len(evs) / (time.perf_counter() - start)


def raw_throughput(url: str, evs: list[dict], per_post: int, threads: int) -> float:
    bodies = [json.dumps(evs[i:i + per_post]).encode() for i in range(0, len(evs), per_post)]
    headers = {"Content-Type": "application/json; charset=utf-8", "aeg-event-type": "Notification"}
    with httpx.Client(limits=httpx.Limits(max_connections=threads * 2)) as client:
        def post(body: bytes) -> None:
            r = client.post(url, content=body, headers=headers)
            assert r.status_code == 200, r.status_code
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(post, bodies))
        return len(evs) / (time.perf_counter() - start)


def steady(publish, n: int, rate: float) -> None:
    interval = 1.0 / rate
    start = time.perf_counter()
    for i in range(n):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        publish(i)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=3000, help="events per maxEventsPerBatch=1 throughput rep")
    ap.add_argument("--batched-events", type=int, default=10000, help="events per maxEventsPerBatch=100 rep")
    ap.add_argument("--rate", type=float, default=500.0, help="steady publish rate for the latency run (events/s)")
    ap.add_argument("--seconds", type=float, default=3.0, help="length of each steady latency rep")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions (sandbox, raw, sandbox, raw ...)")
    ap.add_argument("--chunk", type=int, default=100, help="events per sandbox.publish call in throughput runs")
    args = ap.parse_args()

    folder = tempfile.mkdtemp(prefix="bench-delivery-")
    target, sandbox, workspace, subscribe = setup(folder)
    engine = sandbox.service("delivery")
    threads = engine._senders
    proc = subprocess.Popen([sys.executable, "-c", RECEIVER_PROCESS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    url = proc.stdout.readline().strip()
    load_before = os.getloadavg()[0]
    print(f"# delivery benchmark, {time.strftime('%Y-%m-%d %H:%M')}, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores, load average {load_before:.1f}, {threads} sender threads, "
          f"receiver process at {url}")
    results: dict[str, list[float]] = {k: [] for k in ("single", "single_raw", "batch", "batch_raw")}
    lat: list[list[float]] = []
    raw_lat: list[list[float]] = []
    try:
        subscribe("bench-single", url, "models/single")
        subscribe("bench-batch", url, "models/batch", batch=100)
        subscribe("bench-latency", url, "models/steady")
        ids = ids_of(sandbox)
        warm = make_events(workspace, "single", 200)
        engine_throughput(sandbox, engine, ids["bench-single"], warm, args.chunk)
        raw_throughput(url, warm, 1, threads)

        def arrivals() -> dict[str, float]:
            proc.stdin.write("dump\n")
            proc.stdin.flush()
            return json.loads(proc.stdout.readline())

        n = int(args.rate * args.seconds)
        headers = {"Content-Type": "application/json; charset=utf-8", "aeg-event-type": "Notification"}
        for rep in range(args.reps):
            single = make_events(workspace, "single", args.events)
            results["single"].append(engine_throughput(sandbox, engine, ids["bench-single"], single, args.chunk))
            results["single_raw"].append(raw_throughput(url, single, 1, threads))
            batched = make_events(workspace, "batch", args.batched_events)
            results["batch"].append(engine_throughput(sandbox, engine, ids["bench-batch"], batched, args.chunk))
            results["batch_raw"].append(raw_throughput(url, batched, 100, threads))

            evs = make_events(workspace, "steady", n)
            sent: dict[str, float] = {}

            def publish(i: int) -> None:
                sent[evs[i]["id"]] = time.perf_counter()
                sandbox.publish([evs[i]])

            arrivals()
            steady(publish, n, args.rate)
            wait_delivered(engine, ids["bench-latency"], (rep + 1) * n)
            got = arrivals()
            lat.append([(got[k] - sent[k]) * 1000 for k in sent if k in got])

            raw = make_events(workspace, "rawsteady", n)
            bodies = [json.dumps([e]).encode() for e in raw]
            raw_sent: dict[str, float] = {}
            with httpx.Client() as client:
                def post(i: int) -> None:
                    raw_sent[raw[i]["id"]] = time.perf_counter()
                    client.post(url, content=bodies[i], headers=headers)
                steady(post, n, args.rate)
            got = arrivals()
            raw_lat.append([(got[k] - raw_sent[k]) * 1000 for k in raw_sent if k in got])
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)

    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"\n## throughput: publish -> handler 2xx (events/s), median of {args.reps} interleaved reps")
    print(f"{'run':<36}{'sandbox':>10}{'raw POSTs':>12}{'ratio':>8}   per rep (sandbox/raw)")
    for key, label, count in (("single", "maxEventsPerBatch=1", args.events),
                              ("batch", "maxEventsPerBatch=100", args.batched_events)):
        reps = ", ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(results[key], results[key + "_raw"]))
        print(f"{label + f', {count} events':<36}{med[key]:>10.0f}{med[key + '_raw']:>12.0f}"
              f"{med[key] / med[key + '_raw']:>8.2f}   {reps}")

    every, every_raw = [x for r in lat for x in r], [x for r in raw_lat for x in r]
    print(f"\n## latency at {args.rate:.0f} events/s, {args.reps} x {args.seconds:g} s: publish -> handler (ms)")
    print(f"{'':<20}{'p50':>8}{'p99':>8}{'max':>8}{'n':>7}   p99 per rep")
    for label, values, per in (("sandbox delivery", every, lat), ("raw POST", every_raw, raw_lat)):
        reps = ", ".join(f"{percentile(r, 99):.1f}" for r in per)
        print(f"{label:<20}{statistics.median(values):>8.2f}{percentile(values, 99):>8.2f}{max(values):>8.2f}"
              f"{len(values):>7}   {reps}")
    stats = engine.stats()
    print(f"\nreconciliation: {stats}")
    print(f"load average after: {os.getloadavg()[0]:.1f} (the machine is shared: compare ratios, not absolutes)")
    p99 = percentile(every, 99)
    print(f"goals: >= {GOAL_EPS} events/s -> batched {'MET' if med['batch'] >= GOAL_EPS else 'NOT MET'}, "
          f"unbatched {'MET' if med['single'] >= GOAL_EPS else 'NOT MET'}; "
          f"p99 < {GOAL_P99_MS:g} ms at {args.rate:.0f}/s -> {'MET' if p99 < GOAL_P99_MS else 'NOT MET'}")
    sandbox.close()


if __name__ == "__main__":
    main()
