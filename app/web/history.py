"""The past of an event on screen: the situation as it stood at a chosen time (a read-only
historical view), its chronology (filterable, printable, CSV) and a situation report
regenerated "as at" that time. Everything is read through ``app.history``.

Who sees an event's history: the readers of the event page. Restricted data is shown only under
a grant valid *now* (the figures and the map read through ``access.read_features`` as on the
live page); grants held then are listed as on the event page (holder, dataset, times).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, make_response, redirect, request, url_for
from werkzeug.wrappers import Response

from .. import events, history
from ..clock import local
from ..pcs import callouts, calls
from .context import event_or_404, get_db, library, now, require_user
from .htmx import render
from .impact import figures_context
from .reports import GENERATE_ROLES, issue_manual
from .security import allow

bp = Blueprint("history", __name__, url_prefix="/events")

READ_ROLES = events.READ_ROLES  # the same rule as the event page


def selector_context(event: events.Event, at: str | None = None) -> dict[str, Any]:
    """What ``events/_as_at.html`` offers: the moment shown and quick choices (declaration,
    each zones version, now)."""
    versions = history.zones_versions(get_db(), event.id)
    choices = [(event.declared_at, f"Déclaration — {local(event.declared_at, '%d/%m %H:%M')}")]
    choices += [
        (v.computed_at, f"Zones v{v.version} — {local(v.computed_at, '%d/%m %H:%M')}")
        for v in versions
        if v.computed_at != event.declared_at
    ]
    if event.closed_at:
        choices.append((event.closed_at, f"Clôture — {local(event.closed_at, '%d/%m %H:%M')}"))
    return {
        "as_at_value": local(at or now(), "%Y-%m-%dT%H:%M"),
        "as_at_min": local(event.declared_at, "%Y-%m-%dT%H:%M"),
        "as_at_max": local(now(), "%Y-%m-%dT%H:%M"),
        "as_at_choices": choices,
        "as_at_current": at,
    }


@bp.get("/<int:event_id>/situation")
@allow(*READ_ROLES)
def show_situation(event_id: int) -> Response:
    """The read-only situation at ``?at=`` (the page, or its fragment for htmx)."""
    event = event_or_404(event_id)
    if not request.args.get("at"):
        # No moment chosen yet: the selector alone (a bad one is a 400 below, with its reason).
        return render(
            "events/situation.html",
            "events/_situation.html",
            event=event,
            past=None,
            drill_banner=event.is_drill,
            **selector_context(event),
        )
    at = history.parse_at(request.args["at"], event, now())
    playbook = library().playbook(event.kind)
    past = history.situation_at(get_db(), event, at, playbook)
    ctx = figures_context(
        past.event, request.args.get("zone"), request.args.get("sort"), (past.zones, at)
    )
    user = require_user()
    return render(
        "events/situation.html",
        "events/_situation.html",
        event=past.event,
        past=past,
        playbook=playbook,
        params=events.describe_params(playbook, past.event.params),
        items=past.checklist,
        moment=at,
        can_tick=False,
        tick_any=False,
        user_roles=user.roles,
        checklist_error=None,
        entries=list(reversed(past.log)),
        categories=events.CATEGORY_LABELS,
        can_log=False,
        compact=True,
        CALL_STATUSES=calls.STATUSES,
        CALLOUT_STATUSES=callouts.STATUSES,
        can_report=user.has(*GENERATE_ROLES),
        map_at=past.at_iso,
        drill_banner=event.is_drill,
        **selector_context(event, past.at_iso),
        **ctx,
    )


@bp.post("/<int:event_id>/situation/report")
@allow(*GENERATE_ROLES)
def generate_report_as_at(event_id: int) -> Response:
    """Regenerate a situation report as at ``at`` (stored, numbered and sealed)."""
    event = event_or_404(event_id)
    at = history.parse_at(request.form.get("at"), event, now())
    playbook = library().playbook(event.kind)
    issue_manual(event, playbook=playbook, past=history.situation_at(get_db(), event, at, playbook))
    return redirect(url_for("reports.list_reports", event_id=event.id))


def _kinds() -> list[str]:
    """The kinds asked (``?kind=`` repeated); all when none or none known."""
    asked = [k for k in request.args.getlist("kind") if k in history.KINDS]
    return asked or list(history.KINDS)


@bp.get("/<int:event_id>/chronologie")
@allow(*READ_ROLES)
def show_timeline(event_id: int) -> Response:
    """The event's chronology, filterable by kind (the page, or its fragment for htmx)."""
    event = event_or_404(event_id)
    kinds = _kinds()
    items = history.timeline(
        get_db(), now(), event, playbook=library().playbook(event.kind), kinds=kinds
    )
    return render(
        "events/timeline.html",
        "events/_timeline.html",
        event=event,
        items=items,
        kinds=history.KINDS,
        selected=kinds,
        all_kinds=len(kinds) == len(history.KINDS),
        printed_at=now(),
        drill_banner=event.is_drill,
    )


@bp.get("/<int:event_id>/chronologie.csv")
@allow(*READ_ROLES)
def timeline_csv(event_id: int) -> Response:
    """The chronology as CSV for Excel FR (BOM, ``;``, formulas neutralised)."""
    event = event_or_404(event_id)
    items = history.timeline(
        get_db(), now(), event, playbook=library().playbook(event.kind), kinds=_kinds()
    )
    response = make_response(history.timeline_csv(items))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    name = f"chronologie-evenement-{event.id}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
