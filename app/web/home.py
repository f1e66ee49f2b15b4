"""The home page: what waits for this user, then what they can do now."""

from __future__ import annotations

from flask import Blueprint, current_app, url_for

from .. import live
from . import inbox
from .context import get_db, require_user
from .htmx import render
from .security import allow, rule_for

bp = Blueprint("home", __name__)


@bp.get("/")
@allow()
def index() -> object:
    user = require_user()
    events_rule = rule_for(current_app, "events.list_events")
    show_events = bool(events_rule and events_rule.allows(user))
    return render(
        "home.html",
        user=user,
        show_events=show_events,
        **inbox.context(),
        # The lists follow every event (declared, closed, changed): GET /api/v1/state.
        live_state=live.global_state(get_db()) if show_events else None,
        live_url=url_for("api.state"),
    )
