"""Event pages: list, declaration, desk dashboard, main courante, checklist, liaison view.

The playbooks come from the app's library (``context.library()``, loaded once per process);
a broken playbook file is logged at start-up and the console starts with the valid ones.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from flask import Blueprint, make_response, redirect, request, url_for
from werkzeug.wrappers import Response

from .. import access, catalogue, events, fr, numbers, reports
from ..playbooks import EVENT_LEVEL_MAX, EVENT_LEVEL_MIN, Playbook
from . import access as access_web
from . import messages as messages_web
from . import offline as offline_web
from . import pcs as pcs_web
from .context import event_or_404, get_db, library, live_state, now, require_user, signer
from .errors import fail
from .htmx import htmx, render, trigger
from .impact import basemap_urls, key_figures_context
from .params import int_arg
from .security import allow

bp = Blueprint("events", __name__, url_prefix="/events")

LOG_PAGE = 50  # entries on the dashboard and per page of the full log
LIAISON_LOG_PAGE = 15  # small pages for weak networks
# Keyboard-first entry: a single letter per category (Alt+letter, or Alt+1…5), shown on the form.
CATEGORY_KEYS: dict[str, str] = {
    "information": "i",
    "décision": "d",
    "action": "a",
    "message reçu": "r",
    "message émis": "e",
}


def _marked(label: str, key: str) -> tuple[str, str, str]:
    """The label cut around the letter of its key (shown underlined): the first word starting
    with it, accents aside ("Message émis", "e" -> "Message ", "é", "mis")."""
    plain = unicodedata.normalize("NFKD", label)
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch)).lower()
    starts = [i for i, ch in enumerate(plain) if ch == key and (i == 0 or plain[i - 1] == " ")]
    at = starts[-1] if starts else plain.find(key)
    if at < 0:
        return label, "", ""
    return label[:at], label[at], label[at + 1 :]


CATEGORY_MARKS: dict[str, tuple[str, str, str]] = {
    value: _marked(events.CATEGORY_LABELS[value], key) for value, key in CATEGORY_KEYS.items()
}


# --- helpers ------------------------------------------------------------------------------------


def _playbook_of(event: events.Event) -> Playbook | None:
    return library().playbook(event.kind)


def _can(*roles: str) -> bool:
    return require_user().has(*roles)


def _log_filters() -> tuple[str | None, str | None]:
    category = request.args.get("category") or None
    if category not in events.CATEGORIES:
        category = None
    return category, request.args.get("author") or None


def _log_context(
    event: events.Event,
    *,
    compact: bool = False,
    category: str | None = None,
    author: str | None = None,
    before: int | None = None,
) -> dict[str, Any]:
    db = get_db()
    size = LIAISON_LOG_PAGE if compact else LOG_PAGE
    entries = events.log_entries(
        db,
        event.id,
        category=category,
        author=author,
        before=before,
        limit=size + 1,
        newest_first=True,
    )
    more = len(entries) > size
    return {
        "event": event,
        "entries": entries[:size],
        "older": entries[size - 1].id if more else None,
        "last_id": events.last_log_id(db, event.id),
        "category": category,
        "author": author,
        "before": before,
        "compact": compact,
        "authors": events.log_authors(db, event.id),
        "categories": events.CATEGORY_LABELS,
        "can_log": _can(*events.LOG_ROLES) and event.is_open,
    }


def _log_form_context(
    event: events.Event,
    *,
    form: dict[str, Any] | None = None,
    error: events.EventError | None = None,
    compact: bool = False,
    saved: events.LogEntry | None = None,
) -> dict[str, Any]:
    form = dict(form or {})
    corrects = form.get("corrects_id") or request.args.get("corrects")
    corrected = None
    if corrects:
        try:
            number = numbers.number(corrects, "Entrée corrigée", integer=True, minimum=1)
        except numbers.NumberError:
            number = 0
        found = events.log_entries(get_db(), event.id, since=number - 1, limit=1) if number else []
        if found and found[0].id == number:
            corrected = found[0]
            form.setdefault("category", corrected.category)
            form.setdefault("text", corrected.text)
    return {
        "event": event,
        "form": form,
        "form_error": error,
        "corrected": corrected,
        "categories": events.CATEGORY_LABELS,
        "category_keys": CATEGORY_KEYS,
        "category_marks": CATEGORY_MARKS,
        "compact": compact,
        "saved": saved,
        "can_log": _can(*events.LOG_ROLES) and event.is_open,
    }


def _saved(event: events.Event) -> events.LogEntry | None:
    """The entry just written (``?saved=<id>`` after a plain form post): the confirmation."""
    saved = request.args.get("saved", type=int)
    if saved is None:
        return None
    found = events.log_entries(get_db(), event.id, since=saved - 1, limit=1)
    return found[0] if found and found[0].id == saved else None


def _checklist_context(
    event: events.Event, error: str | None = None, compact: bool | None = None
) -> dict[str, Any]:
    user = require_user()
    items = events.checklist(get_db(), event.id)
    if compact is None:  # the tablet's checklist asks for itself again with compact=1
        compact = request.values.get("compact") == "1"
    return {
        "compact": compact,
        "event": event,
        "items": items,
        "moment": now(),
        "checklist_error": error,
        "can_tick": event.is_open and user.has(*events.CHECKLIST_ROLES),
        "tick_any": user.has("director", "cell"),
        "user_roles": user.roles,
    }


def _upcoming_context(event: events.Event) -> dict[str, Any]:
    moment = now()
    return {
        "event": event,
        "moment": moment,
        "upcoming": events.upcoming(events.checklist(get_db(), event.id)),
        "next_report": events.next_report_at(event, moment),
    }


def _dashboard(
    event: events.Event,
    status: int = 200,
    errors: dict[str, str] | None = None,
    log_form: dict[str, Any] | None = None,
    log_error: events.EventError | None = None,
) -> Response:
    state = live_state(event.id)  # first: what the page shows is at least this recent
    playbook = _playbook_of(event)
    ctx: dict[str, Any] = {"live_state": state}
    zones = events.latest_zones(get_db(), event.id)  # read once, passed down
    ctx.update(_situation_context(event, playbook, zones))
    ctx.update(key_figures_context(event, zones, in_page=True))
    ctx.update(_log_context(event))
    ctx["desk_log"] = True
    ctx.update(_log_form_context(event, form=log_form, error=log_error, saved=_saved(event)))
    ctx.update(_checklist_context(event))
    ctx.update(_upcoming_context(event))
    ctx.update(_access_context(event, playbook))
    ctx.update(pcs_web.response_context(event))
    ctx.update(messages_web.region_context(event, compact=True, zones=zones))
    ctx.update(_facts_context(event, playbook, zones, errors))
    return render("events/detail.html", status=status, drill_banner=event.is_drill, **ctx)


def _situation_context(
    event: events.Event, playbook: Playbook | None, zones: events.Zones | None = None
) -> dict[str, Any]:
    """The situation line: level, zones version, wind (``events/_situation_line.html``); without
    ``zones``, only their version and time are read."""
    summary = zones if zones is not None else events.zones_summary(get_db(), event.id)
    wind_from = event.params.get("wind_from_deg")
    return {
        "event": event,
        "playbook": playbook,
        "zones_summary": summary,
        "wind_from": wind_from,
        "wind_speed": event.params.get("wind_speed_ms"),
        "wind_compass": fr.compass(wind_from) if wind_from is not None else "",
    }


def _facts_context(
    event: events.Event,
    playbook: Playbook | None,
    zones: events.Zones | None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Facts and commands (``events/_facts.html``): parameters, zones, level, closure."""
    return {
        "event": event,
        "playbook": playbook,
        "params": events.describe_params(playbook, event.params),
        "zones": zones,
        "errors": errors or {},
        "levels": range(EVENT_LEVEL_MIN, EVENT_LEVEL_MAX + 1),
        "can_command": event.is_open and _can(*events.COMMAND_ROLES),
        "can_params": event.is_open and _can(*events.PARAMS_ROLES) and playbook is not None,
    }


def _access_context(event: events.Event, playbook: Playbook | None) -> dict[str, Any]:
    """Break-glass state of the event: holders, pending requests, restricted datasets to open."""
    db = get_db()
    wanted = list(playbook.datasets) if playbook else []
    restricted = [
        d for d in catalogue.list_datasets(db) if d.sensitivity != "public" and d.slug in wanted
    ]
    restricted.sort(key=lambda d: wanted.index(d.slug))
    return {
        "access_holders": access.holders(db, now(), event.id),
        "access_pending": [
            g
            for g in access.list_grants(db, event_id=event.id, statuses=("pending",))
            if g.effective_status(now()) == "pending"
        ],
        "access_datasets": restricted,
        "access_can_request": _can(*access_web.HOLDERS),
    }


# --- list and home panel ------------------------------------------------------------------------


@bp.get("/")
@allow(*events.READ_ROLES)
def list_events() -> Response:
    db = get_db()
    return render(
        "events/list.html",
        open_events=events.list_events(db, "open"),
        closed_events=events.list_events(db, "closed"),
        playbooks=library().playbooks,
        can_declare=_can(*events.DECLARE_ROLES),
    )


@bp.get("/open")
@allow(*events.READ_ROLES)
def open_events() -> Response:
    """The open events (lazy-loaded into the home page)."""
    db = get_db()
    return render(
        "events/list.html",
        "events/_open_events.html",
        open_events=events.list_events(db, "open"),
        closed_events=[],
        playbooks=library().playbooks,
        can_declare=_can(*events.DECLARE_ROLES),
    )


# --- declaration --------------------------------------------------------------------------------


def _declare_form(
    values: dict[str, Any], error: events.EventError | None = None, status: int = 200
) -> Response:
    playbooks = library().playbooks
    playbook = playbooks.get(str(values.get("playbook") or "")) or (
        playbooks.get("toxic-release") or next(iter(playbooks.values()), None)
    )
    pointed = playbook is not None and "point" in playbook.applies_to
    return render(
        "events/new.html",
        "events/_declare_form.html",
        status=status,
        playbooks=sorted(playbooks.values(), key=lambda p: p.title),
        playbook=playbook,
        sites=events.list_sites(get_db()),
        communes=events.list_communes(get_db()) if pointed else [],
        values=values,
        form_error=error,
        levels=range(EVENT_LEVEL_MIN, EVENT_LEVEL_MAX + 1),
        bbox=events.TERRITORY_BBOX,
    )


@bp.get("/new")
@allow(*events.DECLARE_ROLES)
def new_event() -> Response:
    return _declare_form(request.args.to_dict())


def _number(text: str, field: str, label: str) -> float:
    try:
        return float(numbers.number(text, label, field=field))
    except numbers.NumberError as exc:
        raise events.EventError(exc.message, field) from None


@bp.post("/")
@allow(*events.DECLARE_ROLES)
def declare_event() -> Response:
    values = request.form.to_dict()
    playbook = library().playbooks.get(values.get("playbook", ""))
    try:
        if playbook is None:
            raise events.EventError("Choisissez un type d'événement (guide).", "playbook")
        point = None
        place = ""
        site = values.get("site") or None
        if not site and (values.get("lon") or values.get("lat")):
            # Picked on the map (or typed in "Saisir des coordonnées").
            point = [
                _number(values.get("lon", ""), "point", "Longitude"),
                _number(values.get("lat", ""), "point", "Latitude"),
            ]
        elif not site and values.get("commune"):
            commune = events.get_commune(get_db(), values["commune"])
            if commune is None:
                raise events.EventError("Commune inconnue : choisissez-la dans la liste.", "point")
            point = [commune["lon"], commune["lat"]]
            place = f"{commune['name']} (commune, position à préciser)"
        params = {
            p.name: values.get(f"p_{p.name}", "")
            for p in playbook.parameters
            if f"p_{p.name}" in values
        }
        event = events.declare(
            get_db(),
            now(),
            playbook,
            actor=require_user(),
            title=values.get("title", ""),
            params=params,
            site=site,
            point=point,
            drill=values.get("drill") == "1",
            level=values.get("level") or None,
            place=place,
        )
    except events.EventError as exc:
        return _declare_form(values, exc, status=422)
    return redirect(url_for("events.show_event", event_id=event.id))


# --- dashboard and commands ---------------------------------------------------------------------


@bp.get("/<int:event_id>")
@allow(*events.READ_ROLES)
def show_event(event_id: int) -> Response:
    return _dashboard(event_or_404(event_id))


def _region(event: events.Event, fragment: str, ctx: dict[str, Any]) -> Response:
    """One live region of an event page: the fragment for htmx, else a page holding it."""
    ctx = {**ctx, "event": event, "drill_banner": event.is_drill, "region": fragment}
    return render("events/region.html", fragment, **ctx)


@bp.get("/<int:event_id>/situation-line")
@allow(*events.READ_ROLES)
def show_situation(event_id: int) -> Response:
    """The situation line (level, zones version, wind), refreshed when they change."""
    event = event_or_404(event_id)
    ctx = _situation_context(event, _playbook_of(event))
    ctx["compact"] = request.args.get("compact") == "1"
    return _region(event, "events/_situation_line.html", ctx)


@bp.get("/<int:event_id>/facts")
@allow(*events.READ_ROLES)
def show_facts(event_id: int) -> Response:
    """Facts and commands of the dashboard, refreshed when the level or the zones change."""
    event = event_or_404(event_id)
    zones = events.latest_zones(get_db(), event.id)
    return _region(event, "events/_facts.html", _facts_context(event, _playbook_of(event), zones))


@bp.get("/<int:event_id>/access")
@allow(*events.READ_ROLES)
def show_access(event_id: int) -> Response:
    """The break-glass panel, refreshed when a grant is asked, opened or ended."""
    event = event_or_404(event_id)
    ctx = _access_context(event, _playbook_of(event))
    return _region(event, "events/_access.html", ctx)


@bp.post("/<int:event_id>/level")
@allow(*events.COMMAND_ROLES)
def change_level(event_id: int) -> Response:
    event = event_or_404(event_id)
    try:
        events.change_level(
            get_db(),
            now(),
            event.id,
            request.form.get("level"),
            actor=require_user(),
            reason=request.form.get("reason", ""),
        )
    except events.EventError as exc:
        if exc.status in (404, 409):
            raise
        return _dashboard(event, 422, errors={"level": exc.message})
    return redirect(url_for("events.show_event", event_id=event.id))


@bp.post("/<int:event_id>/params")
@allow(*events.PARAMS_ROLES)
def change_params(event_id: int) -> Response:
    event = event_or_404(event_id)
    playbook = _playbook_of(event)
    if playbook is None:
        fail(409, "Le guide de cet événement n'est plus chargé : paramètres non modifiables.")
    changes = {
        p.name: request.form[f"p_{p.name}"]
        for p in playbook.parameters
        if f"p_{p.name}" in request.form
    }
    try:
        events.change_params(get_db(), now(), event.id, playbook, changes, actor=require_user())
    except events.EventError as exc:
        if exc.status in (404, 409):
            raise
        return _dashboard(event, 422, errors={"params": exc.message})
    return redirect(url_for("events.show_event", event_id=event.id))


@bp.post("/<int:event_id>/close")
@allow(*events.COMMAND_ROLES)
def close_event(event_id: int) -> Response:
    event = event_or_404(event_id)
    try:
        events.close(
            get_db(), now(), event.id, request.form.get("statement", ""), actor=require_user()
        )
    except events.EventError as exc:
        if exc.status in (404, 409):
            raise
        return _dashboard(event, 422, errors={"close": exc.message})
    # A signed checkpoint at each close: copies outside the system witness the chain's head.
    signer().sign(get_db(), now(), f"event-close:{event.id}")
    return redirect(url_for("events.show_event", event_id=event.id))


# --- main courante ------------------------------------------------------------------------------


@bp.get("/<int:event_id>/log")
@allow(*events.READ_ROLES)
def show_log(event_id: int) -> Response:
    """The log: the page, its fragment (filters), or only the entries after ``since`` (polling)."""
    event = event_or_404(event_id)
    category, author = _log_filters()
    compact = request.args.get("compact") == "1"
    since = int_arg("since", "since")
    if since is not None:
        return _new_entries(event, since, category, author, compact)
    before = int_arg("before", "before")
    desk = request.args.get("desk") == "1"
    state = None if htmx else live_state(event.id)
    ctx = _log_context(event, compact=compact, category=category, author=author, before=before)
    return render(
        "events/log.html",
        "events/_log.html",
        drill_banner=event.is_drill,
        live_state=state,
        # The full log filters; the dashboard's log (desk=1) links to it instead.
        log_filters=not compact and not desk,
        desk_log=desk,
        **ctx,
    )


def _new_entries(
    event: events.Event, since: int, category: str | None, author: str | None, compact: bool
) -> Response:
    db = get_db()
    last_id = events.last_log_id(db, event.id)
    if last_id <= since:
        response = make_response("", 204)  # nothing new: the cheapest answer on a weak network
        response.vary.add("HX-Request")
        return response
    entries = events.log_entries(
        db, event.id, since=since, category=category, author=author, newest_first=True
    )
    ctx = _log_context(event, compact=compact, category=category, author=author)
    ctx.update(entries=entries, last_id=last_id)
    response = render("events/_log_entries.html", **ctx)
    if any(e.corrects_id for e in entries):
        # A correction strikes through an older entry: reload the whole region once.
        trigger(response, "log-corrected")
    return response


@bp.post("/<int:event_id>/log")
@allow(*events.LOG_ROLES)
def add_log_entry(event_id: int) -> Response:
    event = event_or_404(event_id)
    form = request.form.to_dict()
    compact = form.get("compact") == "1"
    try:
        entry = events.add_log(
            get_db(),
            now(),
            event.id,
            actor=require_user(),
            category=form.get("category", ""),
            text=form.get("text", ""),
            fact_at=form.get("fact_at") or None,
            corrects_id=form.get("corrects_id") or None,
        )
    except events.EventError as exc:
        if exc.status in (404, 409):
            raise
        if htmx:
            ctx = _log_form_context(event, form=form, error=exc, compact=compact)
            return render("events/_log_form.html", status=422, **ctx)
        return _dashboard(event, 422, log_form=form, log_error=exc)
    if htmx:
        # Back to the default category: a sticky "décision" would misfile the next entries (and
        # "Décisions prises" in the situation report is read from it).
        fresh = {"category": "message reçu"} if compact else {}
        ctx = _log_form_context(event, form=fresh, compact=compact, saved=entry)
        ctx["form"].pop("corrects_id", None)
        ctx["corrected"] = None
        return trigger(render("events/_log_form.html", **ctx), "log-changed")
    target = "events.show_liaison" if compact else "events.show_event"
    return redirect(url_for(target, event_id=event.id, saved=entry.id) + "#log-form")


# --- checklist ----------------------------------------------------------------------------------


@bp.get("/<int:event_id>/checklist")
@allow(*events.READ_ROLES)
def show_checklist(event_id: int) -> Response:
    event = event_or_404(event_id)
    state = None if htmx else live_state(event.id)
    return render(
        "events/checklist.html",
        "events/_checklist.html",
        drill_banner=event.is_drill,
        live_state=state,
        **_checklist_context(event),
    )


@bp.get("/<int:event_id>/upcoming")
@allow(*events.READ_ROLES)
def show_upcoming(event_id: int) -> Response:
    event = event_or_404(event_id)
    ctx = {**_checklist_context(event), **_upcoming_context(event)}
    return render(
        "events/checklist.html", "events/_upcoming.html", drill_banner=event.is_drill, **ctx
    )


@bp.post("/<int:event_id>/checklist/<int:item_id>")
@allow(*events.CHECKLIST_ROLES)
def tick_item(event_id: int, item_id: int) -> Response:
    event = event_or_404(event_id)
    try:
        events.tick_item(
            get_db(),
            now(),
            event.id,
            item_id,
            actor=require_user(),
            note=request.form.get("note", ""),
        )
    except events.EventError as exc:
        if exc.status == 404 or (exc.status == 409 and not event.is_open):
            raise
        if htmx:
            ctx = _checklist_context(event, error=exc.message)
            return render("events/_checklist.html", status=exc.status, **ctx)
        raise
    if htmx:
        response = render("events/_checklist.html", **_checklist_context(event))
        return trigger(response, "log-changed", "checklist-changed")
    return redirect(url_for("events.show_event", event_id=event.id) + "#event-checklist")


# --- liaison view -------------------------------------------------------------------------------


@bp.get("/<int:event_id>/liaison")
@allow(*events.READ_ROLES)
def show_liaison(event_id: int) -> Response:
    """The tablet in the field: situation line, map, key figures, the entry form above the log
    (newest first), the liaison's own checklist items; every control at least 44 px."""
    event = event_or_404(event_id)
    state = live_state(event.id)  # first: what the page shows is at least this recent
    playbook = _playbook_of(event)
    ctx: dict[str, Any] = {"live_state": state}
    zones = events.latest_zones(get_db(), event.id)  # read once, passed down
    ctx.update(_situation_context(event, playbook, zones))
    ctx.update(key_figures_context(event, zones, in_page=True))
    ctx.update(_log_context(event, compact=True))
    form = {"category": "message reçu"}
    ctx.update(_log_form_context(event, form=form, compact=True, saved=_saved(event)))
    ctx.update(_upcoming_context(event))
    ctx["upcoming"] = ctx["upcoming"][:3]
    ctx.update(_checklist_context(event, compact=True))
    ctx.update(pcs_web.response_context(event, "liaison"))
    last_report = reports.latest_report(get_db(), event.id)
    return render(
        "events/liaison.html",
        drill_banner=event.is_drill,
        params=events.describe_params(playbook, event.params),
        last_report=last_report,
        offline=offline_web.liaison_config(event, last_report, basemap_urls().values()),
        **ctx,
    )
