"""What waits for me: the menu badge, the home page block (``inbox/_inbox.html``), its page, and
the cheap per-user endpoint the badge polls (``GET /api/v1/inbox``, ETag / 304).

The poll is passive (``@allow(passive=True)``): a page left open does not keep an idle session
alive. ``static/js/inbox.js`` (loaded by ``base.html``) polls every few seconds, pauses while
the page is hidden or the tablet offline, updates the badge and asks the block to refresh.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, jsonify, request, url_for
from werkzeug.wrappers import Response

from .. import inbox
from ..clock import iso
from . import api_models as m
from .context import get_db, now, require_user
from .htmx import htmx, render
from .openapi import describe
from .security import allow

bp = Blueprint("inbox", __name__)

POLL_SECONDS = 4  # the badge and the block follow within 5 s


def here() -> str:
    """The page the user is on (for ``next`` after an action), also from an htmx fragment."""
    current = request.headers.get("HX-Current-URL") if htmx else None
    if current:
        parts = urlsplit(current)
        if parts.netloc in ("", request.host):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return request.full_path.rstrip("?")


def link(item: inbox.InboxItem) -> str:
    """Where an item is dealt with in full."""
    if item.kind == "approval":
        return url_for("access.index") + f"#grant-{item.ref}"
    if item.kind in ("my_request", "expiring"):
        return url_for("access.index", grant=item.ref)
    if item.kind == "inject":
        return url_for("drills.show_drill", event_id=item.event_id) + f"#inject-{item.key}"
    if item.kind == "account":
        return url_for("accounts.list_requests") + f"#request-{item.ref}"
    if item.kind == "contested":
        return url_for("access.review", org=item.key, event=item.event_id) + "#review-verdict"
    if item.kind == "personal":
        parts = item.key.split(":")
        if parts[0] == "review" and len(parts) == 3:
            return url_for("access.review", org=parts[2], event=parts[1])
        if parts[0] == "agreement" and len(parts) == 2 and parts[1].isdigit():
            return url_for("owner.agreement_versions", agreement_id=int(parts[1]))
        return url_for("access.index")
    return url_for("access.index") + "#access-inbox"


def current() -> inbox.Inbox:
    """The signed-in user's inbox, read once per request."""
    from flask import g

    if "inbox" not in g:
        g.inbox = inbox.inbox_for(get_db(), now(), require_user())
    found: inbox.Inbox = g.inbox
    return found


def context() -> dict[str, Any]:
    """What ``inbox/_inbox.html`` needs."""
    return {
        "inbox": current(),
        "inbox_kinds": inbox.KINDS,
        "inbox_link": link,
        "inbox_next": here(),
        "poll_seconds": POLL_SECONDS,
    }


def etag(found: inbox.Inbox) -> str:
    return f'W/"inbox-{found.fingerprint}"'


@bp.get("/a-traiter")
@allow()
def show_inbox() -> Response:
    """Everything waiting for me (the home page holds the same block)."""
    return render("inbox/page.html", "inbox/_inbox.html", **context())


@bp.get("/api/v1/inbox")
@allow(passive=True)
@describe(
    "Ce qui attend l'utilisateur (boîte de réception)",
    tag="Session",
    response=m.InboxOut,
    notes="Les plus urgents d'abord, les événements réels avant les exercices. La réponse porte "
    "un ETag : renvoyé dans If-None-Match, il donne 304 sans corps tant que rien n'a changé. "
    "Cette lecture ne prolonge pas la session.",
)
def api_inbox() -> Response:
    """Counts and items waiting for the user; 304 while nothing changed (``If-None-Match``)."""
    found = current()
    tag = etag(found)
    sent = [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]
    if tag in sent:
        response = Response(status=304)
    else:
        body = found.to_json()
        for item, shown in zip(found.items, body["items"], strict=True):
            shown["url"] = link(item)
        body["server_time"] = iso(now())
        response = jsonify(body)
    response.headers["ETag"] = tag
    return response


def badge() -> dict[str, Any]:
    """The menu badge of the signed-in user (``base.html``): count and ETag."""
    found = current()
    return {"count": found.count, "etag": etag(found), "url": url_for("inbox.api_inbox")}


def init_app(app: Any) -> None:
    """Templates call ``inbox_badge()`` (lazily: only pages with the menu pay for it)."""

    @app.context_processor
    def _inject() -> dict[str, Any]:
        return {"inbox_badge": badge, "inject_notices": inject_notices, "notices_next": here}


def inject_notices(event_id: int) -> list[inbox.InboxItem]:
    """The injects of this drill event waiting for the signed-in user's roles."""
    return [i for i in current().of("inject") if i.event_id == event_id]
