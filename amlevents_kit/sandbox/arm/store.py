"""The sandbox's state: one SQLite file under the sandbox folder, shared by every process using it.

Resources are kept as their ARM JSON body, keyed by their lower-cased ARM id (ARM ids are
case-insensitive). Providers that need more than that create their own tables with ``execute``.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    id TEXT PRIMARY KEY,          -- lower-cased ARM id
    type TEXT NOT NULL,           -- e.g. Microsoft.EventGrid/eventSubscriptions, lower-cased
    parent TEXT NOT NULL,         -- lower-cased id of the scope or parent resource
    body TEXT NOT NULL,           -- the ARM JSON body, original casing
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_type ON resources(type);
CREATE INDEX IF NOT EXISTS resources_parent ON resources(parent);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Store:
    """Thread-safe access to the sandbox database (one connection per thread, WAL mode)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._listeners: dict[str, list[Callable[[], None]]] = defaultdict(list)
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.executescript(SCHEMA)

    # -- connections -------------------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            self._local.depth = 0
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                with contextlib.suppress(Exception):
                    conn.close()
            self._all.clear()
        self._local = threading.local()

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, params)

    def executescript(self, sql: str) -> None:
        self.db.executescript(sql)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE); nested uses join the outer one."""
        db = self.db
        if self._local.depth:
            self._local.depth += 1
            try:
                yield db
            finally:
                self._local.depth -= 1
            return
        db.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")
        finally:
            self._local.depth = 0

    # -- in-process notifications -------------------------------------------------------------
    def listeners(self, topic: str) -> list[Callable[[], None]]:
        return self._listeners[topic]

    def on(self, topic: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` when this process changes ``topic`` (e.g. the clock moved)."""
        self._listeners[topic].append(callback)

    # -- resources ------------------------------------------------------------------------------
    def get(self, resource_id: str) -> dict[str, Any] | None:
        row = self.execute("SELECT body FROM resources WHERE id = ?", (resource_id.lower(),)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, resource_id: str, resource_type: str, body: dict[str, Any], *, parent: str | None = None) -> dict:
        now = time.time()
        parent_id = (parent if parent is not None else resource_id.rsplit("/", 2)[0]).lower()
        self.execute(
            "INSERT INTO resources (id, type, parent, body, created, updated) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET body = excluded.body, updated = excluded.updated",
            (resource_id.lower(), resource_type.lower(), parent_id, json.dumps(body), now, now))
        return body

    def delete(self, resource_id: str) -> bool:
        """Delete a resource and everything under it; True if it existed."""
        rid = resource_id.lower()
        with self.transaction():
            cur = self.execute("DELETE FROM resources WHERE id = ?", (rid,))
            existed = cur.rowcount > 0
            self.execute("DELETE FROM resources WHERE id LIKE ? ESCAPE '\\'", (_like_prefix(rid + "/"),))
        return existed

    def list(self, *, type: str | None = None, parent: str | None = None, under: str | None = None) -> list[dict]:
        """Resources filtered by type, direct parent, or any id prefix (``under``), oldest first."""
        sql, args = "SELECT body FROM resources WHERE 1=1", []
        if type:
            sql += " AND type = ?"
            args.append(type.lower())
        if parent is not None:
            sql += " AND parent = ?"
            args.append(parent.lower())
        if under is not None:
            sql += " AND id LIKE ? ESCAPE '\\'"
            args.append(_like_prefix(under.lower().rstrip("/") + "/"))
        sql += " ORDER BY created, id"
        return [json.loads(r[0]) for r in self.execute(sql, args).fetchall()]

    # -- metadata -------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def delete_meta(self, key: str) -> None:
        self.execute("DELETE FROM meta WHERE key = ?", (key,))


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
