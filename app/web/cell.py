"""What the cell corrects and writes on an event, each in its own partial so that the event
pages can place it: undoing or correcting a checklist tick (``events/_check_fix.html``, inside
each done item) and the director's written synthesis (``events/_synthesis.html``)."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from werkzeug.wrappers import Response

from .. import events
from ..clock import local
from . import events as events_web
from .context import event_or_404, get_db, now, require_user
from .htmx import htmx, render
from .notices import announce, done
from .security import allow

bp = Blueprint("cell", __name__, url_prefix="/events")


def _checklist_answer(event: events.Event, message: str) -> Response:
    """The refreshed checklist for htmx (with the message as an event), else back to the page."""
    if htmx:
        response = render("events/_checklist.html", **events_web._checklist_context(event))
        return announce(response, message, "log-changed", "checklist-changed")
    target = url_for("events.show_event", event_id=event.id) + "#event-checklist"
    return done(message, target)


def _checklist_error(event: events.Event, exc: events.EventError) -> Response:
    if exc.status == 404 or (exc.status == 409 and not event.is_open) or exc.status == 403:
        raise exc
    if htmx:
        ctx = events_web._checklist_context(event, error=exc.message)
        return render("events/_checklist.html", status=exc.status, **ctx)
    target = url_for("events.show_event", event_id=event.id) + "#event-checklist"
    return done(exc.message, target, level="error", status=exc.status)


@bp.post("/<int:event_id>/checklist/<int:item_id>/undo")
@allow(*events.CHECKLIST_ROLES)
def undo_item(event_id: int, item_id: int) -> Response:
    """Undo a tick (its author or a director); both facts stay in the main courante."""
    event = event_or_404(event_id)
    try:
        item = events.undo_item(
            get_db(),
            now(),
            event.id,
            item_id,
            actor=require_user(),
            reason=request.form.get("reason", ""),
        )
    except events.EventError as exc:
        return _checklist_error(event, exc)
    return _checklist_answer(event, f"Coche annulée : « {item.title} » est de nouveau à faire.")


@bp.post("/<int:event_id>/checklist/<int:item_id>/correct")
@allow(*events.CHECKLIST_ROLES)
def correct_item(event_id: int, item_id: int) -> Response:
    """Correct when a ticked item was done, or its note (its author or a director)."""
    event = event_or_404(event_id)
    try:
        item = events.correct_item(
            get_db(),
            now(),
            event.id,
            item_id,
            actor=require_user(),
            fact_at=request.form.get("fact_at") or None,
            note=request.form.get("note"),
        )
    except events.EventError as exc:
        return _checklist_error(event, exc)
    return _checklist_answer(
        event, f"Correction notée : « {item.title} » réalisée à {local(item.done_at, '%H:%M')}."
    )


# --- the director's synthesis -------------------------------------------------------------------


@bp.app_context_processor
def _synthesis_globals() -> dict[str, object]:
    return {
        "synthesis_template": events.SYNTHESIS_TEMPLATE,
        "synthesis_max": events.SYNTHESIS_MAX,
    }


def _synthesis(
    event: events.Event, status: int = 200, error: str | None = None, draft: str = ""
) -> Response:
    return render(
        "events/synthesis.html",
        "events/_synthesis.html",
        status=status,
        event=event,
        synthesis_error=error,
        synthesis_draft=draft,
        drill_banner=event.is_drill,
    )


@bp.get("/<int:event_id>/synthesis")
@allow(*events.READ_ROLES)
def show_synthesis(event_id: int) -> Response:
    """The synthesis (and, for the director, its editor)."""
    return _synthesis(event_or_404(event_id))


@bp.post("/<int:event_id>/synthesis")
@allow(*events.SYNTHESIS_ROLES)
def save_synthesis(event_id: int) -> Response:
    """A new version of the synthesis: written in the main courante, on page 1 of the next
    situation report."""
    event = event_or_404(event_id)
    text = request.form.get("text", "")
    try:
        updated = events.set_synthesis(get_db(), now(), event, text, require_user())
    except events.EventError as exc:
        if exc.status in (403, 404, 409):
            raise
        return _synthesis(event, 422, exc.message, text)
    message = "Synthèse enregistrée et inscrite en main courante."
    if htmx:
        return announce(_synthesis(updated), message, "log-changed")
    return done(message, url_for("events.show_event", event_id=event.id) + "#event-synthesis")
