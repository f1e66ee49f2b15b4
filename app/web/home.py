"""The home page: what this user can do now."""

from __future__ import annotations

from flask import Blueprint

from .context import require_user
from .htmx import render
from .security import allow

bp = Blueprint("home", __name__)


@bp.get("/")
@allow()
def index() -> object:
    user = require_user()
    return render("home.html", user=user)
