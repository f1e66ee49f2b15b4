"""Sign-in and sign-out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, request, session, url_for
from flask_limiter.util import get_remote_address
from werkzeug.wrappers import Response

from .. import auth
from .context import current_user, get_db, now
from .errors import fail
from .htmx import render
from .security import SESSION_COOKIE, allow, limiter, lockout_policy, set_session_cookie

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only local paths: an open redirect after sign-in would be a phishing gift."""
    if not target:
        return url_for("home.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("home.index")
    return target


def _address_and_login() -> str:
    """The rate limit's key for one account from one address (a shift behind one NAT signs in
    at the same minute: each person has their own allowance)."""
    login = request.form.get("login", "").strip().lower()[:64]
    return f"{get_remote_address()}|{login}"


@bp.route("/login", methods=["GET", "POST"])
@allow(public=True)
@limiter.limit("30 per minute", methods=["POST"], key_func=_address_and_login)
@limiter.limit("600 per minute", methods=["POST"])  # the address's high ceiling
def login() -> Response | str:
    next_url = _safe_next(request.values.get("next"))
    if request.method != "POST":  # GET or HEAD: never an attempt to sign in
        if current_user():
            return redirect(next_url)
        return render(
            "auth/login.html",
            next=next_url,
            error=None,
            login="",
            expired=request.args.get("expired") == "1",
        )
    login_name = request.form.get("login", "").strip()
    password = request.form.get("password", "")
    client = request.remote_addr or "?"
    db = get_db()
    try:
        user = auth.authenticate(
            db, now(), login_name, password, client, lockout_policy(current_app)
        )
    except auth.LockedOut as exc:
        fail(429, str(exc))
    except auth.AuthError as exc:
        return render(
            "auth/login.html", status=401, next=next_url, error=str(exc), login=login_name
        )
    session.clear()  # new CSRF secret: nothing from before sign-in survives it
    token = auth.start_session(db, now(), user, client)
    response = redirect(next_url)
    set_session_cookie(response, token)
    return response


@bp.post("/logout")
@allow()
def logout() -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    auth.end_session(get_db(), now(), token)
    session.clear()
    response = redirect(url_for("auth.login"))
    response.delete_cookie(SESSION_COOKIE, path="/")
    # A shared tablet keeps nothing of the session: the offline copy, its queue, the worker.
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response
