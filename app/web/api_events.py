"""JSON API for events (/api/v1/events): the pages' access rules; 4xx errors name the field."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request, url_for
from werkzeug.wrappers import Response

from .. import events
from .context import get_db, now, require_user
from .events import app_playbooks
from .security import allow

bp = Blueprint("api_events", __name__, url_prefix="/api/v1/events")


def _error(status: int, message: str, field: str | None = None) -> Response:
    response = jsonify(error=message, field=field, status=status)
    response.status_code = status
    return response


def _refused(exc: events.EventError) -> Response:
    return _error(exc.status, exc.message, exc.field)


def _body() -> dict[str, Any] | Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _error(400, "Corps JSON attendu (un objet).", "body")
    return body


def _event(event_id: int) -> events.Event | Response:
    event = events.get_event(get_db(), event_id)
    if event is None:
        return _error(404, "Cet événement n'existe pas.", "event")
    return event


def _full(event: events.Event) -> dict[str, Any]:
    db = get_db()
    moment = now()
    next_report = events.next_report_at(event, moment)
    zones = events.latest_zones(db, event.id)
    return {
        **event.to_dict(),
        "url": url_for("events.show_event", event_id=event.id),
        "checklist": [item.to_dict(moment) for item in events.checklist(db, event.id)],
        "log": [entry.to_dict() for entry in events.log_entries(db, event.id)],
        "next_report_at": next_report.strftime("%Y-%m-%dT%H:%M:%SZ") if next_report else None,
        "zones": zones,
    }


@bp.get("")
@allow(*events.READ_ROLES)
def list_events() -> Response:
    status = request.args.get("status") or None
    if status not in (None, "open", "closed"):
        return _error(400, "status : open ou closed.", "status")
    return jsonify(events=[e.to_dict() for e in events.list_events(get_db(), status)])


@bp.post("")
@allow(*events.DECLARE_ROLES)
def create_event() -> Response:
    body = _body()
    if isinstance(body, Response):
        return body
    unknown = sorted(set(body) - {"playbook", "title", "site", "point", "params", "drill", "level"})
    if unknown:
        return _error(400, f"Champ inconnu : {', '.join(unknown)}.", unknown[0])
    playbook = app_playbooks().get(str(body.get("playbook") or ""))
    if playbook is None:
        known = ", ".join(sorted(app_playbooks()))
        return _error(
            422, f"Guide inconnu « {body.get('playbook')} » (connus : {known}).", "playbook"
        )
    params = body.get("params") or {}
    if not isinstance(params, dict):
        return _error(422, "« params » doit être un objet nom → valeur.", "params")
    site = body.get("site")
    if site is not None and not isinstance(site, str):
        return _error(422, "« site » doit être l'identifiant d'un site (texte).", "site")
    try:
        event = events.declare(
            get_db(),
            now(),
            playbook,
            actor=require_user(),
            title=body.get("title"),
            params=params,
            site=site,
            point=body.get("point"),
            drill=body.get("drill", False),
            level=body.get("level"),
        )
    except events.EventError as exc:
        return _refused(exc)
    response = jsonify(_full(event))
    response.status_code = 201
    response.headers["Location"] = url_for("api_events.get_event", event_id=event.id)
    return response


@bp.get("/<int:event_id>")
@allow(*events.READ_ROLES)
def get_event(event_id: int) -> Response:
    event = _event(event_id)
    if isinstance(event, Response):
        return event
    return jsonify(_full(event))


@bp.get("/<int:event_id>/log")
@allow(*events.READ_ROLES)
def get_log(event_id: int) -> Response:
    event = _event(event_id)
    if isinstance(event, Response):
        return event
    since = request.args.get("since", default=0, type=int)
    category = request.args.get("category") or None
    if category is not None and category not in events.CATEGORIES:
        return _error(400, f"Catégorie inconnue « {category} ».", "category")
    entries = events.log_entries(get_db(), event.id, since=since, category=category)
    return jsonify(
        entries=[e.to_dict() for e in entries], last_id=events.last_log_id(get_db(), event.id)
    )


@bp.post("/<int:event_id>/log")
@allow(*events.LOG_ROLES)
def add_log_entry(event_id: int) -> Response:
    event = _event(event_id)
    if isinstance(event, Response):
        return event
    body = _body()
    if isinstance(body, Response):
        return body
    try:
        entry = events.add_log(
            get_db(),
            now(),
            event.id,
            actor=require_user(),
            category=body.get("category", "information"),
            text=body.get("text"),
            fact_at=body.get("fact_at"),
            corrects_id=body.get("corrects"),
        )
    except events.EventError as exc:
        return _refused(exc)
    response = jsonify(entry.to_dict())
    response.status_code = 201
    return response


@bp.post("/<int:event_id>/checklist/<item>")
@allow(*events.CHECKLIST_ROLES)
def tick_item(event_id: int, item: str) -> Response:
    """Mark an item done; ``item`` is its id or its playbook key (e.g. ``sirenes-fr-alert``)."""
    event = _event(event_id)
    if isinstance(event, Response):
        return event
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        return _error(400, "Corps JSON attendu (un objet).", "body")
    note = body.get("note") or ""
    if not isinstance(note, str):
        return _error(422, "« note » doit être un texte.", "note")
    found = next(
        (
            i
            for i in events.checklist(get_db(), event.id)
            if str(i.id) == item or i.item_key == item
        ),
        None,
    )
    if found is None:
        return _error(404, f"Action « {item} » introuvable dans cette liste.", "item")
    try:
        done = events.tick_item(
            get_db(), now(), event.id, found.id, actor=require_user(), note=note
        )
    except events.EventError as exc:
        return _refused(exc)
    return jsonify(done.to_dict(now()))
