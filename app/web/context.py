"""Per-request context: one database connection on g, the clock, the signed-in user, the
playbook library of the app, and the one lookup of an event by id (``event_or_404``)."""

from __future__ import annotations

import threading
from datetime import datetime

import sqlite_utils
from flask import current_app, g

from .. import audit, auth, events, live, playbooks
from ..db import Pool

_POOL_LOCK = threading.Lock()


def pool() -> Pool:
    """The app's pool of open connections (made on first use, one per process)."""
    cfg, extensions = current_app.config, current_app.extensions
    found: Pool | None = extensions.get("db_pool")
    if found is None or found.path != str(cfg["CRISIS_DB"]):
        with _POOL_LOCK:
            found = extensions.get("db_pool")
            if found is None or found.path != str(cfg["CRISIS_DB"]):
                if found is not None:
                    found.close()  # the app now uses another database file
                found = Pool(cfg["CRISIS_DB"], int(cfg.get("CRISIS_THREADS", 8)))
                extensions["db_pool"] = found
    return found


def get_db() -> sqlite_utils.Database:
    """The request's database connection, taken from the pool on first use and given back at
    teardown (any transaction left open is rolled back then)."""
    if "db" not in g:
        g.db_pool = pool()
        g.db = g.db_pool.take()
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        g.pop("db_pool").give(db)  # to the pool it came from


def now() -> datetime:
    """The application clock's current time (tests move it)."""
    return current_app.config["CLOCK"].now()


def current_user() -> auth.User | None:
    """The signed-in user, or None."""
    return g.get("user")


def require_user() -> auth.User:
    """The signed-in user; the access rules guarantee there is one on non-public routes."""
    user = g.get("user")
    if user is None:
        raise RuntimeError("route without a signed-in user")
    return user


def library() -> playbooks.Library:
    """The app's playbook library (built once per process by the factory)."""
    found: playbooks.Library = current_app.extensions["library"]
    return found


def event_or_404(event_id: int) -> events.Event:
    """The event, read once per request; a 404 with a French message when there is none."""
    cache: dict[int, events.Event] = g.setdefault("events", {})
    event = cache.get(event_id)
    if event is None:
        event = events.get_event(get_db(), event_id)
        if event is None:
            raise events.EventError("Cet événement n'existe pas.", "event", status=404)
        cache[event_id] = event
    return event


def signer() -> audit.Signer:
    """Who signs the app's audit checkpoints (``CRISIS_CHECKPOINT_KEY`` and ``_DIR``)."""
    cfg = current_app.config
    return audit.Signer(cfg["CRISIS_CHECKPOINT_KEY"], cfg["CRISIS_CHECKPOINT_DIR"])


def live_state(event_id: int) -> live.EventState | None:
    """The event's live state, read once per request and FIRST, before the page's content: a
    change made while the page renders then shows as a newer version at the first poll."""
    cache: dict[int, live.EventState | None] = g.setdefault("live_states", {})
    if event_id not in cache:
        cache[event_id] = live.state(get_db(), event_id)
    return cache[event_id]
