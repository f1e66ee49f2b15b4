"""Authentication of every request, CSRF, rate limits and headers.

Every view declares who may use it with ``@allow(...)`` (``rules``); a request to a view without a
rule is refused here (fail closed).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, g, jsonify, redirect, request, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from .. import auth, messages
from .context import close_db, get_db, now
from .htmx import htmx
from .rules import API_PATHS, Rule, allow, rule_for

log = logging.getLogger(__name__)

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)

SESSION_COOKIE = "cc_session"


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's cookie only carries the CSRF secret; Secure follows TLS in 'auto' mode."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return _secure(app)


def _secure(app: Flask) -> bool:
    mode = str(app.config.get("CRISIS_SECURE_COOKIES", "auto"))
    if mode == "auto":
        return bool(request) and request.is_secure
    return mode == "1"


def is_api() -> bool:
    return request.path.startswith(API_PATHS)


def session_policy(app: Flask) -> auth.SessionPolicy:
    from datetime import timedelta

    return auth.SessionPolicy(
        idle=timedelta(minutes=int(app.config["CRISIS_IDLE_TIMEOUT_MIN"])),
        absolute=timedelta(hours=int(app.config["CRISIS_ABSOLUTE_TIMEOUT_H"])),
    )


def lockout_policy(app: Flask) -> auth.LockoutPolicy:
    from datetime import timedelta

    return auth.LockoutPolicy(
        pair_failures=int(app.config["CRISIS_LOGIN_MAX_FAILURES"]),
        account_failures=int(app.config["CRISIS_LOGIN_ACCOUNT_MAX_FAILURES"]),
        client_failures=int(app.config["CRISIS_LOGIN_CLIENT_MAX_FAILURES"]),
        window=timedelta(minutes=int(app.config["CRISIS_LOCKOUT_MIN"])),
        lock=timedelta(minutes=int(app.config["CRISIS_LOCKOUT_MIN"])),
    )


def _authenticate(rule: Rule) -> None:
    g.user = None
    g.bearer = False
    g.feed_partner = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and is_api():
        token = header[7:].strip()
        g.user = auth.token_user(get_db(), now(), token)
        if g.user is None and rule.feed:
            # A partner's system reading the CAP feed: its feed token opens that, nothing else.
            g.feed_partner = messages.feed_partner(get_db(), now(), token)
        g.bearer = g.user is not None or g.feed_partner is not None
        if not g.bearer:
            abort(401)
        return
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        g.user = auth.session_user(
            get_db(), now(), token, session_policy(current_app), touch=not rule.passive
        )
        if g.user is None:
            g.drop_session_cookie = True


def _enforce() -> Response | None:
    rule = rule_for(current_app, request.endpoint)
    if request.endpoint is None:
        return None  # 404/405 handled by Flask
    if rule is None:
        log.error("no access rule for endpoint %s: refused", request.endpoint)
        abort(403)
    if request.endpoint == "static" or request.endpoint.startswith("assets."):
        return None
    _authenticate(rule)
    # CSRF protects a session's writes and every page form; an API write with neither session
    # nor token is refused below (401: authentication is what it lacks) whatever it carries.
    if (
        request.method not in ("GET", "HEAD", "OPTIONS")
        and not g.bearer
        and (g.user is not None or rule.public or not is_api())
    ):
        csrf.protect()
    if rule.allows(g.user) or (rule.feed and g.feed_partner is not None):
        return None
    if g.user is None:
        if is_api():
            abort(401)
        target = url_for("auth.login", next=_return_to(), **_expired())
        if htmx:
            response = Response(status=204)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target)
    abort(403)


def _return_to() -> str:
    """Where to come back after signing in: the page, not the fragment an htmx poll asked for,
    nor the address a form posts to (the form's page, where its draft is offered again)."""
    current = request.headers.get("HX-Current-URL") if htmx else None
    if current is None and request.method not in ("GET", "HEAD"):
        current = request.referrer
    if current:
        parts = urlsplit(current)
        if parts.netloc in ("", request.host):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return request.full_path.rstrip("?")


def _expired() -> dict[str, str]:
    """Say so on the sign-in page when a session cookie came but its session has ended."""
    return {"expired": "1"} if g.get("drop_session_cookie") else {}


def _headers(response: Response) -> Response:
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:;"
        " font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none';"
        " frame-ancestors 'none'; form-action 'self'"
    )
    response.headers.setdefault("Content-Security-Policy", csp)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(self)"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if _secure(current_app):
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    # Static files, vendored assets and basemap tiles (versioned URLs, ETags) may be cached;
    # a redirect to sign in or an error never.
    tile = request.endpoint == "basemaps.tile" and response.status_code in (200, 304)
    if (
        not tile
        and request.endpoint != "static"
        and not (request.endpoint or "").startswith("assets.")
    ):
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    if g.get("drop_session_cookie"):
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def set_session_cookie(response: Response, token: str) -> None:
    """The server-side session's cookie: HttpOnly, SameSite=Lax, Secure over TLS."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=_secure(current_app),
        path="/",
    )


def init_app(app: Flask) -> None:
    """Wire rules, CSRF, limiter and headers into the app."""
    proxies = int(app.config.get("CRISIS_PROXIES", 0))
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )
    app.session_interface = _SessionInterface()
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["CRISIS_RATELIMIT_STORAGE"])
    csrf.init_app(app)
    limiter.init_app(app)
    htmx.init_app(app)
    app.before_request(_enforce)
    app.after_request(_headers)
    app.teardown_appcontext(close_db)

    @app.errorhandler(401)
    def _unauthorised(_e: Exception) -> Any:
        response = jsonify(
            error="Échec de l'authentification : jeton Bearer invalide, ou ni jeton ni session.",
            status=401,
        )
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="crisis-console"'
        return response


__all__ = ["Rule", "allow", "csrf", "init_app", "limiter", "rule_for", "set_session_cookie"]
