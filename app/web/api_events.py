"""JSON API for events (/api/v1/events): the pages' access rules; 4xx errors name the field."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, make_response, request, url_for
from werkzeug.wrappers import Response

from .. import events, history, idempotency, live
from ..clock import iso
from . import api_models as m
from .context import event_or_404, get_db, library, now, require_user, signer
from .openapi import body as parsed_body
from .openapi import describe
from .params import int_arg
from .security import allow

bp = Blueprint("api_events", __name__, url_prefix="/api/v1/events")


def _idempotency_key() -> str | None:
    """The client's name for this write (a resend with it is answered, not done twice)."""
    return request.headers.get(idempotency.HEADER)


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
@describe("Lister les événements", tag="Événements", query=m.EventsQuery, response=m.EventList)
def list_events() -> Response:
    status = request.args.get("status") or None
    if status not in (None, "open", "closed"):
        raise events.EventError("status : open ou closed.", "status", status=400)
    return jsonify(events=[e.to_dict() for e in events.list_events(get_db(), status)])


@bp.post("")
@allow(*events.DECLARE_ROLES)
@describe(
    "Déclarer un événement", tag="Événements", body=m.EventIn, response=m.EventFull, status=201
)
def create_event() -> Response:
    given: m.EventIn = parsed_body()  # validated against the declared model before the view
    playbook = library().playbooks.get(given.playbook)
    if playbook is None:
        known = ", ".join(sorted(library().playbooks))
        raise events.EventError(
            f"Guide inconnu « {given.playbook} » (connus : {known}).", "playbook"
        )
    event = events.declare(
        get_db(),
        now(),
        playbook,
        actor=require_user(),
        title=given.title,
        params=given.params or {},
        site=given.site,
        point=given.point,
        drill=given.drill,
        level=given.level,
    )
    response = jsonify(_full(event))
    response.status_code = 201
    response.headers["Location"] = url_for("api_events.get_event", event_id=event.id)
    return response


def _as_at(event: events.Event) -> dict[str, Any]:
    """The event as it stood at ``?at=`` (``app.history``), the same fields as now plus
    ``as_at``; grants held then and the response's counts then are added."""
    at = history.parse_at(request.args["at"], event, now())
    past = history.situation_at(get_db(), event, at, library().playbook(event.kind))
    then = past.event
    next_report = events.next_report_at(then, at)
    response = past.response
    return {
        **then.to_dict(),
        "url": url_for("history.show_situation", event_id=event.id, at=past.at_iso),
        "checklist": [item.to_dict(at) for item in past.checklist],
        "log": [entry.to_dict() for entry in past.log],
        "next_report_at": iso(next_report) if next_report else None,
        "zones": past.zones,
        "as_at": past.at_iso,
        "grants_held": [
            {
                "user": g.user_name,
                "dataset": g.dataset_slug,
                "since": g.activated_at,
                "until": g.expires_at,
            }
            for g in past.grants
        ],
        "response": {
            "calls": response.calls,
            "open_centres": [
                {"id": c.id, "name": c.name, "occupancy": c.occupancy, "capacity": c.capacity}
                for c in response.centres
            ],
        },
        "limits": list(past.limits),
    }


@bp.get("/<int:event_id>")
@allow(*events.READ_ROLES)
@describe(
    "Un événement, sa liste d'actions et sa main courante",
    tag="Événements",
    query=m.AtQuery,
    response=m.EventFull,
    notes="Avec ?at=, l'événement tel qu'il était à cet instant (as_at, grants_held, response,"
    " limits en plus).",
)
def get_event(event_id: int) -> Response:
    """The event now, or with ``?at=<ISO 8601>`` as it stood then (400 for a bad time)."""
    event = event_or_404(event_id)
    if "at" in request.args:
        return jsonify(_as_at(event))
    return jsonify(_full(event))


@bp.get("/<int:event_id>/state")
@allow(*events.READ_ROLES)
@describe(
    "État en direct de l'événement",
    tag="Événements",
    response=m.EventStateOut,
    errors=(404,),
    notes="Ce que chaque vue ouverte interroge toutes les 2 s. Renvoyez l'ETag reçu dans "
    "If-None-Match : 304 tant que rien n'a changé (une lecture indexée).",
)
def get_state(event_id: int) -> Response:
    """The event's live state: its version and the version of each part's last change.

    Every open view polls it (``static/js/live.js``) with ``If-None-Match``: an unchanged event
    costs one indexed read and a 304. When the zones changed, ``zones`` carries what the notice
    says ("Zones recalculées (version 3, vent 260°) à 14:02 par …").
    """
    found = live.state(get_db(), event_id)
    if found is None:
        raise events.EventError("Cet événement n'existe pas.", "event", status=404)
    if request.if_none_match.contains_raw(found.etag):
        response = make_response("", 304)
    else:
        body = live.to_json(found)
        summary = events.zones_summary(get_db(), event_id)
        if summary is not None:
            change = found.parts.get("zones")
            summary["by"] = change.by if change else None
            summary["notice"] = events.zones_notice(summary, summary["by"]) if change else None
        body["zones"] = summary
        body["server_time"] = iso(now())
        response = jsonify(body)
    response.headers["ETag"] = found.etag
    return response


@bp.get("/<int:event_id>/log")
@allow(*events.READ_ROLES)
@describe("Lire la main courante", tag="Main courante", query=m.LogQuery, response=m.LogList)
def get_log(event_id: int) -> Response:
    event = event_or_404(event_id)
    since = int_arg("since", "since", 0)
    category = request.args.get("category") or None
    if category is not None and category not in events.CATEGORIES:
        raise events.EventError(f"Catégorie inconnue « {category} ».", "category", status=400)
    entries = events.log_entries(get_db(), event.id, since=since, category=category)
    return jsonify(
        entries=[e.to_dict() for e in entries], last_id=events.last_log_id(get_db(), event.id)
    )


@bp.post("/<int:event_id>/log")
@allow(*events.LOG_ROLES)
@describe(
    "Écrire dans la main courante",
    tag="Main courante",
    body=m.LogEntryIn,
    response=m.LogEntryOut,
    status=201,
    errors=(409,),
    idempotent=True,
)
def add_log_entry(event_id: int) -> Response:
    event = event_or_404(event_id)
    given: m.LogEntryIn = parsed_body()
    entry = events.add_log(
        get_db(),
        now(),
        event.id,
        actor=require_user(),
        category=given.category,
        text=given.text,
        fact_at=given.fact_at,
        corrects_id=given.corrects,
        idempotency_key=_idempotency_key(),
    )
    response = jsonify(entry.to_dict())
    response.status_code = 201
    return response


@bp.post("/<int:event_id>/checklist/<item>")
@allow(*events.CHECKLIST_ROLES)
@describe(
    "Cocher une action de la liste",
    tag="Main courante",
    body=m.TickIn,
    body_required=False,
    response=m.ChecklistItemOut,
    errors=(409,),
    idempotent=True,
)
def tick_item(event_id: int, item: str) -> Response:
    """Mark an item done; ``item`` is its id or its playbook key (e.g. ``sirenes-fr-alert``).

    Optional ``fact_at`` (when it was done) and ``Idempotency-Key`` header, as for the log.
    """
    event = event_or_404(event_id)
    given: m.TickIn = parsed_body()
    found = next(
        (
            i
            for i in events.checklist(get_db(), event.id)
            if str(i.id) == item or i.item_key == item
        ),
        None,
    )
    if found is None:
        raise events.EventError(
            f"Action « {item} » introuvable dans cette liste.", "item", status=404
        )
    done = events.tick_item(
        get_db(),
        now(),
        event.id,
        found.id,
        actor=require_user(),
        note=given.note,
        fact_at=given.fact_at,
        idempotency_key=_idempotency_key(),
    )
    return jsonify(done.to_dict(now()))


# --- commands: level, parameters, closure --------------------------------------------------------


@bp.post("/<int:event_id>/level")
@allow(*events.COMMAND_ROLES)
@describe(
    "Changer le niveau (avec le motif)",
    tag="Événements",
    body=m.LevelIn,
    response=m.EventOut,
    errors=(409,),
    notes="Niveau 1 à 5 ; le motif est écrit dans la main courante. Une alerte CAP en vigueur "
    "est alors signalée à mettre à jour.",
)
def change_level(event_id: int) -> Response:
    """Raise or lower the level (1 to 5); the reason is written in the main courante."""
    event = event_or_404(event_id)
    given: m.LevelIn = parsed_body()
    changed = events.change_level(
        get_db(), now(), event.id, given.level, actor=require_user(), reason=given.reason
    )
    return jsonify(changed.to_dict())


@bp.post("/<int:event_id>/params")
@allow(*events.PARAMS_ROLES)
@describe(
    "Changer des paramètres (nouvelle version des zones)",
    tag="Événements",
    body=m.ParamsIn,
    response=m.ParamsOut,
    errors=(409,),
    notes="Les paramètres qui changent (un vent qui tourne : wind_from_deg), vérifiés par le "
    "guide (hors bornes : refusés, jamais ramenés) ; les zones sont recalculées "
    "(zones_version).",
)
def change_params(event_id: int) -> Response:
    """A wind shift, a new forecast level…: the parameters that change, checked by the
    playbook; the zones are recomputed (``zones_version`` in the answer)."""
    event = event_or_404(event_id)
    given: m.ParamsIn = parsed_body()
    playbook = library().playbook(event.kind)
    if playbook is None:
        raise events.EventError(
            "Le guide de cet événement n'est plus chargé : paramètres non modifiables.",
            "params",
            status=409,
        )
    changed = events.change_params(
        get_db(), now(), event.id, playbook, given.params, actor=require_user(), reason=given.reason
    )
    zones = events.latest_zones(get_db(), event.id)
    return jsonify({**changed.to_dict(), "zones_version": zones["version"] if zones else None})


@bp.put("/<int:event_id>/synthesis")
@allow(*events.SYNTHESIS_ROLES)
@describe(
    "Écrire la synthèse du directeur (nouvelle version)",
    tag="Événements",
    body=m.SynthesisIn,
    response=m.EventOut,
    errors=(409,),
    notes="Le texte entier remplace la synthèse en vigueur (page 1 du point de situation) ; "
    "chaque version est écrite dans la main courante. Un texte identique est refusé (422).",
)
def put_synthesis(event_id: int) -> Response:
    """A new version of the director's synthesis (``events.set_synthesis``, as the page)."""
    event = event_or_404(event_id)
    given: m.SynthesisIn = parsed_body()
    updated = events.set_synthesis(get_db(), now(), event, given.text, require_user())
    return jsonify(updated.to_dict())


@bp.post("/<int:event_id>/close")
@allow(*events.COMMAND_ROLES)
@describe(
    "Clore l'événement (déclaration de clôture)",
    tag="Événements",
    body=m.CloseIn,
    response=m.EventOut,
    errors=(409,),
    notes="L'événement passe en lecture seule, ses accès bris de glace prennent fin, un point "
    "de contrôle de la chaîne d'audit est signé.",
)
def close_event(event_id: int) -> Response:
    """The event becomes read-only; its break-glass accesses end; a checkpoint is signed."""
    event = event_or_404(event_id)
    given: m.CloseIn = parsed_body()
    closed = events.close(get_db(), now(), event.id, given.statement, actor=require_user())
    signer().sign(get_db(), now(), f"event-close:{event.id}")
    return jsonify(closed.to_dict())
