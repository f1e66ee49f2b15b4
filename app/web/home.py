"""The home page: what waits for this user, then what they can do now."""

from __future__ import annotations

from flask import Blueprint, current_app

from . import inbox
from .context import require_user
from .htmx import render
from .security import allow, rule_for

bp = Blueprint("home", __name__)


@bp.get("/")
@allow()
def index() -> object:
    user = require_user()
    events_rule = rule_for(current_app, "events.list_events")
    return render(
        "home.html",
        user=user,
        show_events=bool(events_rule and events_rule.allows(user)),
        **inbox.context(),
    )
