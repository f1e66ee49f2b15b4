"""The scheduler: idempotent sweeps ``(db, now)`` driven by the database, and their APScheduler 3
wiring behind a single-instance lock (docs/decisions.md, "Reports and scheduling").

The database is the truth, so a restart or a missed run loses nothing: the next sweep catches up.

- :func:`generate_due_reports`: for each open event, the scheduled points de situation are due at
  ``declared_at + k × cadence`` for k = 0, 1, 2… — PS n°1 at the declaration itself (a prefecture
  expects a first point at once), then one per cadence. A slot is produced when no scheduled report
  with a due time at or after it exists, so each missed slot is produced exactly once after a
  downtime, and a change of cadence never back-fills the past: the schedule resumes at the first
  slot of the new cadence after the last scheduled report. Manual reports take the next number but
  do not move the schedule. Numbering is sequential per event (``app.reports.generate``).
- :func:`expire_grants`: ``app.access.sweep`` (expired grants, timed-out requests).
- :func:`sign_checkpoint`: signs the audit head (``app.audit.checkpoint``) when it moved, at most
  every :data:`CHECKPOINT_EVERY` or at once after a new report.
- :func:`deliver_checkpoints`: gives the newest checkpoint to the data owners whose data the log
  mentions since theirs (``app.access.deliver_to_owners``) and e-mails it
  (``app.messages.mail_checkpoints``, retried like message deliveries).
- :func:`fire_drill_injects`: ``app.drills.sweep`` with the process's playbook library (loaded
  once by the command that starts the scheduler, never re-read at each run).
- :func:`sync_remote`: ``app.remote.sync.sweep`` refreshes the copies of datasets kept by their
  owners when they are due (a failure keeps the last good copy and is recorded).
- :func:`retry_message_deliveries`: ``app.messages.retry_due``, the failed e-mail deliveries of
  emitted messages whose retry time has come (through the configured SMTP relay).
- :func:`owner_reminders`: ``app.access.remind``, each reminder of the owner's side once
  (agreement review dates, grants about to end, requests waiting, overdue owner reviews).

:func:`run_sweeps` runs them all, each in its own try/except: a failure is logged with its
traceback and the sweep is simply retried at the next run, never silent, never blocking the others.

One process runs the sweeps: :class:`Scheduler` takes the row ``scheduler`` of
``scheduler_lock`` (holder + heartbeat) when it is free or stale (> :data:`STALE`), refreshes it
at every run and skips the run when another live process holds it. ``UNIQUE(event_id, number)``
on ``reports`` stays the final guard: two processes never store the same report.

This module never imports Flask: the CLI gives it a database path, a clock and settings (the
checkpoint signer and the playbook library, built once).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import sqlite_utils

from . import access, audit, drills, events, messages, reports
from .clock import iso, parse_iso
from .db import connect, row, scalar, transaction
from .playbooks import Library

log = logging.getLogger(__name__)

LOCK_NAME = "scheduler"
STALE = timedelta(seconds=90)
INTERVAL_S = 30
CHECKPOINT_EVERY = timedelta(minutes=15)
SCHEDULE_AUTHOR = "Console de crise (point programmé)"
MAX_CATCH_UP = 48  # slots produced per event and run; the rest follow at the next runs


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass
class Settings:
    """What the sweeps need beyond the database and the time, built once per process."""

    signer: audit.Signer | None = None
    library: Library = field(default_factory=lambda: Library(directory=""))
    remote_credentials: str | None = None
    smtp: messages.SmtpRelay | None = None  # None: nothing is sent
    reminders: access.ReminderPolicy = field(default_factory=access.ReminderPolicy)


# --- reports ------------------------------------------------------------------------------------


def due_slots(
    event: events.Event, now: datetime, last_due: datetime | None, limit: int = MAX_CATCH_UP
) -> list[datetime]:
    """Scheduled report times of the event that are due at ``now`` and not yet produced.

    Slots are ``declared_at + k × cadence`` (k ≥ 0) up to ``now``, strictly after ``last_due``
    (the due time of the last scheduled report).
    """
    cadence = timedelta(minutes=event.report_cadence_min)
    if cadence <= timedelta(0):
        return []
    start = parse_iso(event.declared_at)
    if now < start:
        return []
    first = 0
    if last_due is not None:
        first = max(0, int((last_due - start) / cadence) + 1)
    last = int((now - start) / cadence)
    return [start + k * cadence for k in range(first, last + 1)][:limit]


def _last_due(db: sqlite_utils.Database, event_id: int) -> datetime | None:
    found = scalar(
        db,
        "SELECT MAX(due_at) FROM reports WHERE event_id = ? AND trigger = 'schedule'",
        [event_id],
    )
    return parse_iso(found) if found else None


def generate_due_reports(
    db: sqlite_utils.Database, now: datetime, settings: Settings | None = None
) -> list[reports.Report]:
    """Produce every scheduled report that is due and not produced yet (idempotent)."""
    settings = settings or Settings()
    made: list[reports.Report] = []
    for event in events.list_events(db, status="open"):
        for slot in due_slots(event, now, _last_due(db, event.id)):
            # No signer here: the checkpoint sweep signs once after the run's reports.
            report = reports.issue(
                db,
                now,
                event,
                None,
                trigger="schedule",
                author=SCHEDULE_AUTHOR,
                actor="scheduler",
                due_at=slot,
                playbook=settings.library.playbook(event.kind),
            )
            if report is not None:
                log.info(
                    "PS n°%s of event %s generated (due %s)", report.number, event.id, iso(slot)
                )
                made.append(report)
    return made


# --- the other sweeps ---------------------------------------------------------------------------


def expire_grants(
    db: sqlite_utils.Database, now: datetime, settings: Settings | None = None
) -> Any:
    """Tidy grant states with ``app.access.sweep`` (never decides access)."""
    return access.sweep(db, now)


def fire_drill_injects(
    db: sqlite_utils.Database, now: datetime, settings: Settings | None = None
) -> Any:
    """Fire the drill injects that are due (``app.drills.sweep``) from the library's scenarios."""
    library = (settings or Settings()).library
    return drills.sweep(db, now, library.scenarios, library.playbooks)


def retry_message_deliveries(
    db: sqlite_utils.Database, now: datetime, settings: Settings | None = None
) -> Any:
    """Retry the failed deliveries of emitted messages that are due (``app.messages``)."""
    return messages.retry_due(db, now, (settings or Settings()).smtp)


def sign_checkpoint(
    db: sqlite_utils.Database, now: datetime, settings: Settings | None = None
) -> Any:
    """Sign the audit head when it moved since the last checkpoint (then every 15 min at most,
    or at once after a new report). Returns the checkpoint, or None."""
    signer = (settings or Settings()).signer
    if signer is None:
        return None
    seq, _ = audit.head(db)
    last = audit.last_checkpoint(db)
    if last is not None:
        if seq <= last["seq"]:
            return None
        new_report = scalar(
            db, "SELECT 1 FROM reports WHERE generated_at >= ? LIMIT 1", [last["signed_at"]]
        )
        if not new_report and now - parse_iso(last["signed_at"]) < CHECKPOINT_EVERY:
            return None
    signed, path = signer.sign(db, now, "schedule")
    log.info("audit checkpoint %s signed: %s", signed.seq, path)
    return signed


def deliver_checkpoints(
    db: sqlite_utils.Database, now: datetime, settings: Settings | None = None
) -> Any:
    """Give the newest checkpoint to the data owners concerned (steward inbox) and e-mail it
    to their directory entries; retry the failed e-mails (``access``, ``messages``)."""
    settings = settings or Settings()
    given = access.deliver_to_owners(db, now, settings.signer) if settings.signer else []
    return given, messages.mail_checkpoints(db, now, settings.smtp)


def sync_remote(db: sqlite_utils.Database, now: datetime, settings: Settings | None = None) -> Any:
    """Refresh the due copies of datasets kept by their owners (``app.remote.sync.sweep``)."""
    from .remote import spec, sync

    settings = settings or Settings()
    credentials = (
        spec.use_credentials_file(settings.remote_credentials)
        if settings.remote_credentials is not None
        else None
    )
    return sync.sweep(db, now, credentials)


def owner_reminders(
    db: sqlite_utils.Database, now: datetime, settings: Settings | None = None
) -> Any:
    """The owner's side (``app.access.remind``): agreements nearing or past their review date,
    grants about to end, requests waiting for a director, reviews unsigned after the delay —
    each reminder sent once."""
    return access.remind(db, now, (settings or Settings()).reminders)


Sweep = Callable[[sqlite_utils.Database, datetime, Settings], Any]
SWEEPS: tuple[tuple[str, Sweep], ...] = (
    ("expire_grants", expire_grants),
    ("drill_injects", fire_drill_injects),
    ("reports", generate_due_reports),
    ("remote_sync", sync_remote),
    ("message_deliveries", retry_message_deliveries),
    ("owner_reminders", owner_reminders),
    ("checkpoint", sign_checkpoint),
    ("checkpoint_delivery", deliver_checkpoints),
)


@dataclass
class SweepResult:
    """What one run did: each sweep's result or the error it raised."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def run_sweeps(
    db: sqlite_utils.Database,
    now: datetime,
    settings: Settings | None = None,
    sweeps: tuple[tuple[str, Sweep], ...] | None = None,
) -> SweepResult:
    """Run every sweep; one failing is logged and retried at the next run, the others go on."""
    settings = settings or Settings()
    out = SweepResult()
    for name, sweep in sweeps if sweeps is not None else SWEEPS:
        try:
            out.results[name] = sweep(db, now, settings)
        except Exception as exc:
            if db.conn.in_transaction:
                db.conn.rollback()
            log.exception("sweep %s failed at %s; retried at the next run", name, iso(now))
            out.errors[name] = exc
    return out


# --- the single-instance lock -------------------------------------------------------------------


def new_holder() -> str:
    """A name for this scheduler instance: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def take_lock(db: sqlite_utils.Database, holder: str, now: datetime) -> bool:
    """Take or refresh the lock; False when another holder's heartbeat is fresh."""
    with transaction(db):
        current = row(
            db, "SELECT holder, heartbeat_at FROM scheduler_lock WHERE name = ?", [LOCK_NAME]
        )
        if current is None:
            db.execute(
                "INSERT INTO scheduler_lock (name, holder, heartbeat_at) VALUES (?,?,?)",
                [LOCK_NAME, holder, iso(now)],
            )
            return True
        if current["holder"] != holder and now - parse_iso(current["heartbeat_at"]) <= STALE:
            return False
        if current["holder"] != holder:
            log.warning("scheduler lock taken over from %s (stale)", current["holder"])
        db.execute(
            "UPDATE scheduler_lock SET holder = ?, heartbeat_at = ? WHERE name = ?",
            [holder, iso(now), LOCK_NAME],
        )
        return True


def release_lock(db: sqlite_utils.Database, holder: str) -> None:
    """Free the lock if this holder has it (a clean shutdown; a crash leaves it to go stale)."""
    with transaction(db):
        db.execute("DELETE FROM scheduler_lock WHERE name = ? AND holder = ?", [LOCK_NAME, holder])


def lock_holder(db: sqlite_utils.Database) -> dict[str, Any] | None:
    return row(db, "SELECT holder, heartbeat_at FROM scheduler_lock WHERE name = ?", [LOCK_NAME])


# --- the APScheduler wiring ---------------------------------------------------------------------


class Scheduler:
    """Runs :func:`run_sweeps` every ``interval_s`` seconds behind the lock.

    ``tick()`` is one run (tests call it directly with a FixedClock); ``start()`` runs ticks in a
    BackgroundScheduler, ``run_forever()`` in a BlockingScheduler until SIGTERM/SIGINT.
    """

    def __init__(
        self,
        db_path: str | Path,
        clock: Clock,
        settings: Settings | None = None,
        *,
        holder: str | None = None,
        interval_s: float = INTERVAL_S,
        sweeps: tuple[tuple[str, Sweep], ...] | None = None,
        parent_pid: int | None = None,
    ) -> None:
        self.db_path = str(db_path)
        self.clock = clock
        self.settings = settings or Settings()
        self.holder = holder or new_holder()
        self.interval_s = interval_s
        self.sweeps = sweeps
        self.parent_pid = parent_pid
        self.runs = 0
        self.last: SweepResult | None = None
        self._ticking = threading.Lock()
        self._apscheduler: Any = None

    def tick(self) -> SweepResult | None:
        """One run: take the lock, run the sweeps. None when another process holds the lock."""
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            log.warning("the serving process %s is gone: scheduler stops", self.parent_pid)
            self.shutdown()
            return None
        with self._ticking:
            db = connect(self.db_path)
            try:
                now = self.clock.now()
                if not take_lock(db, self.holder, now):
                    log.debug("scheduler lock held by another process: run skipped")
                    return None
                self.last = run_sweeps(db, now, self.settings, self.sweeps)
                self.runs += 1
                return self.last
            except Exception:  # the lock itself failed (database busy…): next run retries
                log.exception("scheduler run failed; retried at the next run")
                return None
            finally:
                db.conn.close()

    def _add_job(self, sched: Any) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        sched.add_job(
            self.tick,
            IntervalTrigger(seconds=self.interval_s, timezone=UTC),
            id="sweeps",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(max(self.interval_s, 1)),
            next_run_time=datetime.now(UTC),
        )

    def start(self) -> None:
        """Run in a background thread of this process (returns at once)."""
        from apscheduler.schedulers.background import BackgroundScheduler

        self._apscheduler = BackgroundScheduler(timezone=UTC)
        self._add_job(self._apscheduler)
        self._apscheduler.start()
        log.info("scheduler %s started (every %ss)", self.holder, self.interval_s)

    def run_forever(self) -> None:
        """Run in the foreground until SIGTERM or SIGINT; release the lock on the way out."""
        from apscheduler.schedulers.blocking import BlockingScheduler

        self._apscheduler = BlockingScheduler(timezone=UTC)
        self._add_job(self._apscheduler)

        def stop(signum: int, _frame: Any) -> None:
            log.info("signal %s: scheduler stops", signum)
            self._apscheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("scheduler %s running (every %ss)", self.holder, self.interval_s)
        try:
            self._apscheduler.start()
        finally:
            self._release()

    def shutdown(self) -> None:
        """Stop the APScheduler (if started) and free the lock."""
        sched, self._apscheduler = self._apscheduler, None
        if sched is not None and sched.running:
            in_job = threading.current_thread().name.startswith(("APScheduler", "ThreadPool"))
            sched.shutdown(wait=not in_job)
        self._release()

    def _release(self) -> None:
        db = connect(self.db_path)
        try:
            release_lock(db, self.holder)
        finally:
            db.conn.close()


def spawn_process(extra_env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``crisis-console scheduler`` as a child of the serving process (``serve``).

    The child runs behind the lock like any scheduler, stops when its parent is gone, and is
    terminated when the parent exits.
    """
    env = {**os.environ, **(extra_env or {})}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from app.cli import main; main()",
            "scheduler",
            "--parent-pid",
            str(os.getpid()),
        ],
        env=env,
    )

    def stop() -> None:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()

    atexit.register(stop)
    log.info("scheduler process %s started", child.pid)
    return child
