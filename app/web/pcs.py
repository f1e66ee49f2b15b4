"""Running the response (app.pcs) in the UI and the API: the crisis directory, the call-out
board, the vulnerable-persons call campaign, reception centres, means and tasks.

Pages and their htmx fragments come from one template each (``pcs/<board>.html`` includes
``pcs/_<board>.html``); every POST form also works without htmx (redirect on success). Personal
data: the directory's numbers only for ``contacts.NUMBER_ROLES`` (each read audited), the
register's fields only through a valid grant (``calls.call_board`` reads them through
``access.read_features``). Nothing here is marked for the offline copy of a tablet.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, redirect, request, url_for
from werkzeug.wrappers import Response

from .. import auth, events
from ..pcs import PcsError, callouts, calls, centres, contacts, means, summarise, tasks
from ..playbooks import Playbook
from ..records import latest_zones
from . import api_models as m
from .access import request_id
from .context import event_or_404, get_db, library, now, require_user
from .htmx import htmx, render, trigger
from .openapi import body as parsed_body
from .openapi import describe
from .security import allow

bp = Blueprint("pcs", __name__)

READ = events.READ_ROLES
CHANGED = "pcs-changed"  # htmx event: the response panel refreshes


def _playbook(event: events.Event) -> Playbook | None:
    return library().playbook(event.kind)


def _done(response: Response) -> Response:
    return trigger(response, CHANGED, "log-changed")


def _back(endpoint: str, event_id: int, anchor: str) -> Response:
    return redirect(url_for(endpoint, event_id=event_id) + anchor)


# --- the response panel (dashboard and tablet) ----------------------------------------------


def response_context(event: events.Event, page: str = "dashboard") -> dict[str, Any]:
    """What ``pcs/_response.html`` shows: counts only, never a personal field. ``page``: the
    dashboard or the tablet (``liaison``), where its forms come back to."""
    moment = now()
    user = require_user()
    summary = summarise(get_db(), moment, event, _playbook(event))
    mine = [t for t in tasks.list_tasks(get_db(), event.id) if t.is_open and t.for_user(user)]
    return {
        "event": event,
        "pcs": summary,
        "pcs_moment": moment,
        "pcs_my_tasks": mine,
        "CALL_STATUSES": calls.STATUSES,
        "CALLOUT_STATUSES": callouts.STATUSES,
        "can_count": event.is_open and user.has(*centres.COUNT_ROLES),
        "pcs_page": "liaison" if page == "liaison" else "dashboard",
    }


@bp.get("/events/<int:event_id>/response")
@allow(*READ)
def show_response(event_id: int) -> Response:
    event = event_or_404(event_id)
    return render(
        "pcs/response.html",
        "pcs/_response.html",
        drill_banner=event.is_drill,
        **response_context(event, request.args.get("page", "dashboard")),
    )


# --- crisis directory ---------------------------------------------------------------------


def _contacts_page(
    form: dict[str, Any] | None = None,
    error: PcsError | None = None,
    status: int = 200,
    editing: contacts.Contact | None = None,
) -> Response:
    db, user = get_db(), require_user()
    found = contacts.directory(db, now(), user, purpose="directory", request_id=request_id())
    return render(
        "pcs/contacts.html",
        "pcs/_contacts.html",
        status=status,
        contacts=found,
        moment=now(),
        can_edit=user.has(*contacts.EDIT_ROLES),
        numbers=contacts.may_see_numbers(user),
        functions=contacts.functions(db),
        form=form or {},
        form_error=error,
        editing=editing,
    )


@bp.get("/contacts")
@allow(*READ)
def list_contacts() -> Response:
    return _contacts_page()


def _contact_fields() -> dict[str, Any]:
    f = request.form
    return {
        "name": f.get("name", ""),
        "organisation": f.get("organisation", ""),
        "function": f.get("function", ""),
        "phones_text": f.get("phones", ""),
        "email": f.get("email", ""),
        "oncall": f.get("oncall", ""),
    }


@bp.post("/contacts")
@allow(*contacts.EDIT_ROLES)
def create_contact() -> Response:
    try:
        contacts.save_contact(get_db(), now(), require_user(), **_contact_fields())
    except PcsError as exc:
        if exc.status == 404:
            raise
        return _contacts_page(request.form.to_dict(), exc, 422)
    return redirect(url_for("pcs.list_contacts"))


@bp.get("/contacts/<int:contact_id>/edit")
@allow(*contacts.EDIT_ROLES)
def edit_contact(contact_id: int) -> Response:
    db, user = get_db(), require_user()
    found = contacts.directory(
        db, now(), user, purpose="directory", request_id=request_id(), select=[contact_id]
    )
    if not found:
        raise PcsError("Contact introuvable.", status=404)
    c = found[0]
    form = {
        "name": c.name,
        "organisation": c.organisation,
        "function": c.function,
        "phones": " / ".join(p for p, _ in c.phones_shown),
        "email": c.email,
        "oncall": c.oncall_text(),
    }
    return _contacts_page(form, editing=c)


@bp.post("/contacts/<int:contact_id>")
@allow(*contacts.EDIT_ROLES)
def update_contact(contact_id: int) -> Response:
    try:
        contacts.save_contact(
            get_db(), now(), require_user(), contact_id=contact_id, **_contact_fields()
        )
    except PcsError as exc:
        if exc.status == 404:
            raise
        editing = contacts.get_contact(get_db(), contact_id)
        return _contacts_page(request.form.to_dict(), exc, 422, editing=editing)
    return redirect(url_for("pcs.list_contacts"))


@bp.post("/contacts/<int:contact_id>/archive")
@allow(*contacts.EDIT_ROLES)
def archive_contact(contact_id: int) -> Response:
    contacts.archive_contact(get_db(), now(), require_user(), contact_id)
    return redirect(url_for("pcs.list_contacts"))


@bp.post("/contacts/import")
@allow(*contacts.EDIT_ROLES)
def import_contacts() -> Response:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _contacts_page(error=PcsError("Choisissez un fichier CSV."), status=422)
    try:
        result = contacts.import_csv(
            get_db(), now(), upload.read(), actor=require_user().login, file_name=upload.filename
        )
    except contacts.ContactImportError as exc:
        return _contacts_page(error=exc, status=422)
    return redirect(url_for("pcs.list_contacts", imported=result.message()))


@bp.get("/api/v1/contacts")
@allow(*READ)
@describe("L'annuaire de crise", tag="Réponse", response=m.ContactList)
def api_contacts() -> Response:
    found = contacts.directory(
        get_db(), now(), require_user(), purpose="api", request_id=request_id()
    )
    return jsonify(contacts=[c.to_json() for c in found])


# --- call-out board ---------------------------------------------------------------------


def _callout_context(event: events.Event, error: str | None = None) -> dict[str, Any]:
    user = require_user()
    groups = callouts.board(get_db(), now(), event, _playbook(event), user, request_id=request_id())
    return {
        "event": event,
        "groups": groups,
        "moment": now(),
        "STATUSES": callouts.STATUSES,
        "numbers": contacts.may_see_numbers(user),
        "can_write": event.is_open and user.has(*callouts.WRITE_ROLES),
        "callout_error": error,
    }


@bp.get("/events/<int:event_id>/callout")
@allow(*READ)
def show_callout(event_id: int) -> Response:
    event = event_or_404(event_id)
    return render(
        "pcs/callout.html",
        "pcs/_callout.html",
        drill_banner=event.is_drill,
        **_callout_context(event),
    )


@bp.post("/events/<int:event_id>/callout/<int:contact_id>")
@allow(*callouts.WRITE_ROLES)
def set_callout(event_id: int, contact_id: int) -> Response:
    event = event_or_404(event_id)
    try:
        callouts.set_status(
            get_db(),
            now(),
            event.id,
            contact_id,
            request.form.get("status"),
            actor=require_user(),
            note=request.form.get("note", ""),
        )
    except PcsError as exc:
        if exc.status in (404, 409) or not htmx:
            raise
        return render("pcs/_callout.html", status=422, **_callout_context(event, exc.message))
    if htmx:
        return _done(render("pcs/_callout.html", **_callout_context(event)))
    return _back("pcs.show_callout", event.id, "#event-callout")


@bp.get("/api/v1/events/<int:event_id>/callouts")
@allow(*READ)
@describe("Le tableau de rappel", tag="Réponse", response=m.Callouts)
def api_callouts(event_id: int) -> Response:
    event = event_or_404(event_id)
    groups = callouts.board(
        get_db(), now(), event, _playbook(event), require_user(), request_id=request_id()
    )
    return jsonify(
        event=event.id,
        lists=[
            {
                "function": g.function,
                "contacts": [
                    {
                        **line.contact.to_json(),
                        "status": line.status,
                        "updated_at": line.at,
                        "updated_by": line.by,
                        "note": line.note,
                    }
                    for line in g.lines
                ],
            }
            for g in groups
        ],
    )


# --- call campaign ----------------------------------------------------------------------


def _calls_context(event: events.Event, error: str | None = None) -> dict[str, Any]:
    db, user = get_db(), require_user()
    try:
        board = calls.call_board(
            db, now(), user, event, latest_zones(db, event.id), request_id=request_id()
        )
    except calls.CallsClosed as exc:
        board = None
        error = error or exc.message
    return {
        "event": event,
        "board": board,
        "moment": now(),
        "STATUSES": calls.STATUSES,
        "calls_error": error,
        "can_write": event.is_open and user.has(*calls.WRITE_ROLES),
        "can_assign": event.is_open and user.has(*calls.ASSIGN_ROLES),
        "callers": calls.callers(db) if user.has(*calls.ASSIGN_ROLES) else [],
        "can_request": user.has("director", "cell"),
    }


@bp.get("/events/<int:event_id>/calls")
@allow(*READ)
def show_calls(event_id: int) -> Response:
    event = event_or_404(event_id)
    ctx = _calls_context(event)
    return render(
        "pcs/calls.html",
        "pcs/_calls.html",
        drill_banner=event.is_drill,
        offline=_calls_offline(event) if ctx["can_write"] else None,
        **ctx,
    )


def _calls_offline(event: events.Event) -> dict[str, Any]:
    """The call board's status forms go through the tablet's queue (offline.js, kind
    ``call``): a liaison who loses the network keeps recording; nothing here is kept offline."""
    form = url_for("pcs.set_call", event_id=event.id, person_id="x").rsplit("/", 1)[0] + "/"
    api = url_for("pcs.api_set_call", event_id=event.id, person_id="x").rsplit("/", 1)[0] + "/"
    return {
        "event": event.id,
        "routes": [
            {
                "kind": "call",
                "form": form,
                "api": api,
                "prefix": True,
                "after": [CHANGED],
                "reload": {
                    "url": url_for("pcs.show_calls", event_id=event.id),
                    "target": "#event-calls",
                },
            }
        ],
    }


@bp.post("/events/<int:event_id>/calls/<person_id>")
@allow(*calls.WRITE_ROLES)
def set_call(event_id: int, person_id: str) -> Response:
    event = event_or_404(event_id)
    db, user = get_db(), require_user()
    try:
        calls.ensure_listed(
            db, now(), user, event, latest_zones(db, event.id), person_id, request_id=request_id()
        )
        calls.set_status(
            db,
            now(),
            event.id,
            person_id,
            request.form.get("status"),
            actor=user,
            note=request.form.get("note", ""),
        )
    except PcsError as exc:
        if exc.status in (404, 409) or not htmx:
            raise
        return render("pcs/_calls.html", status=422, **_calls_context(event, exc.message))
    if htmx:
        return _done(render("pcs/_calls.html", **_calls_context(event)))
    return _back("pcs.show_calls", event.id, "#event-calls")


@bp.post("/events/<int:event_id>/call-assignments")
@allow(*calls.ASSIGN_ROLES)
def assign_calls(event_id: int) -> Response:
    event = event_or_404(event_id)
    raw = request.form.get("assignee") or None
    try:
        assignee = int(raw) if raw else None
    except ValueError:
        raise PcsError("Appelant inconnu.", field="assignee") from None
    try:
        calls.assign(
            get_db(),
            now(),
            event.id,
            request.form.getlist("persons"),
            assignee,
            actor=require_user(),
        )
    except PcsError as exc:
        if exc.status in (404, 409) or not htmx:
            raise
        return render("pcs/_calls.html", status=422, **_calls_context(event, exc.message))
    if htmx:
        return _done(render("pcs/_calls.html", **_calls_context(event)))
    return _back("pcs.show_calls", event.id, "#event-calls")


@bp.get("/api/v1/events/<int:event_id>/calls")
@allow(*READ)
@describe("La liste d'appels des personnes vulnérables", tag="Réponse", response=m.Calls)
def api_calls(event_id: int) -> Response:
    """The call list: ``{"event", "personal", "counts", "items": [{"person_id", "status", …}]}``.

    With a valid grant on the register each item adds the agreement's whitelisted fields (and
    the cell's data: called_at, called_by, assignee, note, retry_at); without one, 403 while no
    status exists, then ``person_id`` and ``status`` only.
    """
    event = event_or_404(event_id)
    db = get_db()
    board = calls.call_board(
        db, now(), require_user(), event, latest_zones(db, event.id), request_id=request_id()
    )
    moment = now()
    body: dict[str, Any] = {
        "event": event.id,
        "personal": board.personal,
        "counts": board.counts,
        "items": [item.to_json(moment) for item in board.items],
    }
    if board.personal and board.grant is not None:
        body["classification"] = "DIFFUSION RESTREINTE"
        body["grant"] = {"id": board.grant.id, "expires_at": board.grant.expires_at}
        body["fields"] = list(board.fields)
    return jsonify(body)


@bp.post("/api/v1/events/<int:event_id>/calls/<person_id>")
@allow(*calls.WRITE_ROLES)
@describe(
    "Noter le statut d'un appel",
    tag="Réponse",
    body=m.CallIn,
    response=m.CallOut,
    errors=(409,),
    idempotent=True,
)
def api_set_call(event_id: int, person_id: str) -> Response:
    """Record a status: ``{"status": S, "note": TEXT}``, S one of ``calls.STATUSES``; honours
    ``Idempotency-Key`` (a resend is answered, not recorded twice). Answers
    ``{"person_id", "status", "called_at", "called_by"}``."""
    event = event_or_404(event_id)
    given: m.CallIn = parsed_body()  # validated against the declared model before the view
    db, user = get_db(), require_user()
    calls.ensure_listed(
        db, now(), user, event, latest_zones(db, event.id), person_id, request_id=request_id()
    )
    item = calls.set_status(
        db,
        now(),
        event.id,
        person_id,
        given.status,
        actor=user,
        note=given.note or "",
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return jsonify(
        person_id=item.person_id,
        status=item.status,
        called_at=item.status_at,
        called_by=item.status_by,
    )


# --- centres ----------------------------------------------------------------------------


def _centres_context(event: events.Event, error: str | None = None) -> dict[str, Any]:
    user = require_user()
    return {
        "event": event,
        "centres": centres.event_centres(get_db(), event.id),
        "centres_error": error,
        "can_open": event.is_open and user.has(*centres.OPEN_ROLES),
        "can_count": event.is_open and user.has(*centres.COUNT_ROLES),
    }


@bp.get("/events/<int:event_id>/centres")
@allow(*READ)
def show_centres(event_id: int) -> Response:
    event = event_or_404(event_id)
    return render(
        "pcs/centres.html",
        "pcs/_centres.html",
        drill_banner=event.is_drill,
        **_centres_context(event),
    )


def _centre_action(event: events.Event, action: Any) -> Response:
    """Run a centre change; answer with the region the form sits in (the centres board, or
    the response panel of the dashboard or the tablet: ``back=dashboard|liaison``)."""
    back = request.form.get("back")
    panel = back in ("dashboard", "liaison")
    try:
        action()
    except PcsError as exc:
        if exc.status == 404 or not htmx:
            raise
        if panel:
            ctx = {**response_context(event, str(back)), "pcs_error": exc.message}
            return render("pcs/_response.html", status=exc.status, **ctx)
        return render(
            "pcs/_centres.html", status=exc.status, **_centres_context(event, exc.message)
        )
    if htmx and panel:
        ctx = response_context(event, str(back))
        return trigger(render("pcs/_response.html", **ctx), "log-changed")
    if htmx:
        return _done(render("pcs/_centres.html", **_centres_context(event)))
    if panel:
        page = "events.show_liaison" if back == "liaison" else "events.show_event"
        return _back(page, event.id, "#event-response")
    return _back("pcs.show_centres", event.id, "#event-centres")


@bp.post("/events/<int:event_id>/centres/<centre_id>/open")
@allow(*centres.OPEN_ROLES)
def open_centre(event_id: int, centre_id: str) -> Response:
    event = event_or_404(event_id)
    return _centre_action(
        event,
        lambda: centres.open_centre(
            get_db(),
            now(),
            event.id,
            centre_id,
            actor=require_user(),
            note=request.form.get("note", ""),
        ),
    )


@bp.post("/events/<int:event_id>/centres/<centre_id>/close")
@allow(*centres.OPEN_ROLES)
def close_centre(event_id: int, centre_id: str) -> Response:
    event = event_or_404(event_id)
    return _centre_action(
        event,
        lambda: centres.close_centre(
            get_db(),
            now(),
            event.id,
            centre_id,
            actor=require_user(),
            note=request.form.get("note", ""),
        ),
    )


@bp.post("/events/<int:event_id>/centres/<centre_id>/people")
@allow(*centres.COUNT_ROLES)
def count_people(event_id: int, centre_id: str) -> Response:
    event = event_or_404(event_id)
    f = request.form
    return _centre_action(
        event,
        lambda: centres.register(
            get_db(),
            now(),
            event.id,
            centre_id,
            actor=require_user(),
            arrivals=f.get("arrivals"),
            departures=f.get("departures"),
            count=f.get("count"),
            note=f.get("note", ""),
        ),
    )


@bp.get("/api/v1/events/<int:event_id>/centres")
@allow(*READ)
@describe("Les centres d'accueil", tag="Réponse", query=m.CentresQuery, response=m.Centres)
def api_centres(event_id: int) -> Response:
    """The open centres: ``{"event", "centres": [{"id", "name", "type", "commune",
    "capacity", "occupancy", "remaining", "arrived", "open", "equipment", "contact", "point",
    "updated_at"}], "evacuation": {"arrived", "hosted"} | null}`` (``?all=1``: every centre
    of the catalogue with its state)."""
    event = event_or_404(event_id)
    db = get_db()
    found = (
        centres.event_centres(db, event.id)
        if request.args.get("all") == "1"
        else centres.open_centres(db, event.id)
    )
    figures = centres.evacuation_figures(db, event.id)
    return jsonify(
        event=event.id,
        centres=[c.to_json() for c in found],
        evacuation={"arrived": figures[0], "hosted": figures[1]} if figures else None,
    )


@bp.post("/api/v1/events/<int:event_id>/centres/<centre_id>/people")
@allow(*centres.COUNT_ROLES)
@describe(
    "Compter les personnes d'un centre",
    tag="Réponse",
    body=m.CentreCountIn,
    response=m.CentreOut,
    errors=(409,),
    idempotent=True,
)
def api_count_people(event_id: int, centre_id: str) -> Response:
    """People arrived or gone, in numbers: ``{"arrivals": N, "departures": N}`` or
    ``{"count": N}`` (head count), optional ``note``; honours ``Idempotency-Key``."""
    event = event_or_404(event_id)
    given: m.CentreCountIn = parsed_body()
    c = centres.register(
        get_db(),
        now(),
        event.id,
        centre_id,
        actor=require_user(),
        arrivals=given.arrivals,
        departures=given.departures,
        count=given.count,
        note=given.note or "",
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return jsonify(c.to_json())


# --- means ------------------------------------------------------------------------------


def _means_context(event: events.Event, error: str | None = None) -> dict[str, Any]:
    user = require_user()
    return {
        "event": event,
        "means": means.board(get_db(), event.id),
        "STATUSES": means.STATUSES,
        "means_error": error,
        "can_write": event.is_open and user.has(*means.WRITE_ROLES),
    }


@bp.get("/events/<int:event_id>/means")
@allow(*READ)
def show_means(event_id: int) -> Response:
    event = event_or_404(event_id)
    return render(
        "pcs/means.html",
        "pcs/_means.html",
        drill_banner=event.is_drill,
        **_means_context(event),
    )


@bp.post("/events/<int:event_id>/means/<int:means_id>")
@allow(*means.WRITE_ROLES)
def set_means(event_id: int, means_id: int) -> Response:
    event = event_or_404(event_id)
    f = request.form
    try:
        means.set_status(
            get_db(),
            now(),
            event.id,
            means_id,
            f.get("status"),
            actor=require_user(),
            place=f.get("place", ""),
            note=f.get("note", ""),
        )
    except PcsError as exc:
        if exc.status == 404 or not htmx:
            raise
        return render("pcs/_means.html", status=exc.status, **_means_context(event, exc.message))
    if htmx:
        return _done(render("pcs/_means.html", **_means_context(event)))
    return _back("pcs.show_means", event.id, "#event-means")


@bp.post("/events/<int:event_id>/means")
@allow(*means.WRITE_ROLES)
def add_means(event_id: int) -> Response:
    """Add a means to the register (and commit it to the event when a status is given)."""
    event = event_or_404(event_id)
    f = request.form
    db, user = get_db(), require_user()
    try:
        means_id = means.add_means(
            db,
            now(),
            user,
            name=f.get("name"),
            kind=f.get("kind"),
            organisation=f.get("organisation", ""),
            capacity=f.get("capacity", ""),
            commune=f.get("commune", ""),
        )
        if f.get("status") in ("en_route", "engage"):
            means.set_status(
                db,
                now(),
                event.id,
                means_id,
                f.get("status"),
                actor=user,
                place=f.get("place", ""),
            )
    except PcsError as exc:
        if exc.status == 404 or not htmx:
            raise
        return render("pcs/_means.html", status=exc.status, **_means_context(event, exc.message))
    if htmx:
        return _done(render("pcs/_means.html", **_means_context(event)))
    return _back("pcs.show_means", event.id, "#event-means")


@bp.get("/api/v1/events/<int:event_id>/means")
@allow(*READ)
@describe("Les moyens", tag="Réponse", response=m.MeansList)
def api_means(event_id: int) -> Response:
    event = event_or_404(event_id)
    return jsonify(event=event.id, means=[m.to_json() for m in means.board(get_db(), event.id)])


# --- tasks ------------------------------------------------------------------------------


def _tasks_context(event: events.Event, error: str | None = None) -> dict[str, Any]:
    db, user = get_db(), require_user()
    return {
        "event": event,
        "tasks": tasks.list_tasks(db, event.id),
        "moment": now(),
        "STATUSES": tasks.STATUSES,
        "tasks_error": error,
        "can_write": event.is_open and user.has(*tasks.WRITE_ROLES),
        "can_update": event.is_open and user.has(*tasks.UPDATE_ROLES),
        "assignees": tasks.assignees(db) if user.has(*tasks.WRITE_ROLES) else [],
        "assignable_roles": {r: auth.ROLES[r] for r in tasks.ASSIGNABLE_ROLES},
        "checklist": [i for i in events.checklist(db, event.id) if not i.done],
        "from_item": request.args.get("item", type=int),
    }


@bp.get("/events/<int:event_id>/tasks")
@allow(*READ)
def show_tasks(event_id: int) -> Response:
    event = event_or_404(event_id)
    return render(
        "pcs/tasks.html",
        "pcs/_tasks.html",
        drill_banner=event.is_drill,
        **_tasks_context(event),
    )


def _task_action(event: events.Event, action: Any) -> Response:
    try:
        action()
    except PcsError as exc:
        if exc.status == 404 or not htmx:
            raise
        return render("pcs/_tasks.html", status=exc.status, **_tasks_context(event, exc.message))
    if htmx:
        return _done(render("pcs/_tasks.html", **_tasks_context(event)))
    return _back("pcs.show_tasks", event.id, "#event-tasks")


@bp.post("/events/<int:event_id>/tasks")
@allow(*tasks.WRITE_ROLES)
def create_task(event_id: int) -> Response:
    event = event_or_404(event_id)
    f = request.form
    who = f.get("assignee", "")
    role, uid = (who[5:], None) if who.startswith("role:") else (None, who[5:] or None)
    return _task_action(
        event,
        lambda: tasks.create_task(
            get_db(),
            now(),
            event.id,
            actor=require_user(),
            title=f.get("title"),
            due=f.get("due"),
            assignee_role=role,
            assignee_id=uid,
            checklist_item_id=f.get("checklist_item") or None,
            note=f.get("note", ""),
        ),
    )


@bp.post("/events/<int:event_id>/tasks/<int:task_id>")
@allow(*tasks.UPDATE_ROLES)
def update_task(event_id: int, task_id: int) -> Response:
    event = event_or_404(event_id)
    f = request.form
    who = f.get("assignee", "")
    role, uid = (who[5:], None) if who.startswith("role:") else (None, who[5:] or None)
    return _task_action(
        event,
        lambda: tasks.update_task(
            get_db(),
            now(),
            event.id,
            task_id,
            actor=require_user(),
            status=f.get("status") or None,
            note=f.get("note") if "note" in f else None,
            due=f.get("due") or None,
            assignee_role=role,
            assignee_id=uid,
        ),
    )


@bp.get("/api/v1/events/<int:event_id>/tasks")
@allow(*READ)
@describe("Les tâches", tag="Réponse", response=m.TaskList)
def api_tasks(event_id: int) -> Response:
    event = event_or_404(event_id)
    moment = now()
    return jsonify(
        event=event.id, tasks=[t.to_json(moment) for t in tasks.list_tasks(get_db(), event.id)]
    )
