"""The offline tablet: web manifest, service worker, what a tablet may keep.

The service worker (``static/js/sw.js``, served at ``/sw.js`` so that it may control the whole
origin) keeps only the responses the server marks ``X-Offline: cache``; everything else is never
stored (default deny). A response is marked when its endpoint is listed in :data:`CACHEABLE`, its
own check passes (a public dataset, a report that is not DIFFUSION RESTREINTE) and the user read
no restricted or personal data while building it: every such read leaves a ``data.read`` audit
record naming its request (``access.read_since``), so grant-opened layers and personal data are
never marked. Where
an unrestricted variant of the same view exists (figures, map points), the unmarked response
names it in ``X-Offline-Alternate`` and the tablet keeps that one instead.

Every response to a signed-in user carries ``X-Situation-At`` (the server's time), the age the
offline banner shows. The queue of writes made offline (``static/js/offline.js``) sends them
through the JSON API with an ``Idempotency-Key``; ``/api/v1/whoami`` tells it who is signed in and
hands it a fresh CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, g, jsonify, request, url_for
from werkzeug.wrappers import Response

from .. import access, audit, catalogue, events, reports
from ..clock import iso
from .access import request_id
from .context import current_user, get_db, now
from .htmx import render
from .security import allow

bp = Blueprint("offline", __name__)

MARK_HEADER = "X-Offline"
MARK = "cache"
ALTERNATE_HEADER = "X-Offline-Alternate"
SITUATION_HEADER = "X-Situation-At"
UNRESTRICTED_ARG = "unrestricted"  # ?unrestricted=1: the view as someone holding no grant sees it
THEME_COLOUR = "#12263f"  # --navy of app.css


def _always() -> bool:
    return True


def _public_dataset() -> bool:
    found = catalogue.get_dataset(get_db(), str((request.view_args or {}).get("slug", "")))
    return found is not None and found.sensitivity == "public"


def _unrestricted_report() -> bool:
    found = reports.get_report(get_db(), int((request.view_args or {}).get("report_id", 0)))
    return found is not None and found.classification != reports.RESTRICTED


# Endpoints whose answers a tablet may keep, each with a check of its own. Anything not listed
# is never stored. The liaison page and its pieces: figures, zones, map points, basemap, the
# last situation report. Static files and the vendored libraries make the page work offline.
CACHEABLE: dict[str, Callable[[], bool]] = {
    "static": _always,
    "assets.htmx_file": _always,
    "assets.leaflet_file": _always,
    "offline.manifest": _always,
    "offline.favicon": _always,
    "offline.fallback": _always,
    "events.show_liaison": _always,
    "events.show_upcoming": _always,
    "impact.show_impact": _always,
    "impact.zones_api": _always,
    "impact.map_features_api": _always,
    "catalogue.api_features": _public_dataset,
    "reports.download_report": _unrestricted_report,
}
# Views that can leave out what grants open (``?unrestricted=1``): the copy a tablet keeps.
UNRESTRICTED_VARIANT = frozenset({"impact.show_impact", "impact.map_features_api"})
# Code and public files: no user data, no need to look at the audit trail.
_NO_DATA = frozenset(
    {
        "static",
        "assets.htmx_file",
        "assets.leaflet_file",
        "offline.manifest",
        "offline.favicon",
        "offline.fallback",
    }
)


def unrestricted_view() -> bool:
    """Whether this request asks for the view without grant-opened data (the offline copy)."""
    return request.args.get(UNRESTRICTED_ARG) == "1"


@bp.before_app_request
def _note_audit_head() -> None:
    if request.method == "GET" and request.endpoint in CACHEABLE:
        if request.endpoint not in _NO_DATA and current_user() is not None:
            g.offline_audit_seq = audit.head(get_db())[0]


@bp.after_app_request
def _mark(response: Response) -> Response:
    user = current_user()
    if user is not None:
        response.headers[SITUATION_HEADER] = iso(now())
    endpoint = request.endpoint
    check = CACHEABLE.get(endpoint or "")
    if request.method != "GET" or response.status_code != 200 or check is None:
        return response
    if endpoint not in _NO_DATA:
        seq = g.get("offline_audit_seq")
        if user is None or seq is None or not check():
            return response
        if access.read_since(get_db(), seq, user.login, request_id()):
            if endpoint in UNRESTRICTED_VARIANT and not unrestricted_view():
                args = request.args.to_dict()
                args[UNRESTRICTED_ARG] = "1"
                response.headers[ALTERNATE_HEADER] = f"{request.path}?{urlencode(args)}"
            return response
    response.headers[MARK_HEADER] = MARK
    return response


@bp.get("/sw.js")
@allow(public=True)
def service_worker() -> Response:
    """The service worker, at the root so that its scope is the whole origin."""
    path = Path(str(current_app.static_folder)) / "js" / "sw.js"
    response = Response(path.read_bytes(), mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/favicon.ico")
@allow(public=True)
def favicon() -> Response:
    """The browser tab's icon, where browsers look for it without being told."""
    path = Path(str(current_app.static_folder)) / "icons" / "favicon.ico"
    response = Response(path.read_bytes(), mimetype="image/vnd.microsoft.icon")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.get("/manifest.webmanifest")
@allow(public=True)
def manifest() -> Response:
    """The web app manifest: the console installs like an app on a tablet."""
    icon = "icons/icon-{}.png"
    body = {
        "name": "Console de crise — Caux Seine",
        "short_name": "Crise Caux Seine",
        "description": "Console de crise de Caux Seine Agglomération : la situation, même hors"
        " ligne.",
        "lang": "fr",
        "dir": "ltr",
        "id": "/",
        "start_url": url_for("home.index"),
        "scope": "/",
        "display": "standalone",
        "background_color": "#f3f5f8",
        "theme_color": THEME_COLOUR,
        "icons": [
            {
                "src": url_for("static", filename=icon.format(size)),
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": "any",
            }
            for size in (192, 512)
        ]
        + [
            {
                "src": url_for("static", filename="icons/icon-maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            }
        ],
    }
    response = jsonify(body)
    response.mimetype = "application/manifest+json"
    return response


@bp.get("/offline")
@allow(public=True)
def fallback() -> Response:
    """What the service worker shows for a page it does not hold: the situations it holds."""
    # Kept by the service worker for everyone: nobody's name, menu or form token on it.
    return render(
        "offline.html",
        current_user=None,
        menu=None,
        csrf_token=lambda: "",
        offline={"user": None, "at": None, "fallback_page": True},
    )


# --- what a page tells offline.js -----------------------------------------------------------


def base_config(page: dict[str, Any] | None) -> dict[str, Any]:
    """The settings of ``_offline.html`` for any page, with the page's own on top."""
    user = current_user()
    config: dict[str, Any] = {
        "at": int(now().timestamp() * 1000),  # the server's time of the page, ms since epoch
        "user": user.login if user else None,
        "sw": url_for("offline.service_worker"),
        "session": url_for("api.whoami"),
        "logout": url_for("auth.logout"),
        "fallback": url_for("offline.fallback"),
    }
    config.update(page or {})
    return config


def liaison_config(
    event: events.Event, last_report: reports.Report | None, basemap: Iterable[str]
) -> dict[str, Any]:
    """The liaison view: register the service worker, keep its pieces (``basemap``: the URLs of
    the layers its map draws under the zones), queue its writes."""

    def unrestricted(endpoint: str, **values: Any) -> str:
        return url_for(endpoint, **values, **{UNRESTRICTED_ARG: "1"})

    page = url_for("events.show_liaison", event_id=event.id)
    figures = url_for("impact.show_impact", event_id=event.id)
    points = url_for("impact.map_features_api", event_id=event.id)
    warm: list[dict[str, Any]] = [
        {"key": page, "url": page},
        {"key": figures, "url": unrestricted("impact.show_impact", event_id=event.id), "htmx": 1},
        {"key": url_for("events.show_upcoming", event_id=event.id), "htmx": 1},
        {"key": url_for("impact.zones_api", event_id=event.id)},
        {"key": points, "url": unrestricted("impact.map_features_api", event_id=event.id)},
        *({"key": url} for url in basemap),
    ]
    if last_report is not None and last_report.classification != reports.RESTRICTED:
        warm.append({"key": url_for("reports.download_report", report_id=last_report.id)})
    log_form = url_for("events.add_log_entry", event_id=event.id)
    tick_form = url_for("events.tick_item", event_id=event.id, item_id=0).rsplit("/", 1)[0]
    tick_api = url_for("api_events.tick_item", event_id=event.id, item="x").rsplit("/", 1)[0]
    return {
        "register": True,
        "event": event.id,
        "situation": {"url": page, "title": event.title},
        "warm": warm,
        "routes": [
            {
                "kind": "log",
                "form": log_form,
                "api": url_for("api_events.add_log_entry", event_id=event.id),
                "after": ["log-changed"],
            },
            {
                "kind": "tick",
                "form": tick_form + "/",
                "api": tick_api + "/",
                "prefix": True,
                "after": ["log-changed", "checklist-changed"],
                "reload": {
                    "url": url_for("events.show_checklist", event_id=event.id, compact="1"),
                    "target": "#event-checklist",
                },
            },
        ],
    }


@bp.app_context_processor
def _offline_settings() -> dict[str, Any]:
    # ``_offline.html`` (included by base.html) renders offline_config(offline) as data-config.
    return {"offline_config": base_config}
