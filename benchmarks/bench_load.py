"""Load benchmark: several publishers, several custom topics, several webhook subscriptions, over loopback HTTPS.

    .venv/bin/python benchmarks/bench_load.py                # defaults below, about 40 s on 2 cores
    .venv/bin/python benchmarks/bench_load.py --publishers 8 --burst 2000 --rate 400

Setup: a sandbox on a temporary folder served over HTTPS on 127.0.0.1 (``target.serve()``, its own CA);
``--topics`` custom topics (Event Grid schema) and, on each, ``--subscriptions`` webhook subscriptions,
all created with the real EventGridManagementClient and validated by the handshake. The first
subscription of a topic takes Azure's default maxEventsPerBatch=1, the others maxEventsPerBatch=50.
Each subscription has its own receiver (amlevents_kit.receiver.Receiver); all receivers run in one
separate process and stamp each event's arrival with time.perf_counter (CLOCK_MONOTONIC, comparable
across processes on Linux).

Publishers: ``--publishers`` separate processes. Each publishes with azure.eventgrid.EventGridPublisherClient,
AzureKeyCredential (the topic's key1: the ``aeg-sas-key`` header) and the sandbox CA, to the topics'
endpoints round robin (one topic per POST):

- a bounded burst: ``--burst`` events per publisher, ``--batch`` per POST, as fast as the endpoint accepts;
- a steady stream: ``--rate`` events/s in all, one event per POST, for ``--seconds``.

Baseline, same run, same receivers, same publisher processes: the publishers POST the same events
straight to every subscription's receiver, as Event Grid would deliver them (one event per POST to a
maxEventsPerBatch=1 subscription, up to 50 to the others), with httpx on kept-alive connections: the
cost of the HTTP alone, with no Event Grid in between.

Figures (each beside its baseline, as a ratio):
- deliveries/s: deliveries / (last arrival - first publish); and events/s accepted by the endpoint;
- p50/p99 publish -> handler latency in the steady stream;
- peak RSS growth of the sandbox process (psutil, sampled every 10 ms, over the RSS after warm-up)
  during the burst, beside the same figure for a burst ``--small`` times smaller (bounded memory: the
  ratio stays near 1; memory that held every queued event would grow with the burst);
- the outbox: rows and bytes the SQLite database grew by, per delivery, beside the bytes of the
  events themselves.

Checks: per subscription, every published event arrived (duplicates counted, at-least-once) and the
engine reconciles (published = delivered + dead-lettered + dropped + pending, pending 0 at the end).
The script exits 1 if anything was lost, and stops by itself: every wait has a deadline (``--budget``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

EVENT_TYPE = "Contoso.Load.Tick"
BATCHED = 50  # maxEventsPerBatch of every subscription but a topic's first

RECEIVERS = r"""
import json, sys, threading, time
from amlevents_kit.receiver import Receiver
count = int(sys.argv[1])
lock = threading.Lock()
arrivals = [dict() for _ in range(count)]  # per receiver: event id -> [first arrival, times received]
receivers = []
for i in range(count):
    rx = Receiver().start()
    def handle(event, seen=arrivals[i], rx=rx):
        now = time.perf_counter()
        with lock:
            hit = seen.get(event.id)
            if hit is None:
                seen[event.id] = [now, 1]
            else:
                hit[1] += 1
    rx.on()(handle)
    receivers.append(rx)
print(json.dumps([rx.url for rx in receivers]), flush=True)
for line in sys.stdin:  # "dump": what arrived since the last dump
    with lock:
        out = [dict(a) for a in arrivals]
        for a in arrivals:
            a.clear()
    for rx in receivers:
        rx.clear()
    print(json.dumps(out), flush=True)
for rx in receivers:
    rx.stop()
"""

PUBLISHER = r"""
import json, sys, time
from datetime import datetime, timezone
import httpx
from azure.core.credentials import AzureKeyCredential
from azure.eventgrid import EventGridEvent, EventGridPublisherClient

spec = json.loads(sys.stdin.readline())
me, topics, ca = spec["publisher"], spec["topics"], spec["ca"]
clients = [EventGridPublisherClient(t["endpoint"], AzureKeyCredential(t["key"])) for t in topics]
direct = httpx.Client(timeout=60)
HEADERS = {"Content-Type": "application/json; charset=utf-8", "aeg-event-type": "Notification"}
PAD = "x" * spec["pad"]


def sdk_event(eid, seq):
    return EventGridEvent(subject=f"load/{me}/{seq}", event_type=spec["event_type"], data={"seq": seq, "pad": PAD},
                          data_version="1", id=eid)


def wire_event(eid, seq, topic):
    # what Event Grid delivers for the same event (the topic's id stamped in)
    return {"id": eid, "subject": f"load/{me}/{seq}", "eventType": spec["event_type"],
            "eventTime": datetime.now(timezone.utc).isoformat(), "data": {"seq": seq, "pad": PAD},
            "dataVersion": "1", "metadataVersion": "1", "topic": topic["id"]}


def send(mode, t, ids, seqs, sent, errors):
    topic = topics[t]
    start = time.perf_counter()
    for eid in ids:
        sent[eid] = [start, t]
    try:
        if mode == "eventgrid":
            clients[t].send([sdk_event(e, s) for e, s in zip(ids, seqs)], connection_verify=ca)
        else:  # straight to each subscription's receiver, batched as its maxEventsPerBatch says
            events = [wire_event(e, s, topic) for e, s in zip(ids, seqs)]
            for sub in topic["subscriptions"]:
                n = sub["max_events_per_batch"]
                for i in range(0, len(events), n):
                    r = direct.post(sub["url"], content=json.dumps(events[i:i + n]), headers=HEADERS)
                    if r.status_code != 200:
                        errors.append(f"{sub['url']}: {r.status_code}")
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")


print("ready", flush=True)
for line in sys.stdin:
    job = json.loads(line)
    if job["phase"] == "quit":
        break
    sent, errors = {}, []
    mode, tag = job["mode"], job["tag"]
    start = time.perf_counter()
    if job["phase"] == "burst":
        batch, k = job["batch"], 0
        for first in range(0, job["events"], batch):
            seqs = list(range(first, min(first + batch, job["events"])))
            send(mode, (me + k) % len(topics), [f"{tag}-p{me}-{s}" for s in seqs], seqs, sent, errors)
            k += 1
    else:  # steady: one event per POST at this publisher's share of the rate
        interval, n = 1.0 / job["rate"], int(job["rate"] * job["seconds"])
        offset = job["offset"]
        for i in range(n):
            delay = start + offset + i * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            send(mode, (me + i) % len(topics), [f"{tag}-p{me}-{i}"], [i], sent, errors)
    print(json.dumps({"sent": sent, "errors": errors[:20], "n_errors": len(errors), "start": start,
                      "end": time.perf_counter()}), flush=True)
for c in clients:
    c.close()
direct.close()
"""


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Deadline:
    """The run's time budget: every wait gets what is left of it."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())


class RssSampler:
    """The sandbox process's resident set size every ``interval`` seconds, in a thread."""

    def __init__(self, interval: float = 0.01) -> None:
        import psutil
        self.process = psutil.Process()
        self.interval = interval
        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def now(self) -> int:
        return self.process.memory_info().rss

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.now())

    def reset(self) -> int:
        """Start a new window; the RSS now."""
        self.peak = self.now()
        return self.peak

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)


@dataclass
class Phase:
    """One phase's outcome: what was sent, what arrived where, how long it took."""

    name: str
    sent: dict[str, list] = field(default_factory=dict)  # event id -> [publish start, topic index]
    arrivals: list[dict[str, list]] = field(default_factory=list)  # per receiver: id -> [first, count]
    start: float = 0.0
    publish_end: float = 0.0
    errors: list[str] = field(default_factory=list)
    rss_growth: int = 0
    lost: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    deliveries: int = 0

    @property
    def events(self) -> int:
        return len(self.sent)

    def last_arrival(self) -> float:
        return max((t for a in self.arrivals for t, _ in a.values()), default=self.start)

    def deliveries_per_s(self) -> float:
        return self.deliveries / max(1e-9, self.last_arrival() - self.start)

    def events_per_s(self) -> float:
        """Events that reached every subscription of their topic, per second of the whole phase."""
        return self.events / max(1e-9, self.last_arrival() - self.start)

    def accepted_per_s(self) -> float:
        return self.events / max(1e-9, self.publish_end - self.start)

    def latencies_ms(self) -> list[float]:
        return [(a[eid][0] - self.sent[eid][0]) * 1000 for a in self.arrivals for eid in a if eid in self.sent]


class LoadRun:
    """The sandbox, its topics and subscriptions, the receiver process and the publisher processes."""

    def __init__(self, *, publishers: int, topics: int, subscriptions: int, pad: int = 200,
                 folder: str | None = None, budget: float = 60.0, log=print) -> None:
        self.deadline = Deadline(budget)
        self.log = log
        self.folder = folder or tempfile.mkdtemp(prefix="bench-load-")
        self.n_publishers, self.n_topics, self.n_subs = publishers, topics, subscriptions
        self.pad = pad
        self.procs: list[subprocess.Popen] = []
        self.receivers_proc: subprocess.Popen | None = None
        self.target = None
        self.rss: RssSampler | None = None

    # -- set-up and tear-down -----------------------------------------------------------------------------
    def __enter__(self) -> "LoadRun":
        try:
            self._setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _setup(self) -> None:
        import logging
        # the receivers are http:// on loopback, which the sandbox accepts with a notice per subscription
        notices = logging.getLogger("amlevents_kit.sandbox.eventgrid")
        level = notices.level
        notices.setLevel(logging.ERROR)
        try:
            self._create()
        finally:
            notices.setLevel(level)

    def _create(self) -> None:
        from azure.mgmt.eventgrid import EventGridManagementClient
        from azure.mgmt.eventgrid.models import (EventSubscription, EventSubscriptionFilter, Topic,
                                                 WebHookEventSubscriptionDestination)
        from amlevents_kit import connect

        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.receivers_proc = subprocess.Popen([sys.executable, "-c", RECEIVERS, str(self.n_topics * self.n_subs)],
                                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.target = target = connect(folder=os.path.join(self.folder, "sandbox"))
        sandbox = self.sandbox = target.sandbox
        sandbox.backends["resources"].register(target.subscription_id, "Microsoft.EventGrid")
        sandbox.clock.advance(seconds=5)
        self.server = target.serve()
        self.engine = sandbox.service("delivery")
        client = target.client(EventGridManagementClient)
        urls = json.loads(self._readline(self.receivers_proc, "the receivers"))
        self.topics: list[dict] = []
        self.sub_ids: list[str] = []  # receiver index -> subscription id
        for t in range(self.n_topics):
            name = f"load-topic-{t}"
            created = client.topics.begin_create_or_update(target.resource_group, name,
                                                           Topic(location=target.location)).result()
            key = client.topics.list_shared_access_keys(target.resource_group, name).key1
            subs = []
            for s in range(self.n_subs):
                url = urls[t * self.n_subs + s]
                batch = 1 if s == 0 else BATCHED
                sub = client.event_subscriptions.begin_create_or_update(created.id, f"load-sub-{t}-{s}", EventSubscription(
                    destination=WebHookEventSubscriptionDestination(endpoint_url=url, max_events_per_batch=batch,
                                                                    preferred_batch_size_in_kilobytes=1024),
                    filter=EventSubscriptionFilter(included_event_types=[EVENT_TYPE]))).result()
                if sub.provisioning_state != "Succeeded":
                    raise SystemExit(f"subscription {sub.name}: {sub.provisioning_state}")
                subs.append({"url": url, "max_events_per_batch": batch, "id": sub.id})
                self.sub_ids.append(sub.id)
            self.topics.append({"id": created.id, "endpoint": created.endpoint, "key": key, "subscriptions": subs})
        for p in range(self.n_publishers):
            proc = subprocess.Popen([sys.executable, "-c", PUBLISHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    text=True, env=env)
            proc.stdin.write(json.dumps({"publisher": p, "topics": self.topics, "ca": self.server["ca_path"],
                                         "pad": self.pad, "event_type": EVENT_TYPE}) + "\n")
            proc.stdin.flush()
            self.procs.append(proc)
        for proc in self.procs:
            if self._readline(proc, "a publisher").strip() != "ready":
                raise SystemExit("a publisher did not start")
        self.rss = RssSampler()

    def close(self) -> None:
        for proc in self.procs:
            try:
                proc.stdin.write(json.dumps({"phase": "quit"}) + "\n")
                proc.stdin.close()
            except (OSError, ValueError):
                pass
        for proc in [*self.procs, *([self.receivers_proc] if self.receivers_proc else [])]:
            try:
                if proc is self.receivers_proc:
                    proc.stdin.close()
                proc.wait(timeout=10)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
        self.procs, self.receivers_proc = [], None
        if self.rss is not None:
            self.rss.close()
        if self.target is not None:
            self.target.sandbox.close()
            self.target = None

    def _readline(self, proc: subprocess.Popen, what: str) -> str:
        """One line from a child, or SystemExit when the run's budget is spent."""
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.deadline.left())
        if not box or not box[0]:
            raise SystemExit(f"{what} did not answer within the time budget (exit code {proc.poll()})")
        return box[0]

    # -- one phase -------------------------------------------------------------------------------------------
    def run(self, name: str, mode: str, phase: str, **job) -> Phase:
        """Let every publisher run the job at once; wait until every event reached every subscription."""
        before = self._engine_delivered() if mode == "eventgrid" else 0
        self._dump()  # start from empty arrival books
        out = Phase(name)
        rss0 = self.rss.reset()
        out.start = time.perf_counter()
        for p, proc in enumerate(self.procs):
            body = dict(job, phase=phase, mode=mode, tag=name)
            if phase == "steady":
                body.update(rate=job["rate"] / len(self.procs), offset=p / job["rate"])
            proc.stdin.write(json.dumps(body) + "\n")
            proc.stdin.flush()
        for proc in self.procs:
            result = json.loads(self._readline(proc, f"a publisher ({name})"))
            out.sent.update(result["sent"])
            out.errors += result["errors"]
            out.start = min(out.start, result["start"])
            out.publish_end = max(out.publish_end, result["end"])
        expected = self._expected(out)
        if mode == "eventgrid":  # the engine says when it is done: every delivery recorded
            goal = before + sum(expected.values())
            while self._engine_delivered() < goal and self.deadline.left() > 0:
                time.sleep(0.02)
        arrivals = [dict() for _ in self.sub_ids]
        while True:  # the receivers' books (a 2xx is recorded by the engine just after the handler ran)
            for mine, more in zip(arrivals, self._dump()):
                for eid, (t, n) in more.items():
                    hit = mine.get(eid)
                    mine[eid] = [t, n] if hit is None else [min(hit[0], t), hit[1] + n]
            if all(len(a) >= expected[i] for i, a in enumerate(arrivals)) or self.deadline.left() <= 0:
                break
            time.sleep(0.05)
        out.arrivals = arrivals
        out.rss_growth = self.rss.peak - rss0
        for i, sub_id in enumerate(self.sub_ids):
            name_ = sub_id.rsplit("/", 1)[-1]
            wanted = {eid for eid, (_, t) in out.sent.items() if t == i // self.n_subs}
            got = arrivals[i]
            out.lost[name_] = len(wanted - set(got))
            out.duplicates[name_] = sum(n - 1 for _, n in got.values())
            out.deliveries += len(wanted & set(got))
        return out

    def _expected(self, phase: Phase) -> dict[int, int]:
        per_topic: dict[int, int] = {}
        for _, t in phase.sent.values():
            per_topic[t] = per_topic.get(t, 0) + 1
        return {i: per_topic.get(i // self.n_subs, 0) for i in range(len(self.sub_ids))}

    def _engine_delivered(self) -> int:
        return self.engine.stats()["delivered"]

    def _dump(self) -> list[dict]:
        self.receivers_proc.stdin.write("dump\n")
        self.receivers_proc.stdin.flush()
        return json.loads(self._readline(self.receivers_proc, "the receivers"))

    # -- what the sandbox says -----------------------------------------------------------------------------
    def reconciliation(self) -> dict[str, dict]:
        """The engine's stats per subscription (published = delivered + dead-lettered + dropped + pending)."""
        return {sid.rsplit("/", 1)[-1]: self.engine.stats(sid) for sid in self.sub_ids}

    def outbox(self) -> dict[str, int]:
        """Rows in the outbox and the bytes the sandbox database takes (with its WAL)."""
        rows = self.sandbox.store.execute("SELECT COUNT(*) FROM delivery_items").fetchone()[0]
        folder = Path(self.sandbox.folder)
        size = sum(p.stat().st_size for p in folder.glob("sandbox.db*") if p.is_file())
        return {"rows": rows, "bytes": size}


def run_all(args: argparse.Namespace, log=print) -> dict:
    """The whole benchmark; returns its figures (the pytest load test calls this with small numbers)."""
    with LoadRun(publishers=args.publishers, topics=args.topics, subscriptions=args.subscriptions,
                 pad=args.pad, budget=args.budget, log=log) as run:
        log(f"# load benchmark, {time.strftime('%Y-%m-%d %H:%M')}, python {sys.version.split()[0]}, "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.publishers} publisher processes, "
            f"{args.topics} topics x {args.subscriptions} webhook subscriptions (receivers in one process), "
            f"sandbox at {run.server['base_url']}")
        warm = max(args.batch, 20)
        run.run("warm", "eventgrid", "burst", events=warm, batch=args.batch)
        run.run("warmraw", "direct", "burst", events=warm, batch=args.batch)
        outbox0 = run.outbox()
        rss_base = run.rss.now()
        small = run.run("small", "eventgrid", "burst", events=max(1, args.burst // args.small), batch=args.batch)
        small_growth = run.rss.peak - rss_base
        burst = run.run("burst", "eventgrid", "burst", events=args.burst, batch=args.batch)
        burst_growth = run.rss.peak - rss_base
        outbox1 = run.outbox()
        burst_raw = run.run("burstraw", "direct", "burst", events=args.burst, batch=args.batch)
        steady = run.run("steady", "eventgrid", "steady", rate=args.rate, seconds=args.seconds)
        steady_raw = run.run("steadyraw", "direct", "steady", rate=args.rate, seconds=args.seconds)
        stats = run.reconciliation()
        outbox2 = run.outbox()
        rss_end = run.rss.now()
        event_bytes = len(json.dumps({"id": "burst-p0-0", "subject": "load/0/0", "eventType": EVENT_TYPE,
                                      "eventTime": "2026-01-01T00:00:00.000000+00:00",
                                      "data": {"seq": 0, "pad": "x" * args.pad}, "dataVersion": "1",
                                      "metadataVersion": "1", "topic": run.topics[0]["id"]}))
    phases = [small, burst, burst_raw, steady, steady_raw]
    burst_deliveries = burst.deliveries
    return {
        "phases": {p.name: p for p in phases}, "stats": stats,
        "lost": {p.name: sum(p.lost.values()) for p in phases},
        "duplicates": {p.name: sum(p.duplicates.values()) for p in phases},
        "errors": {p.name: p.errors for p in phases if p.errors},
        "rss": {"small_growth": small_growth, "burst_growth": burst_growth, "base": rss_base, "end": rss_end,
                "small_events": small.events, "burst_events": burst.events},
        "outbox": {"before": outbox0, "after_burst": outbox1, "end": outbox2,
                   "burst_bytes_per_delivery": (outbox1["bytes"] - outbox0["bytes"]) / max(1, burst_deliveries
                                                                                             + small.deliveries),
                   "event_bytes": event_bytes},
        "pending": sum(s["pending"] for s in stats.values()),
        "reconciled": all(s["published"] == s["delivered"] + s["dead_lettered"] + s["dropped"] + s["pending"]
                          for s in stats.values()),
    }


def report(figures: dict, args: argparse.Namespace, log=print) -> bool:
    """Print the figures; True when nothing was lost and everything reconciles."""
    ph = figures["phases"]
    mib = 1024 * 1024
    b, br, s, sr, sm = ph["burst"], ph["burstraw"], ph["steady"], ph["steadyraw"], ph["small"]
    log(f"\n## burst: {args.publishers} x {args.burst} events, {args.batch} per POST "
        f"({b.events} events -> {b.deliveries} deliveries)")
    log(f"{'':34}{'sandbox':>12}{'baseline':>12}{'ratio':>8}")
    log(f"{'events/s (publish -> all handlers)':34}{b.events_per_s():>12,.0f}{br.events_per_s():>12,.0f}"
        f"{b.events_per_s() / br.events_per_s():>8.2f}")
    log(f"{'deliveries/s (publish -> handler)':34}{b.deliveries_per_s():>12,.0f}{br.deliveries_per_s():>12,.0f}"
        f"{b.deliveries_per_s() / br.deliveries_per_s():>8.2f}")
    log(f"{'events/s accepted by the endpoint':34}{b.accepted_per_s():>12,.0f}{'':>12}{'':>8}"
        f"   (baseline: the publishers' direct POSTs)")
    lat, raw = s.latencies_ms(), sr.latencies_ms()
    log(f"\n## steady: {args.rate:g} events/s for {args.seconds:g} s, one event per POST "
        f"({s.events} events -> {s.deliveries} deliveries)")
    log(f"{'':34}{'sandbox':>12}{'baseline':>12}{'ratio':>8}")
    for q in (50, 99):
        a, c = percentile(lat, q), percentile(raw, q)
        log(f"{f'p{q} publish -> handler (ms)':34}{a:>12.2f}{c:>12.2f}{a / c:>8.1f}")
    log(f"{'max (ms)':34}{max(lat, default=0):>12.2f}{max(raw, default=0):>12.2f}")
    rss = figures["rss"]
    log(f"\n## memory of the sandbox process (peak RSS over {rss['base'] / mib:.0f} MiB after warm-up)")
    log(f"{'':34}{'burst':>12}{'small':>12}{'ratio':>8}")
    log(f"{'events':34}{rss['burst_events']:>12,}{rss['small_events']:>12,}"
        f"{rss['burst_events'] / max(1, rss['small_events']):>8.1f}")
    log(f"{'peak RSS growth (MiB)':34}{rss['burst_growth'] / mib:>12.1f}{rss['small_growth'] / mib:>12.1f}"
        f"{rss['burst_growth'] / max(1, rss['small_growth']):>8.1f}")
    log(f"{'RSS at the end (MiB)':34}{rss['end'] / mib:>12.1f}")
    ob = figures["outbox"]
    log(f"\n## outbox (SQLite, with its WAL)")
    log(f"{'rows (one per event x subscription)':44}{ob['end']['rows']:>12,}")
    log(f"{'database size (MiB)':44}{ob['end']['bytes'] / mib:>12.1f}   before the bursts "
        f"{ob['before']['bytes'] / mib:.1f}")
    log(f"{'bytes per delivery (bursts) / event bytes':44}{ob['burst_bytes_per_delivery']:>12,.0f}"
        f"{ob['event_bytes']:>8,}  ratio {ob['burst_bytes_per_delivery'] / ob['event_bytes']:.1f}")
    log(f"\n## reconciliation per subscription (engine) and what the receivers saw")
    log(f"{'subscription':16}{'published':>10}{'delivered':>10}{'dead-let.':>10}{'dropped':>9}{'pending':>9}"
        f"{'dup.(engine)':>13}{'lost':>6}{'dup.(recv)':>11}")
    for name, st in figures["stats"].items():
        lost = sum(p.lost.get(name, 0) for p in ph.values())
        dups = sum(p.duplicates.get(name, 0) for p in ph.values())
        log(f"{name:16}{st['published']:>10,}{st['delivered']:>10,}{st['dead_lettered']:>10}{st['dropped']:>9}"
            f"{st['pending']:>9}{st['duplicates']:>13}{lost:>6}{dups:>11}")
    for name, errors in figures["errors"].items():
        log(f"errors in {name}: {len(errors)}, e.g. {errors[:3]}")
    ok = not any(figures["lost"].values()) and figures["reconciled"] and figures["pending"] == 0 \
        and not figures["errors"]
    log(f"\nnothing lost: {'YES' if ok else 'NO'} (lost per phase {figures['lost']}, duplicates "
        f"{figures['duplicates']}); load average after: {os.getloadavg()[0]:.1f} "
        "(the machine is shared: compare ratios, not absolutes)")
    return ok


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--publishers", type=int, default=4, help="publisher processes")
    ap.add_argument("--topics", type=int, default=3, help="custom topics")
    ap.add_argument("--subscriptions", type=int, default=2, help="webhook subscriptions per topic")
    ap.add_argument("--burst", type=int, default=1000, help="events per publisher in the burst")
    ap.add_argument("--batch", type=int, default=50, help="events per publish POST in the burst")
    ap.add_argument("--small", type=int, default=5, help="the memory baseline's burst is this many times smaller")
    ap.add_argument("--rate", type=float, default=200.0, help="steady stream, events/s from all publishers")
    ap.add_argument("--seconds", type=float, default=4.0, help="length of the steady stream")
    ap.add_argument("--pad", type=int, default=200, help="characters of padding in each event's data")
    ap.add_argument("--budget", type=float, default=55.0, help="seconds the whole run may take")
    return ap.parse_args(argv)


def main() -> None:
    args = parse()
    started = time.monotonic()
    try:
        figures = run_all(args)
    except SystemExit as exc:  # a deadline: say so and fail, never hang
        print(f"load benchmark stopped: {exc}")
        sys.exit(1)
    ok = report(figures, args)
    print(f"wall time {time.monotonic() - started:.1f} s (budget {args.budget:g} s)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
