"""Visible confirmations of actions ("Accès approuvé…"), for plain forms and for htmx.

A plain form posts, the view calls :func:`done` and redirects: the message rides Flask's flash
(one-shot, in the signed session cookie) and the next page shows it in ``#flash`` (``base.html``).
An htmx request gets no redirect: the answer carries the message in an ``HX-Trigger`` event,
``crisis-flash``, that ``static/js/app.js`` shows in the same ``#flash`` region, and
``inbox-changed`` so that the menu badge and the home block refresh at once.
"""

from __future__ import annotations

import json

from flask import flash, redirect
from werkzeug.wrappers import Response

from .auth_views import _safe_next
from .htmx import htmx

LEVELS = ("ok", "warn", "error")
FLASH_EVENT = "crisis-flash"
INBOX_EVENT = "inbox-changed"


def _events(message: str, level: str, *extra: str) -> str:
    # ASCII JSON: HTTP headers are Latin-1, French messages are not.
    found: dict[str, object] = {FLASH_EVENT: {"message": message, "level": level}}
    found.update({name: True for name in (INBOX_EVENT, *extra)})
    return json.dumps(found)


def announce(response: Response, message: str, *extra: str, level: str = "ok") -> Response:
    """Add the message (and other htmx events, e.g. ``log-changed``) to an htmx answer that
    swaps something: the region is refreshed and the confirmation shown."""
    response.headers["HX-Trigger"] = _events(message, level, *extra)
    return response


def done(message: str, next_url: str | None, level: str = "ok", status: int = 204) -> Response:
    """Say what was done: a flash and a redirect to ``next_url`` (local paths only), or for
    htmx an empty answer (``status`` 204: nothing swapped) carrying the message as an event."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    if htmx:
        response = Response(status=status)
        response.headers["HX-Trigger"] = _events(message, level)
        if status >= 400:
            response.headers["HX-Reswap"] = "none"  # keep what the user typed on screen
        response.vary.add("HX-Request")
        return response
    flash(message, level)
    return redirect(_safe_next(next_url))  # type: ignore[return-value]


def refused(message: str, next_url: str | None) -> Response:
    """A refusal shown where the action was made (422 for htmx, a flash and back otherwise)."""
    return done(message, next_url, level="error", status=422)
