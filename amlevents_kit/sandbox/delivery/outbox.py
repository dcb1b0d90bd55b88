"""The persisted outbox: one row per (event, subscription), claimed with leases, in the sandbox database.

A row is written before anything is sent and only leaves the ``pending`` state when the event is
delivered, dead-lettered or dropped (with its reason and the event kept). An engine claims rows by
writing its owner name and a lease end on them; a restarted engine gives back the rows of an owner
that is gone, so a ``kill -9`` in the middle of a delivery loses nothing (it may deliver twice:
at-least-once, and the interrupted attempt is in the log).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from ..arm.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS delivery_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id TEXT NOT NULL,      -- lower-cased ARM id of the event subscription
    event_id TEXT NOT NULL,
    event TEXT NOT NULL,                -- the event as published (JSON)
    state TEXT NOT NULL,                -- pending | deadlettering | delivered | deadlettered | dropped
    attempts INTEGER NOT NULL DEFAULT 0,
    publish_time REAL NOT NULL,         -- sandbox time
    next_at REAL NOT NULL,              -- sandbox time the next step is due
    lease_owner TEXT,
    lease_until REAL,                   -- wall time
    last_status INTEGER,
    last_outcome TEXT,
    last_attempt_time REAL,
    reason TEXT,
    location TEXT,                      -- dead-letter file or queue the event ended in
    dl_failing_since REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS delivery_items_due ON delivery_items(state, next_at);
CREATE INDEX IF NOT EXISTS delivery_items_sub ON delivery_items(subscription_id, state, next_at);
CREATE INDEX IF NOT EXISTS delivery_items_event ON delivery_items(event_id);
CREATE INDEX IF NOT EXISTS delivery_items_lease ON delivery_items(lease_owner);
CREATE TABLE IF NOT EXISTS delivery_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    time REAL NOT NULL,                 -- sandbox time
    status INTEGER,
    outcome TEXT NOT NULL,
    duration_ms REAL,
    error TEXT,
    batch TEXT
);
CREATE INDEX IF NOT EXISTS delivery_attempts_item ON delivery_attempts(item_id);
CREATE INDEX IF NOT EXISTS delivery_attempts_interrupted ON delivery_attempts(item_id) WHERE outcome = 'Interrupted';
CREATE TABLE IF NOT EXISTS delivery_subscriptions (
    subscription_id TEXT PRIMARY KEY,   -- lower-cased
    body TEXT NOT NULL,                 -- the ARM body last submitted with
    updated REAL NOT NULL,
    live INTEGER NOT NULL DEFAULT 0     -- 1: an ARM resource in the store, read afresh at each attempt
);
CREATE TABLE IF NOT EXISTS delivery_validations (
    subscription_id TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    code TEXT NOT NULL,
    token TEXT NOT NULL,
    state TEXT NOT NULL,                -- Succeeded | AwaitingManualAction | Failed
    message TEXT NOT NULL,
    created REAL NOT NULL               -- sandbox time
);
CREATE TABLE IF NOT EXISTS delivery_queue_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    destination_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    queue TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    properties TEXT NOT NULL,
    enqueued_time REAL NOT NULL,
    destination_id TEXT                 -- the queue's ARM id (a storage queue: account/queueServices/default/queues/name)
);
CREATE TABLE IF NOT EXISTS delivery_functions (
    resource_id TEXT PRIMARY KEY,       -- lower-cased Microsoft.Web/sites/functions id
    url TEXT NOT NULL
);
"""

#: Columns added after the first release, with how to fill them in an older database.
MIGRATIONS = (
    ("delivery_subscriptions", "live", "INTEGER NOT NULL DEFAULT 0", None),
    ("delivery_queue_messages", "destination_id", "TEXT",
     "UPDATE delivery_queue_messages SET destination_id = CASE WHEN destination_type = 'StorageQueue' "
     "THEN rtrim(resource_id, '/') || '/queueServices/default/queues/' || queue ELSE resource_id END "
     "WHERE destination_id IS NULL"),
)

ACTIVE = ("pending", "deadlettering")
FINAL = ("delivered", "deadlettered", "dropped")


@dataclass
class Item:
    """One claimed outbox row."""

    id: int
    subscription_id: str
    event_id: str
    event: dict
    state: str
    attempts: int
    publish_time: float
    next_at: float
    last_status: int | None
    last_outcome: str | None
    last_attempt_time: float | None
    reason: str | None
    dl_failing_since: float | None


_ITEM_COLUMNS = ("id, subscription_id, event_id, event, state, attempts, publish_time, next_at, last_status, "
                 "last_outcome, last_attempt_time, reason, dl_failing_since")


def _item(row: tuple) -> Item:
    values = list(row)
    values[3] = json.loads(values[3])
    return Item(*values)


def new_owner() -> str:
    """A lease owner name: host, process id and a token for this engine."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_alive(owner: str) -> bool:
    try:
        host, pid, _ = owner.split(":")
    except ValueError:
        return False
    if host != socket.gethostname():
        return True  # another machine: only the lease end can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


class Outbox:
    """SQL over the delivery tables; every method is one short transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # In-process writers queue here instead of in SQLite's busy handler, which sleeps in steps of
        # up to 100 ms when two connections want the write lock at once (latency spikes).
        self._write = threading.Lock()
        self._rotation = 0
        store.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Add the columns a database made by an older version lacks (another process may race us)."""
        for table, column, kind, fill in MIGRATIONS:
            columns = {r[1] for r in self.store.execute(f"PRAGMA table_info({table})").fetchall()}
            if column in columns:
                continue
            try:
                self.store.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc).lower():
                    raise
            if fill:
                self.store.execute(fill)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._write, self.store.transaction() as db:
            yield db

    # -- writing --------------------------------------------------------------------------------
    def subscription_text(self, subscription_id: str) -> str | None:
        row = self.store.execute("SELECT body FROM delivery_subscriptions WHERE subscription_id = ?",
                                 (subscription_id.lower(),)).fetchone()
        return row[0] if row else None

    def subscription_body(self, subscription_id: str) -> dict | None:
        text = self.subscription_text(subscription_id)
        return json.loads(text) if text is not None else None

    def add(self, rows: list[tuple[str, str, str, str, float, str | None]],
            subscriptions: list[tuple] = ()) -> None:
        """Insert (subscription_id, event_id, event_json, state, now, reason) rows in one transaction,
        with the (subscription_id, body_json, now[, live]) bodies they are delivered with."""
        with self._transaction() as db:
            if subscriptions:
                db.executemany(
                    "INSERT INTO delivery_subscriptions (subscription_id, body, updated, live) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(subscription_id) DO UPDATE SET body = excluded.body, updated = excluded.updated, "
                    "live = excluded.live",
                    [(sub[0].lower(), sub[1], sub[2], int(bool(sub[3])) if len(sub) > 3 else 0)
                     for sub in subscriptions])
            db.executemany(
                "INSERT INTO delivery_items (subscription_id, event_id, event, state, publish_time, next_at, "
                "reason, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(s.lower(), e, ev, st, now, now, reason, None if st in ACTIVE else now)
                 for s, e, ev, st, now, reason in rows])

    def claim(self, owner: str, now: float, lease_seconds: float, limit: int,
              limit_for: Callable[[str], int] | None = None) -> tuple[list[Item], bool]:
        """Lease up to ``limit`` rows whose next step is due at sandbox time ``now``.

        With ``limit_for``, each subscription gets at most ``limit_for(subscription_id)`` rows: enough to
        keep the senders busy, few enough that a round stays short and a killed engine leaves few
        deliveries in doubt. Also returns whether a limit held rows back (more may be due).
        """
        wall = time.time()
        due = ("state IN ('pending', 'deadlettering') AND next_at <= ? AND (lease_until IS NULL OR lease_until < ?)")
        if self.store.execute(f"SELECT 1 FROM delivery_items WHERE {due} LIMIT 1", (now, wall)).fetchone() is None:
            return [], False  # nothing due: no write transaction
        limits: dict[str, int] = {}
        saturated = False
        if limit_for is not None:
            subs = [r[0] for r in self.store.execute("SELECT subscription_id FROM delivery_subscriptions").fetchall()]
            if subs:  # start with a different subscription each round, so none waits behind the others
                self._rotation = (self._rotation + 1) % len(subs)
                subs = subs[self._rotation:] + subs[:self._rotation]
            for sub in subs:
                limits[sub] = limit_for(sub)
            saturated = any(n <= 0 for n in limits.values())
            if not any(n > 0 for n in limits.values()):
                return [], saturated  # every subscription has enough in flight: no write transaction
        with self._transaction() as db:
            rows: list[tuple] = []
            if limit_for is not None:
                for sub, cap in limits.items():  # (a pending row's subscription body is written with it)
                    if len(rows) >= limit:
                        saturated = True
                        break
                    n = min(cap, limit - len(rows))
                    if n <= 0:
                        continue
                    got = db.execute(f"SELECT {_ITEM_COLUMNS} FROM delivery_items WHERE subscription_id = ? "
                                     f"AND {due} ORDER BY next_at, id LIMIT ?", (sub, now, wall, n)).fetchall()
                    saturated = saturated or len(got) == n
                    rows += got
            else:
                rows = db.execute(f"SELECT {_ITEM_COLUMNS} FROM delivery_items WHERE {due} ORDER BY next_at, id "
                                  "LIMIT ?", (now, wall, limit)).fetchall()
                saturated = len(rows) == limit
            if rows:
                db.executemany("UPDATE delivery_items SET lease_owner = ?, lease_until = ? WHERE id = ?",
                               [(owner, wall + lease_seconds, r[0]) for r in rows])
        return [_item(r) for r in rows], saturated

    def record(self, owner: str, updates: list[dict], attempts: list[tuple]) -> None:
        """Write the results of a round: item updates (only if still leased by us) and attempt rows."""
        with self._transaction() as db:
            if attempts:
                db.executemany(
                    "INSERT INTO delivery_attempts (item_id, attempt, time, status, outcome, duration_ms, error, batch)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", attempts)
            groups: dict[tuple[str, ...], list[list]] = {}
            for u in updates:
                keys = tuple(sorted(k for k in u if k != "id"))
                groups.setdefault(keys, []).append([u[k] for k in keys] + [u["id"], owner])
            for keys, params in groups.items():
                sets = ", ".join(f"{k} = ?" for k in keys)
                db.executemany(f"UPDATE delivery_items SET {sets}, lease_owner = NULL, lease_until = NULL "
                               "WHERE id = ? AND lease_owner = ? AND state IN ('pending', 'deadlettering')", params)

    def release(self, owner: str) -> None:
        self.store.execute("UPDATE delivery_items SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
                           (owner,))

    def recover(self, own: str, now: float) -> int:
        """Give back rows leased by a dead process or whose lease ran out; log the interrupted attempt.

        The interrupted attempt counts: ``attempts`` goes up by one, so the resend is logged as the next
        attempt and carries a higher ``aeg-delivery-count`` (the endpoint may have seen the first one).
        """
        wall = time.time()
        owners = [r[0] for r in self.store.execute(
            "SELECT DISTINCT lease_owner FROM delivery_items WHERE lease_owner IS NOT NULL").fetchall()]
        if not owners:
            return 0
        dead = {o for o in owners if o != own and not _owner_alive(o)}
        with self._transaction() as db:
            rows = [(i, attempts, state) for i, attempts, state, owner, until in db.execute(
                "SELECT id, attempts, state, lease_owner, lease_until FROM delivery_items "
                "INDEXED BY delivery_items_lease WHERE lease_owner IS NOT NULL").fetchall()
                if owner in dead or until < wall]
            if not rows:
                return 0
            db.executemany(
                "INSERT INTO delivery_attempts (item_id, attempt, time, status, outcome, duration_ms, error, batch) "
                "VALUES (?, ?, ?, NULL, 'Interrupted', NULL, ?, NULL)",
                [(r[0], r[1] + 1, now, "the engine holding this delivery stopped before recording its result; "
                  "the endpoint may have received it (at-least-once: it is sent again)")
                 for r in rows if r[2] == "pending"])
            db.executemany("UPDATE delivery_items SET lease_owner = NULL, lease_until = NULL, next_at = MIN(next_at, ?), "
                           "attempts = attempts + (CASE WHEN state = 'pending' THEN 1 ELSE 0 END) WHERE id = ?",
                           [(now, r[0]) for r in rows])
        return len(rows)

    def forget(self, subscription_id: str, now: float, reason: str) -> int:
        cur = self.store.execute(
            "UPDATE delivery_items SET state = 'dropped', reason = ?, finished_at = ?, lease_owner = NULL, "
            "lease_until = NULL WHERE subscription_id = ? AND state IN ('pending', 'deadlettering')",
            (reason, now, subscription_id.lower()))
        return cur.rowcount

    def wake(self, subscription_id: str, now: float, held_reason: str) -> int:
        """Make a subscription's deliveries held with ``held_reason`` due now (the wait is over);
        deliveries waiting for a retry keep their time."""
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE delivery_items SET next_at = MIN(next_at, ?), reason = NULL WHERE subscription_id = ? "
                "AND state = 'pending' AND reason = ?", (now, subscription_id.lower(), held_reason))
            return cur.rowcount

    def enqueue_messages(self, rows: list[tuple]) -> None:
        """Insert (destination_type, resource_id, queue, subscription_id, item_id, body, properties,
        enqueued_time, destination_id) rows."""
        if rows:
            with self._transaction() as db:
                db.executemany(
                    "INSERT INTO delivery_queue_messages (destination_type, resource_id, queue, subscription_id, "
                    "item_id, body, properties, enqueued_time, destination_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows)

    # -- reading ---------------------------------------------------------------------------------
    def next_due(self) -> float | None:
        row = self.store.execute(
            "SELECT MIN(next_at) FROM delivery_items WHERE state IN ('pending', 'deadlettering')").fetchone()
        return row[0] if row else None

    def counts(self, subscription_id: str | None = None) -> dict[str, int]:
        where, args = ("WHERE subscription_id = ?", (subscription_id.lower(),)) if subscription_id else ("", ())
        rows = self.store.execute(f"SELECT state, COUNT(*) FROM delivery_items {where} GROUP BY state", args)
        return {state: n for state, n in rows.fetchall()}

    def possible_duplicates(self, subscription_id: str | None = None) -> int:
        """Interrupted attempts of events that were then sent again: each may be a duplicate."""
        sql = ("SELECT COUNT(*) FROM delivery_attempts a JOIN delivery_items i ON i.id = a.item_id "
               "WHERE a.outcome = 'Interrupted' AND i.state != 'pending'")
        args: tuple = ()
        if subscription_id:
            sql += " AND i.subscription_id = ?"
            args = (subscription_id.lower(),)
        return self.store.execute(sql, args).fetchone()[0]

    def items(self, *, subscription_id: str | None = None, event_id: str | None = None,
              state: str | None = None) -> list[dict[str, Any]]:
        sql = ("SELECT id, subscription_id, event_id, state, attempts, publish_time, next_at, last_status, "
               "last_outcome, last_attempt_time, reason, location, finished_at, event FROM delivery_items WHERE 1=1")
        args: list = []
        for column, value in (("subscription_id", subscription_id and subscription_id.lower()),
                              ("event_id", event_id), ("state", state)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        sql += " ORDER BY id"
        names = ("item", "subscription_id", "event_id", "state", "attempts", "publish_time", "next_at",
                 "last_status", "last_outcome", "last_attempt_time", "reason", "location", "finished_at", "event")
        out = []
        for row in self.store.execute(sql, args).fetchall():
            d = dict(zip(names, row))
            d["event"] = json.loads(d["event"])
            out.append(d)
        return out

    def attempts(self, item_ids: Iterable[int]) -> dict[int, list[tuple]]:
        ids = list(item_ids)
        out: dict[int, list[tuple]] = {i: [] for i in ids}
        for chunk in range(0, len(ids), 500):
            part = ids[chunk:chunk + 500]
            rows = self.store.execute(
                "SELECT item_id, attempt, time, status, outcome, duration_ms, error, batch FROM delivery_attempts "
                f"WHERE item_id IN ({','.join('?' * len(part))}) ORDER BY id", part).fetchall()
            for r in rows:
                out[r[0]].append(r[1:])
        return out

    # -- validations and function apps -------------------------------------------------------------
    def set_validation(self, subscription_id: str, endpoint: str, code: str, token: str, state: str,
                       message: str, now: float) -> None:
        self.store.execute(
            "INSERT INTO delivery_validations (subscription_id, endpoint, code, token, state, message, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(subscription_id) DO UPDATE SET endpoint = excluded.endpoint, "
            "code = excluded.code, token = excluded.token, state = excluded.state, message = excluded.message, "
            "created = excluded.created",
            (subscription_id.lower(), endpoint, code, token, state, message, now))

    def update_validation(self, subscription_id: str, state: str, message: str) -> None:
        self.store.execute("UPDATE delivery_validations SET state = ?, message = ? WHERE subscription_id = ?",
                           (state, message, subscription_id.lower()))

    def validation(self, subscription_id: str) -> dict | None:
        row = self.store.execute(
            "SELECT subscription_id, endpoint, code, token, state, message, created FROM delivery_validations "
            "WHERE subscription_id = ?", (subscription_id.lower(),)).fetchone()
        if row is None:
            return None
        return dict(zip(("subscription_id", "endpoint", "code", "token", "state", "message", "created"), row))

    def awaiting_validations(self, older_than: float) -> list[str]:
        return [r[0] for r in self.store.execute(
            "SELECT subscription_id FROM delivery_validations WHERE state = 'AwaitingManualAction' AND created < ?",
            (older_than,)).fetchall()]

    def set_function(self, resource_id: str, url: str) -> None:
        self.store.execute("INSERT INTO delivery_functions (resource_id, url) VALUES (?, ?) "
                           "ON CONFLICT(resource_id) DO UPDATE SET url = excluded.url", (resource_id.lower(), url))

    def function_url(self, resource_id: str) -> str | None:
        row = self.store.execute("SELECT url FROM delivery_functions WHERE resource_id = ?",
                                 (resource_id.lower(),)).fetchone()
        return row[0] if row else None

    def queue_messages(self, *, queue: str | None = None, subscription_id: str | None = None) -> list[dict]:
        """Messages of one queue: ``queue`` is the destination's ARM id, or a bare queue name when only
        one queue has that name (a ValueError lists the ids when several do)."""
        sql = ("SELECT id, destination_type, resource_id, queue, subscription_id, body, properties, enqueued_time, "
               "destination_id FROM delivery_queue_messages WHERE 1=1")
        args: list = []
        if queue is not None and queue.startswith("/"):
            sql += " AND lower(destination_id) = ?"
            args.append(queue.rstrip("/").lower())
        elif queue is not None:
            ids = sorted({str(r[0]).lower(): str(r[0]) for r in self.store.execute(
                "SELECT DISTINCT destination_id FROM delivery_queue_messages WHERE queue = ?",
                (queue,)).fetchall()}.values())
            if len(ids) > 1:
                raise ValueError(f"queue: {queue!r} names {len(ids)} queues ({', '.join(ids)}); pass the ARM id of "
                                 "the one to read")
            sql += " AND queue = ?"
            args.append(queue)
        if subscription_id is not None:
            sql += " AND subscription_id = ?"
            args.append(subscription_id.lower())
        out = []
        for r in self.store.execute(sql + " ORDER BY id", args).fetchall():
            out.append({"id": r[0], "destination_type": r[1], "resource_id": r[2], "queue": r[3],
                        "destination_id": r[8], "subscription_id": r[4], "body": json.loads(r[5]),
                        "properties": json.loads(r[6]), "enqueued_time": r[7]})
        return out
