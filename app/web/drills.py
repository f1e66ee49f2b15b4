"""Drill pages: the list and start form, a drill's control page (MSEL, controls, "urgence
réelle"), the players' acknowledgements, the after-action report (page and PDF), the CAP export.

The director of exercise sees the whole master scenario events list with the expected actions;
players (director, cell, liaison) only see the injects already played, each with its "Action
réalisée" button. Every page of a drill carries the EXERCICE banner.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, make_response, redirect, request, url_for
from werkzeug.wrappers import Response

from .. import auth, drills, events, messages
from ..playbooks import CHANGE_KINDS, Scenario
from .context import event_or_404, get_db, library, live_state, now, require_user
from .htmx import htmx, render
from .notices import done, refused
from .security import allow

bp = Blueprint("drills", __name__, url_prefix="/drills")


# --- helpers ------------------------------------------------------------------------------------


def _drill(event_id: int) -> drills.Drill:
    found = drills.get_drill(get_db(), event_id)
    if found is None:
        raise drills.DrillError("Cet exercice n'existe pas.", 404)
    return found


def _scenario(drill: drills.Drill) -> Scenario:
    found = library().scenario(drill.scenario_id)
    if found is None:
        raise drills.DrillError(f"Le scénario « {drill.scenario_id} » n'est plus disponible.", 404)
    return found


def _inject(scenario: Scenario, inject_id: str) -> Any:
    found = scenario.inject(inject_id)
    if found is None:
        raise drills.DrillError("Cet inject n'existe pas dans le scénario.", 404)
    return found


def _back(event_id: int) -> Response:
    return redirect(url_for("drills.show_drill", event_id=event_id))


def _declare_url(event: events.Event) -> str | None:
    """The events' declaration page, prefilled with the drill's kind and site, if it exists."""
    if "events.new_event" not in current_app.view_functions:
        return None
    args = {"playbook": event.kind, **({"site": event.site_fid} if event.site_fid else {})}
    return url_for("events.new_event", **args)


def _event_url(event_id: int) -> str | None:
    if "events.show_event" not in current_app.view_functions:
        return None
    return url_for("events.show_event", event_id=event_id)


def _injects_context(drill: drills.Drill, scenario: Scenario) -> dict[str, Any]:
    user = require_user()
    decided = drills.inject_rows(get_db(), drill.event_id)
    director = user.has(*drills.DIRECT_ROLES)
    items = []
    for inject in scenario.injects:
        state = decided.get(inject.id)
        if not director and (state is None or state["outcome"] != "fired"):
            continue  # players never see what is coming
        items.append({"inject": inject, "row": state, "kind": drills.inject_label(inject)})
    if not director:
        items.sort(key=lambda item: item["row"]["fired_at"], reverse=True)
    return {
        "drill": drill,
        "scenario": scenario,
        "items": items,
        "director": director,
        "can_ack": user.has(*drills.ACK_ROLES),
        "scenario_minutes": drill.scenario_seconds(now()) // 60,
        "role_labels": auth.ROLES,
        "change_kinds": CHANGE_KINDS,
    }


# --- list and start -----------------------------------------------------------------------------


@bp.get("/")
@allow(*drills.READ_ROLES)
def list_drills(
    error: str | None = None,
    status: int = 200,
    confirm: drills.RealEventOpen | None = None,
    scenario: Scenario | None = None,
) -> Response:
    db = get_db()
    return render(
        "drills/list.html",
        status=status,
        drills=drills.list_drills(db),
        scenarios=sorted(library().scenarios.values(), key=lambda s: s.title),
        can_start=require_user().has(*drills.DIRECT_ROLES),
        real_events=drills.open_real_events(db),
        confirm=confirm,
        chosen=scenario,
        form_error=error,
        drill_banner=False,
    )


@bp.post("/")
@allow(*drills.DIRECT_ROLES)
def start_drill() -> Response:
    scenario = library().scenario(request.form.get("scenario", ""))
    if scenario is None:
        return list_drills(error="Choisissez un scénario.", status=422)
    confirmed = [int(x) for x in request.form.getlist("confirm_real") if x.isdigit()]
    try:
        drill = drills.start_drill(
            get_db(),
            now(),
            scenario,
            require_user(),
            library().playbooks,
            confirmed_real=confirmed,
        )
    except drills.RealEventOpen as exc:
        # Not an error: a question. The page asks it, naming the real events, with the button.
        return list_drills(confirm=exc, scenario=scenario, status=409)
    except drills.DrillError as exc:
        return list_drills(error=exc.message, status=422)
    return _back(drill.event_id)


# --- one drill ----------------------------------------------------------------------------------


@bp.get("/<int:event_id>")
@allow(*drills.READ_ROLES)
def show_drill(event_id: int) -> Response:
    drill = _drill(event_id)
    scenario = _scenario(drill)
    event = event_or_404(event_id)
    return render(
        "drills/detail.html",
        "drills/_injects.html",
        event=event,
        declare_url=_declare_url(event),
        event_url=_event_url(event_id),
        can_stop=require_user().has(*drills.STOP_ROLES),
        casualties=drills.latest_casualties(get_db(), event_id),
        drill_banner=True,
        live_state=None if htmx else live_state(event_id),  # injects follow the drill live
        **_injects_context(drill, scenario),
    )


@bp.get("/<int:event_id>/notices")
@allow(*drills.READ_ROLES)
def show_notices(event_id: int) -> Response:
    """The injects waiting for my roles on this drill (``drills/_inject_notices.html``)."""
    event = event_or_404(event_id)
    return render(
        "drills/notices.html", "drills/_inject_notices.html", event=event, drill_banner=True
    )


@bp.post("/<int:event_id>/injects/<inject_id>/fire")
@allow(*drills.DIRECT_ROLES)
def fire_inject(event_id: int, inject_id: str) -> Response:
    drill = _drill(event_id)
    inject = _inject(_scenario(drill), inject_id)
    drills.fire_inject(get_db(), now(), event_id, inject, require_user().login, library().playbooks)
    return _back(event_id)


@bp.post("/<int:event_id>/injects/<inject_id>/ack")
@allow(*drills.ACK_ROLES)
def acknowledge_inject(event_id: int, inject_id: str) -> Response:
    drill = _drill(event_id)
    inject = _inject(_scenario(drill), inject_id)
    back = request.form.get("next") or url_for("drills.show_drill", event_id=event_id)
    try:
        entry_id = drills.acknowledge_inject(
            get_db(), now(), event_id, inject, require_user(), request.form.get("note", "")
        )
    except drills.DrillError as exc:
        if exc.status == 404:
            raise
        return refused(exc.message, back)
    return done(
        f"Inject « {inject.title} » marqué traité : noté en main courante (n°{entry_id}).", back
    )


def _control(event_id: int, action: Any) -> Response:
    _drill(event_id)
    action(get_db(), now(), event_id, require_user())
    return _back(event_id)


@bp.post("/<int:event_id>/pause")
@allow(*drills.DIRECT_ROLES)
def pause_drill(event_id: int) -> Response:
    return _control(event_id, drills.pause)


@bp.post("/<int:event_id>/resume")
@allow(*drills.DIRECT_ROLES)
def resume_drill(event_id: int) -> Response:
    return _control(event_id, drills.resume)


@bp.post("/<int:event_id>/end")
@allow(*drills.DIRECT_ROLES)
def end_drill(event_id: int) -> Response:
    _control(event_id, drills.end)
    return redirect(url_for("drills.show_after_action", event_id=event_id))


@bp.post("/<int:event_id>/stop")
@allow(*drills.STOP_ROLES)
def stop_drill(event_id: int) -> Response:
    _drill(event_id)
    drills.real_emergency(get_db(), now(), event_id, require_user(), request.form.get("reason", ""))
    return _back(event_id)


# --- after-action report ------------------------------------------------------------------------


@bp.get("/<int:event_id>/after-action")
@allow(*drills.REPORT_ROLES)
def show_after_action(event_id: int, error: str | None = None, status: int = 200) -> Response:
    drill = _drill(event_id)
    report = drills.after_action(get_db(), event_id, library().scenario(drill.scenario_id), now())
    return render(
        "drills/after_action.html",
        "drills/_debrief_form.html",
        status=status,
        report=report,
        drill=report.drill,
        can_edit=require_user().has(*drills.DIRECT_ROLES),
        form_error=error,
        fmt=drills.format_minutes,
        role_labels=auth.ROLES,
        drill_banner=True,
    )


@bp.post("/<int:event_id>/after-action")
@allow(*drills.DIRECT_ROLES)
def save_debrief(event_id: int) -> Response:
    _drill(event_id)
    try:
        drills.save_debrief(
            get_db(),
            now(),
            event_id,
            request.form.get("went_well", ""),
            request.form.get("to_improve", ""),
            require_user(),
        )
    except drills.DrillError as exc:
        return show_after_action(event_id, error=exc.message, status=422)
    return redirect(url_for("drills.show_after_action", event_id=event_id))


@bp.get("/<int:event_id>/after-action.pdf")
@allow(*drills.REPORT_ROLES)
def after_action_pdf(event_id: int) -> Response:
    drill = _drill(event_id)
    report = drills.after_action(get_db(), event_id, library().scenario(drill.scenario_id), now())
    response = make_response(drills.after_action_pdf(report, now()))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = (
        f'inline; filename="EXERCICE-retex-evenement-{event_id}.pdf"'
    )
    return response


@bp.get("/<int:event_id>/cap.xml")
@allow(*drills.READ_ROLES)
def cap_alert(event_id: int) -> Response:
    event = event_or_404(event_id)
    body = messages.event_cap(get_db(), now(), event_id, library().playbook(event.kind))
    response = make_response(body)
    response.headers["Content-Type"] = "application/xml; charset=utf-8"
    prefix = "EXERCICE-" if event.is_drill else ""
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{prefix}alerte-cap-evenement-{event_id}.xml"'
    )
    return response
