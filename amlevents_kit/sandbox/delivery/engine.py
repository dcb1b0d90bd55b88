"""The delivery engine: the sandbox's Event Grid data plane, a service named "delivery".

It keeps the rules (policy.py), the outbox (outbox.py) and the wire (transport.py) apart and only
joins them: claim what is due at sandbox time, send it, record what happened, decide what next.
A background thread does that as the sandbox clock reaches things; ``pump()`` does it at once,
in the caller's thread, so lessons and tests move the clock and watch without sleeping.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from ... import events as _events
from ...events.types import CLOUDEVENT_SCHEMA, SUBSCRIPTION_DELETED
from ..arm.errors import ArmError
from ..arm.http import Request, Response
from . import policy
from .outbox import Item, Outbox, new_owner
from .policy import Settings, SettingsError
from .transport import HttpSender, Result

if TYPE_CHECKING:
    from ..app import Sandbox

log = logging.getLogger("amlevents_kit.sandbox.delivery")
#: Store meta key: how many published events matched no subscription.
UNMATCHED = "delivery.unmatched"

DELETED_REASON = "subscription deleted"
#: Provisioning states in which a subscription's deliveries wait (its endpoint is being validated).
WAITING_STATES = ("Creating", "Updating", "AwaitingManualAction")
#: The reason a waiting delivery carries, and how often it looks again (it is woken at once when the
#: subscription settles, by ``subscription_changed``).
HELD_REASON = "AwaitingValidation: the event subscription's endpoint is being validated; delivery waits for it"
HOLD_SECONDS = 10.0

#: The origin Event Grid names in the CloudEvents abuse-protection handshake (spec §5.2, inferred).
WEBHOOK_ORIGIN = "eventgrid.azure.net"
VALIDATED_TEXT = "Webhook successfully validated as a subscription endpoint."


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of the handshake: ``Succeeded``, ``AwaitingManualAction`` or ``Failed``, and why."""

    status: str
    message: str


class DeliveryEngine:
    """Delivers events to event subscriptions' destinations, at least once, on the sandbox clock."""

    def __init__(self, sandbox: "Sandbox", *, response_timeout: float = policy.DEFAULT_RESPONSE_TIMEOUT,
                 senders: int = 8, claim_size: int = 512, poll_interval: float = 1.0,
                 require_validation: bool = True, dead_letter_delay: float = 0.0) -> None:
        self.sandbox = sandbox
        self.clock = sandbox.clock
        self.outbox = Outbox(sandbox.store)
        self.owner = new_owner()
        self.response_timeout = response_timeout
        self.claim_size = claim_size
        self.poll_interval = poll_interval
        self.require_validation = require_validation
        #: Azure writes dead letters about 5 minutes after the last attempt (AD-RETRY); 0 writes at once.
        self.dead_letter_delay = dead_letter_delay
        self._senders = senders
        self._sender: HttpSender | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._checkpointer: threading.Thread | None = None
        # Sends run on the pool while the worker claims more: in-flight counts (items, per subscription)
        # and the finished sends waiting to be recorded, all under ``_idle``.
        self._inflight = 0
        self._busy = 0
        self._inflight_by_sub: dict[str, int] = {}
        self._done: collections.deque = collections.deque()
        self._idle = threading.Condition()
        #: subscription id -> (the body text read, its Settings, provisioningState or None)
        self._settings: dict[str, tuple[str, Settings | None, str | None]] = {}
        self._remembered: dict[str, str] = {}
        self._last_housekeeping = 0.0
        self._lock = threading.Lock()
        #: Something may have become due (new rows, the clock moved, time passed, capacity freed up):
        #: only then is a claim worth a write transaction.
        self._maybe_due = True
        sandbox.store.on("clock", self._poke)

    # -- service lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Take back deliveries a stopped or killed engine left half-done, then follow the clock."""
        self.outbox.recover(self.owner, self.clock.now())
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="sandbox-delivery", daemon=True)
        self._thread.start()
        self._checkpointer = threading.Thread(target=self._checkpoint, name="sandbox-delivery-wal", daemon=True)
        self._checkpointer.start()

    def stop(self) -> None:
        """Stop the worker, let the sends in flight finish and record them, give back any lease."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.response_timeout + 5)
            self._thread = None
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=5)
            self._checkpointer = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        try:
            self._record_done()  # the sends that finished after the worker stopped
        except Exception:
            log.debug("could not record the last results", exc_info=True)
        if self._sender is not None:
            self._sender.close()
            self._sender = None
        try:
            self.outbox.release(self.owner)
        except Exception:  # the store may already be closed
            log.debug("could not release leases", exc_info=True)

    @property
    def sender(self) -> HttpSender:
        with self._lock:
            if self._sender is None:
                self._sender = HttpSender(self.response_timeout, max_connections=max(self._senders * 2, 16))
            return self._sender

    @property
    def pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._senders, thread_name_prefix="delivery-send")
            return self._pool

    # -- the contract with Microsoft.EventGrid -------------------------------------------------------
    def submit(self, events: list[dict], targets: list[tuple[dict, list[dict]]]) -> int:
        """Queue deliveries: ``targets`` = [(subscription ARM body, events that matched it)].

        Every (event, subscription) pair gets an outbox row before anything is sent; a pair that
        cannot be delivered at all (invalid body, endpoint off this machine, endpoint not validated)
        is recorded as dropped with the reason. Returns the number of rows written.
        """
        self._count_unmatched(events, targets)
        now = self.clock.now()
        rows: list[tuple] = []
        bodies: list[tuple[str, str, float]] = []
        for body, matched in targets:
            if not matched:
                continue
            reason = None
            sub_id = str((body or {}).get("id") or "unknown-subscription") if isinstance(body, dict) else "unknown"
            try:
                settings = policy.settings_from_body(body)
                reason = self._refusal(settings)
                text = json.dumps(body, sort_keys=True)
                if self._remembered.get(settings.id.lower()) != text:  # write the body only when it changed
                    # An ARM resource in the store is "live": each attempt reads it afresh, so an update
                    # of its endpoint or retry policy (or its deletion) applies to events already waiting.
                    bodies.append((settings.id, text, now, self._is_resource(settings.id)))
            except SettingsError as exc:
                reason = f"InvalidSubscription: {exc}"
            state = "pending" if reason is None else "dropped"
            if reason:
                log.warning("dropping %d event(s) for %s: %s", len(matched), sub_id, reason)
            for event in matched:
                event_id = str(event.get("id", "")) if isinstance(event, dict) else ""
                rows.append((sub_id, event_id, json.dumps(event), state, now, reason))
        if rows:
            self.outbox.add(rows, bodies)
            for sid, text, _, _ in bodies:
                self._remembered[sid.lower()] = text
                self._settings.pop(sid.lower(), None)
            self._poke()
        return len(rows)

    def subscription_changed(self, subscription_id: str) -> int:
        """Microsoft.EventGrid wrote the subscription (created, updated, validated, failed): forget what was
        read of it, and wake the deliveries that were waiting for its validation. Returns how many."""
        self._settings.pop(subscription_id.lower(), None)
        n = self.outbox.wake(subscription_id, self.clock.now(), HELD_REASON)
        if n:
            self._poke()
        return n

    def _is_resource(self, subscription_id: str) -> bool:
        return self.sandbox.store.execute("SELECT 1 FROM resources WHERE id = ?",
                                          (subscription_id.lower(),)).fetchone() is not None

    def forget(self, subscription_id: str) -> int:
        """The subscription is deleted: its pending deliveries end as dropped ("subscription deleted").

        Its validation is kept, so a SubscriptionDeletedEvent submitted afterwards still reaches the endpoint
        (sent with ``aeg-event-type: SubscriptionDeletion``).
        """
        n = self.outbox.forget(subscription_id, self.clock.now(), DELETED_REASON)
        self._settings.pop(subscription_id.lower(), None)
        return n

    def validate(self, subscription_body: dict) -> ValidationResult:
        """Run Event Grid's endpoint validation for a subscription being created or updated.

        Event Grid schema: POST a SubscriptionValidationEvent and expect ``{"validationResponse": code}``
        with 200; a 2xx without it leaves the subscription AwaitingManualAction until someone GETs the
        validationUrl (5 minutes). CloudEvents: OPTIONS with WebHook-Request-Origin, expecting
        WebHook-Allowed-Origin back. Queue-like destinations need no handshake.
        """
        now = self.clock.now()
        try:
            s = policy.settings_from_body(subscription_body)
        except SettingsError as exc:
            return ValidationResult("Failed", str(exc))
        if s.destination_type in policy.QUEUE_DESTINATIONS:
            self.outbox.set_validation(s.id, s.resource_id or "", "", "", "Succeeded", "no handshake needed", now)
            return ValidationResult("Succeeded", f"{s.destination_type} destinations need no validation handshake.")
        url = self._endpoint(s)
        if url is None:  # an Azure Function the sandbox cannot reach yet: accepted, deliveries wait for it
            message = (f"No local function app answers for {s.resource_id} yet: deliveries fail with "
                       "InvalidAzureFunctionDestination (retried every 10 minutes) until a receiver is registered "
                       "for it with receiver.register_function(target, resource_id).")
            log.warning(message)
            self.outbox.set_validation(s.id, "", "", "", "Succeeded", message, now)
            return ValidationResult("Succeeded", message)
        try:
            notice = policy.check_endpoint(url)
        except ValueError as exc:
            self.outbox.set_validation(s.id, url, "", "", "Failed", str(exc), now)
            return ValidationResult("Failed", str(exc))
        if notice:
            log.info(notice)
        code, token = str(uuid.uuid4()), uuid.uuid4().hex
        if s.schema == CLOUDEVENT_SCHEMA:
            result = self._options_handshake(url)
            status, message = result
        else:
            validation_url = self.validation_url(s, token, now)
            status, message = self._post_handshake(s, url, code, validation_url, now)
        if notice and status != "Failed":
            message = f"{message} {notice}"
        self.outbox.set_validation(s.id, url, code, token, status, message, now)
        return ValidationResult(status, message)

    # -- running deliveries -----------------------------------------------------------------------
    def pump(self, now: float | None = None) -> int:
        """Deliver everything due at sandbox time ``now`` (default: the clock) and wait for it.

        Returns how many deliveries were processed (attempted, expired, dead-lettered). Failed
        attempts are rescheduled after ``now``, so this returns once nothing more is due.
        """
        total = 0
        while True:
            at = self.clock.now() if now is None else now
            self._maybe_due = True
            n = self._process_due(at)
            total += n
            if n:
                continue
            with self._idle:
                if (self._inflight or self._busy) and not self._done:
                    self._idle.wait(timeout=self.response_timeout + 5)
                if self._inflight or self._busy or self._done:
                    continue
            return total

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                n = self._process_due(self.clock.now())
            except Exception:  # keep delivering; the error is a bug of ours and is logged
                log.exception("delivery round failed")
                n = 0
                self._stopping.wait(0.5)
            if n or self._stopping.is_set():
                continue
            if not self._wake.wait(self._idle_wait()):
                self._maybe_due = True  # time passed: a retry may be due, or another process wrote rows

    def _checkpoint(self) -> None:
        """Copy the write-ahead log into the database often, off the delivery path, so that commits on
        the delivery path rarely pay for a large checkpoint (they do one past 1000 pages of log)."""
        while not self._stopping.wait(0.5):
            try:
                self.sandbox.store.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except Exception:
                log.debug("checkpoint skipped", exc_info=True)

    def _idle_wait(self) -> float:
        due = self.outbox.next_due()
        if due is None or self.clock.frozen:
            return self.poll_interval
        return max(0.005, min(self.poll_interval, due - self.clock.now()))

    def _housekeeping(self, now: float) -> None:
        wall = time.monotonic()
        if wall - self._last_housekeeping < 2.0:
            return
        self._last_housekeeping = wall
        if self.outbox.recover(self.owner, now):
            self._maybe_due = True
        for sub_id in self.outbox.awaiting_validations(now - policy.MANUAL_VALIDATION_WINDOW):
            self.outbox.update_validation(sub_id, "Failed", "The validationUrl was not called within 5 minutes; "
                                          "delete and recreate the event subscription.")
            self._set_provisioning_state(sub_id, "Failed")

    def _process_due(self, now: float) -> int:
        """Record the sends that finished, then claim and dispatch what is due. Returns the rows handled."""
        self._housekeeping(now)
        handled = self._record_done()
        free = self.claim_size - self._inflight
        if free > 0 and self._maybe_due:
            with self._idle:
                self._busy += 1  # pump() in another thread waits for this claim to be settled
            try:
                self._maybe_due = False
                items, saturated = self.outbox.claim(self.owner, now, self.response_timeout + 30, free,
                                                     self._claim_limit)
                if items or saturated:
                    self._maybe_due = True  # there may be more: claim again once capacity frees up
                if items:
                    self._dispatch(items, now)
                    handled += len(items)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()
        return handled

    def _poke(self) -> None:
        self._maybe_due = True
        self._wake.set()

    def _claim_limit(self, sub_id: str) -> int:
        """Rows to claim for one subscription: eight waves of full batches for the senders, refilled at half."""
        s = self._subscription(sub_id)
        if s is None or s.destination_type in policy.QUEUE_DESTINATIONS:
            return self.claim_size
        cap = self._senders * 8 * s.max_events_per_batch
        inflight = self._inflight_by_sub.get(sub_id, 0)
        return cap - inflight if inflight <= cap // 2 else 0  # refill in chunks: fewer, larger transactions

    def _dispatch(self, items: list[Item], now: float) -> None:
        """Settle what needs no HTTP at once (queues, expiry, dead letters); hand the batches to the senders."""
        updates: list[dict] = []
        attempts: list[tuple] = []
        queue_rows: list[tuple] = []
        jobs: list[tuple[Settings, list[Item], list[dict], str | None]] = []
        by_sub: dict[str, list[Item]] = {}
        for item in items:
            by_sub.setdefault(item.subscription_id, []).append(item)
        for sub_id, group in by_sub.items():
            s, state, refusal = self._current(sub_id)
            if refusal is not None and s is None and refusal.startswith(DELETED_REASON):
                # a SubscriptionDeletedEvent still goes out (with the body it was submitted with)
                farewell = [i for i in group if i.state == "pending" and _type_of(i.event) == SUBSCRIPTION_DELETED]
                for item in group:
                    if item not in farewell:
                        updates.append({"id": item.id, "state": "dropped", "finished_at": now, "reason": refusal})
                group = farewell
                s, state, refusal = self._submitted(sub_id), None, None
            if s is None:
                for item in group:
                    updates.append({"id": item.id, "state": "dropped", "finished_at": now,
                                    "reason": refusal or "the subscription's body is unknown to the delivery engine"})
                continue
            ready = []
            for item in group:
                if item.state == "deadlettering":
                    self._give_up(s, item, item.reason or policy.MAX_ATTEMPTS_EXCEEDED, now, updates, {})
                elif policy.expired(s, item.publish_time, now):
                    self._give_up(s, item, policy.TTL_EXCEEDED, now, updates, {})
                elif refusal is not None:  # the endpoint is no longer (or not yet) one Event Grid may call
                    updates.append({"id": item.id, "state": "dropped", "finished_at": now, "reason": refusal})
                elif state in WAITING_STATES:  # being validated: wait, without using an attempt
                    updates.append({"id": item.id, "next_at": now + HOLD_SECONDS, "reason": HELD_REASON})
                else:
                    ready.append(item)
            if not ready:
                continue
            converted = [policy.to_delivery_schema(item.event, s.schema) for item in ready]
            if s.destination_type in policy.QUEUE_DESTINATIONS:
                for item, event in zip(ready, converted):
                    queue_rows.append(self._queue_row(s, item, event, now))
                    attempts.append((item.id, item.attempts + 1, now, None, "Delivered", 0.0, None, None))
                    updates.append({"id": item.id, "state": "delivered", "attempts": item.attempts + 1,
                                    "last_outcome": "Delivered", "last_attempt_time": now, "finished_at": now,
                                    "location": f"{s.destination_type}:{s.destination_id}", "reason": None})
                continue
            url = self._endpoint(s)
            sizes = [policy.event_size(e) for e in converted]
            for batch in policy.make_batches(sizes, s.max_events_per_batch, s.preferred_batch_kb):
                jobs.append((s, [ready[i] for i in batch], [converted[i] for i in batch], url))
        if queue_rows:
            self.outbox.enqueue_messages(queue_rows)
        if updates or attempts:
            self.outbox.record(self.owner, updates, attempts)
        for job in jobs:
            with self._idle:
                self._inflight += len(job[1])
                self._inflight_by_sub[job[0].id.lower()] = self._inflight_by_sub.get(job[0].id.lower(), 0) + len(job[1])
            future = self.pool.submit(self._send, *job)
            future.add_done_callback(lambda f, job=job: self._finished(job, now, f))

    def _finished(self, job: tuple, now: float, future: Any) -> None:
        """A send is over (in a sender thread): queue its result for recording and wake whoever waits."""
        try:
            result = future.result()
        except Exception as exc:  # a bug of ours while sending: the attempt failed, the event is kept
            log.exception("sending failed")
            result = Result(None, "other", f"{type(exc).__name__}: {exc}", 0.0)
        with self._idle:
            self._done.append((job, now, result))
            self._idle.notify_all()
        self._wake.set()

    def _record_done(self) -> int:
        """Apply the retry policy to the finished sends and write it all in one transaction."""
        with self._idle:  # let a few more sends finish first: one transaction for several results
            if self._done and len(self._done) < self._senders and self._inflight > sum(
                    len(job[1]) for job, _, _ in self._done):
                self._idle.wait(0.001)
        finished = []
        while True:
            try:
                finished.append(self._done.popleft())
            except IndexError:
                break
        if not finished:
            return 0
        updates: list[dict] = []
        attempts: list[tuple] = []
        count = 0
        try:
            for (s, batch_items, _events_sent, _url), now, result in finished:
                batch_id = uuid.uuid4().hex[:12] if len(batch_items) > 1 else None
                outcome = policy.outcome_for(result.status, result.error)
                for item in batch_items:
                    made = item.attempts + 1
                    attempts.append((item.id, made, now, result.status, outcome, round(result.duration_ms, 3),
                                     result.detail, batch_id))
                    last = {"attempts": made, "last_status": result.status, "last_outcome": outcome,
                            "last_attempt_time": now}
                    if item.reason == HELD_REASON:  # it waited for a validation once: that is over
                        last["reason"] = None
                    decision = policy.decide(s, made, result.status, result.error, now, item.publish_time)
                    if decision.kind == "delivered":
                        updates.append({"id": item.id, "state": "delivered", "finished_at": now, **last})
                    elif decision.kind == "retry":
                        updates.append({"id": item.id, "next_at": decision.at, **last})
                    else:
                        item.attempts, item.last_status, item.last_outcome, item.last_attempt_time = (
                            made, result.status, outcome, now)
                        self._give_up(s, item, decision.reason or policy.MAX_ATTEMPTS_EXCEEDED, now, updates, last)
            self.outbox.record(self.owner, updates, attempts)
        finally:
            with self._idle:
                for (s, batch_items, _e, _u), _now, _r in finished:
                    count += len(batch_items)
                    key = s.id.lower()
                    self._inflight -= len(batch_items)
                    left = self._inflight_by_sub.get(key, 0) - len(batch_items)
                    if left > 0:
                        self._inflight_by_sub[key] = left
                    else:
                        self._inflight_by_sub.pop(key, None)
                self._idle.notify_all()
        return count

    def _send(self, s: Settings, items: list[Item], events: list[dict], url: str | None) -> Result:
        if url is None:
            return Result(None, "function", f"no local function app is registered for {s.resource_id}", 0.0)
        headers = policy.delivery_headers(s, events, items[0].attempts)
        body = policy.delivery_body(s, events)
        return self.sender.request("POST", url, body=body, headers=headers, timeout=self.response_timeout)

    def _give_up(self, s: Settings, item: Item, reason: str, now: float, updates: list[dict], last: dict) -> None:
        """Dead-letter the event if the subscription has a destination, else drop it (with the record)."""
        if not s.dead_letter_container:
            updates.append({"id": item.id, "state": "dropped", "reason": reason, "finished_at": now, **last})
            return
        if self.dead_letter_delay and item.state != "deadlettering":
            updates.append({"id": item.id, "state": "deadlettering", "reason": reason,
                            "next_at": now + self.dead_letter_delay, **last})
            return
        event = policy.to_delivery_schema(item.event, s.schema)
        record = policy.dead_letter_record(
            event, s.schema, reason=reason, attempts=item.attempts, outcome=item.last_outcome,
            status=item.last_status, publish_time=item.publish_time, last_attempt_time=item.last_attempt_time)
        relative = policy.dead_letter_blob_path(s.dead_letter_container, s.name, now, str(uuid.uuid4()))
        path = self.sandbox.folder / "deadletter" / relative
        try:
            _write_json(path, [record])
        except OSError as exc:
            since = item.dl_failing_since if item.dl_failing_since is not None else now
            if now - since >= policy.DEAD_LETTER_GIVE_UP_SECONDS:
                log.error("dead-letter destination unavailable for 4 hours; dropping %s: %s", item.event_id, exc)
                updates.append({"id": item.id, "state": "dropped", "finished_at": now, **last,
                                "reason": f"{reason}; dead-letter destination unavailable for 4 hours ({exc})"})
            else:
                log.warning("cannot write dead letter %s (%s); the event is kept and retried in 5 minutes",
                            path, exc)
                updates.append({"id": item.id, "state": "deadlettering", "reason": reason, "dl_failing_since": since,
                                "next_at": now + policy.DEAD_LETTER_RETRY_SECONDS, **last})
            return
        updates.append({"id": item.id, "state": "deadlettered", "reason": reason, "finished_at": now,
                        "location": relative, **last})

    def _queue_row(self, s: Settings, item: Item, event: dict, now: float) -> tuple:
        properties: dict[str, Any] = {}
        if s.destination_type.startswith("ServiceBus"):
            properties["MessageId"] = item.event_id
        headers = policy.delivery_headers(s, [event], item.attempts)
        for mapping in s.attribute_mappings:
            name = mapping.get("name")
            if name in headers:
                properties[name] = headers[name]
        if s.destination_type == "StorageQueue":
            properties["timeToLiveInSeconds"] = s.queue_ttl if s.queue_ttl is not None else 7 * 24 * 3600
        return (s.destination_type, s.resource_id, s.queue_name, s.id.lower(), item.id, json.dumps(event),
                json.dumps(properties), now, s.destination_id)

    # -- subscriptions, endpoints, validation --------------------------------------------------------
    def _subscription(self, sub_id: str) -> Settings | None:
        return self._current(sub_id)[0]

    def _current(self, sub_id: str) -> tuple[Settings | None, str | None, str | None]:
        """The subscription as it is now: (settings, provisioningState, why nothing may be sent or None).

        A live subscription (an ARM resource in the store) is read from the store at each attempt, so its
        current destination, retry policy and validation apply; one that is gone gives (None, None, reason).
        Any other (a body handed to ``submit`` directly) is the body submitted.
        """
        row = self.sandbox.store.execute(
            "SELECT d.live, d.body, r.body FROM delivery_subscriptions d LEFT JOIN resources r ON r.id = "
            "d.subscription_id WHERE d.subscription_id = ?", (sub_id,)).fetchone()
        if row is None:
            return None, None, None
        live, submitted, stored = row
        if live and stored is None:
            return None, None, (f"{DELETED_REASON}: the event subscription no longer exists (it, or the resource "
                                "it was on, was deleted)")
        key = stored if live else submitted
        cached = self._settings.get(sub_id)
        if cached is None or cached[0] != key:
            state = None
            try:
                body = json.loads(key)
                s: Settings | None = policy.settings_from_body(body)
                if live:
                    state = str((body.get("properties") or {}).get("provisioningState") or "Succeeded")
            except (SettingsError, ValueError):
                s = None
            cached = self._settings[sub_id] = (key, s, state)
        _, s, state = cached
        if s is None or not live:
            return s, state, None
        if state in WAITING_STATES:
            return s, state, None
        if state != "Succeeded":
            return s, state, self._refusal(s) or (
                f"EndpointNotValidated: the event subscription is {state}; Event Grid delivers only to "
                "validated endpoints.")
        return s, state, self._refusal(s)

    def _submitted(self, sub_id: str) -> Settings | None:
        """The subscription as its events were submitted (for a SubscriptionDeletedEvent after a delete)."""
        text = self.outbox.subscription_text(sub_id)
        try:
            return policy.settings_from_body(json.loads(text)) if text is not None else None
        except (SettingsError, ValueError):
            return None

    def _endpoint(self, s: Settings) -> str | None:
        if s.destination_type == "WebHook":
            return s.endpoint_url
        if s.destination_type == "AzureFunction" and s.resource_id:
            return self.outbox.function_url(s.resource_id)
        return None

    def _refusal(self, s: Settings) -> str | None:
        """Why this subscription cannot receive deliveries, or None."""
        if s.destination_type in policy.QUEUE_DESTINATIONS:
            return None
        url = self._endpoint(s)
        if url is not None:
            try:
                policy.check_endpoint(url)
            except ValueError as exc:
                return f"EndpointNotAllowed: {exc}"
        if self.require_validation and s.destination_type == "WebHook":
            v = self.outbox.validation(s.id)
            if v is None or v["state"] != "Succeeded" or v["endpoint"] != url:
                state = "never validated" if v is None else f"validation {v['state']}"
                return (f"EndpointNotValidated: {_base_url(url or '')} has not completed the validation "
                        f"handshake ({state}); Event Grid delivers only to validated endpoints.")
        return None

    def register_function(self, resource_id: str, url: str) -> None:
        """Say which local URL answers for an AzureFunction destination (``Microsoft.Web/sites/functions`` id)."""
        policy.check_endpoint(url)
        self.outbox.set_function(resource_id, url)

    def validation_url(self, s: Settings, token: str, now: float) -> str:
        """The manual-validation URL, served by the sandbox's HTTPS server (like Azure's port 553 URL)."""
        server = self.sandbox.serve()
        return (f"{server.base_url}/eventsubscriptions/{quote(s.name)}/validate?id={quote(s.id, safe='')}"
                f"&t={quote(policy.iso(now) or '')}&apiVersion=2018-05-01-preview&token={token}")

    def _post_handshake(self, s: Settings, url: str, code: str, validation_url: str, now: float) -> tuple[str, str]:
        topic = s.id.split("/providers/Microsoft.EventGrid/", 1)[0] if "/providers/" in s.id else s.id
        event = _events.subscription_validation(topic=topic, validation_code=code, validation_url=validation_url,
                                                time=policy.iso(now))
        headers = {"Content-Type": "application/json; charset=utf-8", "aeg-event-type": "SubscriptionValidation",
                   "aeg-subscription-name": s.header_name, "aeg-delivery-count": "0",
                   "aeg-metadata-version": "1", "aeg-data-version": "1"}
        result = self.sender.request("POST", url, body=json.dumps([event]).encode(), headers=headers,
                                     timeout=self.response_timeout)
        if result.status == 200:
            try:
                answer = json.loads(result.body or b"null")
            except ValueError:
                answer = None
            echoed = _validation_response(answer)
            if echoed == code:
                return "Succeeded", "The endpoint answered the validation handshake."
            if echoed is not None:
                return "Failed", _failed(url, f"the endpoint echoed {echoed!r}, not the validationCode sent")
        if result.status is not None and 200 <= result.status <= 204:
            return ("AwaitingManualAction",
                    f"The endpoint answered {result.status} without the validationCode. Validate it by sending an "
                    f"HTTP GET to the validationUrl within 5 minutes: {validation_url}")
        detail = result.detail or f"Http POST request failed with response code {result.status}"
        return "Failed", _failed(url, detail)

    def _options_handshake(self, url: str) -> tuple[str, str]:
        result = self.sender.request("OPTIONS", url, headers={"WebHook-Request-Origin": WEBHOOK_ORIGIN},
                                     timeout=self.response_timeout)
        allowed = {k.lower(): v for k, v in (result.headers or {}).items()}.get("webhook-allowed-origin")
        if result.status is not None and 200 <= result.status <= 204 and allowed in (WEBHOOK_ORIGIN, "*"):
            return "Succeeded", "The endpoint answered the CloudEvents abuse-protection handshake (OPTIONS)."
        if result.detail:
            detail = result.detail
        elif allowed is None:
            detail = f"OPTIONS answered {result.status} without a WebHook-Allowed-Origin header"
        else:
            detail = f"OPTIONS answered WebHook-Allowed-Origin: {allowed!r}, not {WEBHOOK_ORIGIN!r} or '*'"
        return "Failed", _failed(url, detail)

    def handle_validation_get(self, request: Request, name: str) -> Response:
        """GET on a validationUrl: completes a manual validation within its 5-minute window."""
        sub_id = request.query.get("id") or ""
        token = request.query.get("token") or ""
        v = self.outbox.validation(sub_id) if sub_id else None
        if v is None or not token or v["token"] != token:
            raise ArmError(404, "NotFound", "This validation URL is unknown or its token is wrong.")
        if v["state"] == "Succeeded":
            return Response(200, VALIDATED_TEXT.encode(), {"Content-Type": "text/plain; charset=utf-8"})
        if v["state"] != "AwaitingManualAction" or self.clock.now() - v["created"] > policy.MANUAL_VALIDATION_WINDOW:
            if v["state"] == "AwaitingManualAction":
                self.outbox.update_validation(sub_id, "Failed", "The validationUrl was called after 5 minutes.")
                self._set_provisioning_state(sub_id, "Failed")
            raise ArmError(400, "ValidationUrlExpired",
                           "This validation URL has expired (it is valid for 5 minutes); delete and recreate the "
                           "event subscription to get a new one.")
        self.outbox.update_validation(sub_id, "Succeeded", "Validated manually through the validationUrl.")
        self._set_provisioning_state(sub_id, "Succeeded")
        return Response(200, VALIDATED_TEXT.encode(), {"Content-Type": "text/plain; charset=utf-8"})

    def validation_state(self, subscription_id: str) -> dict | None:
        """The last handshake of a subscription: endpoint, state, message (None if never validated)."""
        v = self.outbox.validation(subscription_id)
        if v is not None:
            v = {k: v[k] for k in ("subscription_id", "endpoint", "state", "message")}
        return v

    def _set_provisioning_state(self, subscription_id: str, state: str) -> None:
        """Tell Microsoft.EventGrid (its backend's hook if it has one, else the stored body)."""
        backend = self.sandbox.backends.get("eventgrid")
        hook = getattr(backend, "set_provisioning_state", None)
        if callable(hook):
            hook(subscription_id, state)
            return
        body = self.sandbox.store.get(subscription_id)
        if body is not None:
            body.setdefault("properties", {})["provisioningState"] = state
            self.sandbox.store.put(subscription_id, body.get("type") or "Microsoft.EventGrid/eventSubscriptions", body)

    # -- what happened -------------------------------------------------------------------------------
    def _count_unmatched(self, events: list[dict], targets: list[tuple[dict, list[dict]]]) -> None:
        """Count the events no subscription wanted (Event Grid's "Unmatched Events" metric): accepted,
        delivered nowhere, so no outbox row stands for them."""
        matched = {id(e) for _, hits in targets for e in hits or ()}
        n = sum(1 for e in events if id(e) not in matched)
        if n:
            with self.sandbox.store.transaction():
                self.sandbox.store.set_meta(UNMATCHED, str(int(self.sandbox.store.get_meta(UNMATCHED, "0")) + n))

    def stats(self, subscription_id: str | None = None) -> dict[str, int]:
        """Reconciliation: published = delivered + dead_lettered + dropped + pending.

        ``published`` counts (event, subscription) pairs. Sandbox-wide, ``unmatched`` also counts the
        events no subscription wanted (Event Grid's "Unmatched Events" metric): they go nowhere.
        """
        c = self.outbox.counts(subscription_id)
        out = {"published": sum(c.values()), "delivered": c.get("delivered", 0),
               "dead_lettered": c.get("deadlettered", 0), "dropped": c.get("dropped", 0),
               "pending": c.get("pending", 0) + c.get("deadlettering", 0),
               "duplicates": self.outbox.possible_duplicates(subscription_id)}
        if subscription_id is None:
            out["unmatched"] = int(self.sandbox.store.get_meta(UNMATCHED, "0") or 0)
        return out

    def deliveries(self, *, subscription_id: str | None = None, event_id: str | None = None,
                   state: str | None = None) -> list[dict]:
        """One entry per (event, subscription): state, attempts (each with its time, status, outcome,
        duration and error), reason and where it ended (dead-letter file or queue)."""
        rows = self.outbox.items(subscription_id=subscription_id, event_id=event_id, state=_state_name(state))
        attempts = self.outbox.attempts(r["item"] for r in rows)
        out = []
        for r in rows:
            out.append({
                "event_id": r["event_id"], "subscription": r["subscription_id"].rsplit("/", 1)[-1],
                "subscription_id": r["subscription_id"], "state": _public_state(r["state"]),
                "attempts": [_attempt(a) for a in attempts[r["item"]]],
                "delivery_attempts": r["attempts"], "last_status": r["last_status"],
                "last_outcome": r["last_outcome"], "reason": r["reason"], "location": r["location"],
                "publish_time": policy.iso(r["publish_time"]),
                "next_attempt": policy.iso(r["next_at"]) if r["state"] in ("pending", "deadlettering") else None,
                "finished": policy.iso(r["finished_at"]), "event": r["event"]})
        return out

    def log(self, *, subscription_id: str | None = None, event_id: str | None = None) -> list[dict]:
        """Every attempt, oldest first, for a subscription and/or an event."""
        out = []
        for d in self.deliveries(subscription_id=subscription_id, event_id=event_id):
            for a in d["attempts"]:
                out.append({"event_id": d["event_id"], "subscription": d["subscription"], **a})
        out.sort(key=lambda a: (a["time"] or "", a["attempt"]))
        return out

    def dead_letters(self, subscription_id: str | None = None) -> list[dict]:
        """The dead-letter records written so far (read back from the dead-letter folder)."""
        records = []
        for d in self.deliveries(subscription_id=subscription_id, state="dead_lettered"):
            path = self.sandbox.folder / "deadletter" / d["location"]
            try:
                records.extend(json.loads(path.read_text()))
            except (OSError, ValueError):
                log.warning("dead-letter file %s is missing or unreadable", path)
        return records

    def queue_messages(self, queue: str | None = None, *, subscription_id: str | None = None) -> list[dict]:
        """Messages delivered to StorageQueue / EventHub / ServiceBus destinations (local queues).

        ``queue`` is the destination's ARM id (a storage queue's is ``<account id>/queueServices/default/
        queues/<name>``), or a bare queue name while only one queue has it (else a ValueError lists them).
        """
        return self.outbox.queue_messages(queue=queue, subscription_id=subscription_id)

    @property
    def deadletter_folder(self) -> Path:
        return self.sandbox.folder / "deadletter"


def _type_of(event: Any) -> Any:
    return event.get("eventType", event.get("type")) if isinstance(event, dict) else None


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2))
    os.replace(tmp, path)


def _validation_response(answer: Any) -> str | None:
    if isinstance(answer, dict):
        for key, value in answer.items():
            if key.lower() == "validationresponse":
                return str(value)
    return None


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _failed(url: str, detail: str) -> str:
    return (f"Webhook validation handshake failed for {_base_url(url)}. {detail}. "
            "For troubleshooting, visit https://aka.ms/esvalidation.")


_STATES = {"dead_lettered": "deadlettered", "deadlettered": "deadlettered"}


def _state_name(state: str | None) -> str | None:
    return None if state is None else _STATES.get(state, state)


def _public_state(state: str) -> str:
    return {"deadlettered": "dead_lettered", "deadlettering": "pending"}.get(state, state)


def _attempt(row: tuple) -> dict:
    attempt, when, status, outcome, duration, error, batch = row
    return {"attempt": attempt, "time": policy.iso(when), "status": status, "outcome": outcome,
            "duration_ms": duration, "error": error, "batch": batch}
