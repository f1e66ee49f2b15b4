"""Pages of outgoing messages (issue 17): the event's messages (a region of the dashboard and a
page), one message (edit, FR-Alert counter, validate, send, cancel, deliveries and retries),
the event's EMSI download, and the partner directory.

Every action calls the same domain functions as the JSON API (``app.messages``); a refusal is
shown on the form it came from. A page and its htmx fragment come from one template:
``messages/_messages.html`` (root ``#event-messages``, also on the dashboard),
``messages/_message.html`` (``#message-detail``), ``messages/_cbs_count.html`` (``#cbs-count``,
the counter refreshed as the cell-broadcast text is typed), ``messages/_partners.html``
(``#partners``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, make_response, redirect, request, url_for
from werkzeug.wrappers import Response

from .. import events, messages
from ..messages import cbs, templates
from ..messages.records import DELIVERY_LABELS, KIND_LABELS
from .api_messages import message_or_404, relay, smtp_configured
from .context import event_or_404, get_db, library, now, require_user
from .geoindex import get_index
from .htmx import htmx, render, trigger
from .security import allow

bp = Blueprint("messages", __name__)

REGION_SIZE = 5  # messages listed on the dashboard
STATUS_CLASS = {
    "brouillon": "draft",
    "validé": "validated",
    "émis": "emitted",
    "annulé": "cancelled",
}


def _can(*roles: str) -> bool:
    return require_user().has(*roles)


def _templates_for(event: events.Event) -> dict[str, str]:
    """The templates a draft may use now (a closed event: the levée and a point de situation)."""
    allowed = templates.TEMPLATE_IDS if event.is_open else ("levee", "point-de-situation")
    return {t: templates.TEMPLATE_LABELS[t] for t in allowed}


def region_context(
    event: events.Event,
    *,
    compact: bool,
    error: str | None = None,
    form: Any = None,
    zones: Any = None,
) -> dict[str, Any]:
    """What ``messages/_messages.html`` shows: the dashboard's region (``compact``) or the page
    (``zones``: the event's latest zones when the caller read them)."""
    db = get_db()
    found = messages.list_messages(db, event.id)
    summaries = {}
    for m in found:
        if m.status == "émis":
            results = [d.result for d in messages.deliveries(db, m.id)]
            summaries[m.id] = {r: results.count(r) for r in DELIVERY_LABELS if r in results}
    return {
        "event": event,
        "msgs": found[:REGION_SIZE] if compact else found,
        "msgs_more": max(0, len(found) - REGION_SIZE) if compact else 0,
        "msgs_compact": compact,
        "delivery_summaries": summaries,
        "cap_update_due": messages.cap_update_due(db, event, zones),
        "smtp_configured": smtp_configured(),
        "can_draft": _can(*messages.DRAFT_ROLES),
        "draft_templates": _templates_for(event),
        "kind_labels": KIND_LABELS,
        "template_labels": templates.TEMPLATE_LABELS,
        "delivery_labels": DELIVERY_LABELS,
        "status_class": STATUS_CLASS,
        "msgs_error": error,
        "msgs_form": form or {},
    }


@bp.get("/events/<int:event_id>/messages")
@allow(*messages.READ_ROLES)
def list_messages(event_id: int) -> Response:
    """The event's messages: the page, or the region's fragment (``?compact=1``: dashboard)."""
    event = event_or_404(event_id)
    compact = request.args.get("compact") == "1"
    return render(
        "messages/page.html",
        "messages/_messages.html",
        drill_banner=event.is_drill,
        **region_context(event, compact=compact),
    )


@bp.post("/events/<int:event_id>/messages")
@allow(*messages.DRAFT_ROLES)
def draft_message(event_id: int) -> Response:
    event = event_or_404(event_id)
    form = request.form.to_dict()
    try:
        made = messages.draft(
            get_db(),
            now(),
            event.id,
            library().playbook(event.kind),
            kind=form.get("kind"),
            template=form.get("template"),
            actor=require_user(),
            index=get_index(),
        )
    except messages.MessageError as exc:
        if exc.status == 404:
            raise
        return render(
            "messages/page.html",
            "messages/_messages.html",
            status=exc.status,
            drill_banner=event.is_drill,
            **region_context(event, compact=False, error=exc.message, form=form),
        )
    target = url_for("messages.show_message", message_id=made.id)
    if htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


# --- one message --------------------------------------------------------------------------------


def _message_context(
    message: messages.Message, *, error: str | None = None, form: dict[str, Any] | None = None
) -> dict[str, Any]:
    db, user = get_db(), require_user()
    event = event_or_404(message.event_id)
    fields = {**message.fields, "subject": message.subject, **(form or {})}
    eligible = messages.recipients_for(db, message.kind, message.is_drill)
    chosen = set(message.recipient_ids)
    if form is not None and "recipients" in form:
        chosen = {int(x) for x in form["recipients"] if str(x).isdigit()}
    draft = message.status == "brouillon"
    editor = user.id in message.editors
    deliveries = messages.deliveries(db, message.id)
    return {
        "event": event,
        "message": message,
        "fields": fields,
        "count": messages.cbs_text_count(str(fields.get("cbs", ""))),
        "eligible": eligible,
        "chosen": chosen,
        "deliveries": deliveries,
        "kind_labels": KIND_LABELS,
        "template_labels": templates.TEMPLATE_LABELS,
        "status_class": STATUS_CLASS,
        "smtp_configured": smtp_configured(),
        "can_edit": draft and user.has(*messages.DRAFT_ROLES),
        "can_validate": draft and user.has(*messages.VALIDATE_ROLES) and not editor,
        "validate_blocked": draft and user.has(*messages.VALIDATE_ROLES) and editor,
        "can_send": message.status == "validé" and user.has(*messages.SEND_ROLES),
        "can_cancel": message.status in ("brouillon", "validé")
        and (user.id == message.author_id or user.has("director")),
        "can_retry": message.status == "émis"
        and user.has(*messages.SEND_ROLES)
        and smtp_configured()
        and any(d.result in ("failed", "pending") for d in deliveries),
        "message_error": error,
        "field_labels": FIELD_LABELS,
    }


FIELD_LABELS = {
    "subject": "Objet du courriel",
    "headline": "Titre",
    "cbs": "Texte FR-Alert (diffusion cellulaire)",
    "description": "Description de la situation",
    "instruction": "Consignes à la population",
    "body": "Texte du courriel",
}


def _message_page(message: messages.Message, status: int = 200, **kw: Any) -> Response:
    ctx = _message_context(message, **kw)
    return render(
        "messages/message.html",
        "messages/_message.html",
        status=status,
        drill_banner=message.is_drill,
        **ctx,
    )


def _back(message_id: int) -> Response:
    response = redirect(url_for("messages.show_message", message_id=message_id))
    return trigger(response, "messages-changed")


@bp.get("/messages/<int:message_id>")
@allow(*messages.READ_ROLES)
def show_message(message_id: int) -> Response:
    return _message_page(message_or_404(message_id))


@bp.post("/messages/<int:message_id>")
@allow(*messages.DRAFT_ROLES)
def edit_message(message_id: int) -> Response:
    message = message_or_404(message_id)
    form: dict[str, Any] = {k: request.form[k] for k in FIELD_LABELS if k in request.form}
    if request.form.get("fold") == "1" and "cbs" in form:
        form["cbs"] = cbs.to_gsm(form["cbs"])
    changes: dict[str, Any] = dict(form)
    if request.form.get("recipients_shown") == "1":
        changes["recipients"] = request.form.getlist("recipients")
    try:
        messages.edit(get_db(), now(), message.id, changes, actor=require_user())
    except messages.MessageError as exc:
        if exc.status == 404:
            raise
        shown = {**form, "recipients": request.form.getlist("recipients")}
        return _message_page(message, status=exc.status, error=exc.message, form=shown)
    return _back(message.id)


@bp.post("/messages/<int:message_id>/count")
@allow(*messages.READ_ROLES)
def count_text(message_id: int) -> Response:
    """The FR-Alert counter for the text being typed (htmx, as the cell types)."""
    message_or_404(message_id)
    count = messages.cbs_text_count(request.form.get("cbs", ""))
    return render("messages/_cbs_count.html", count=count)


def _action(message_id: int, do: Any) -> Response:
    message = message_or_404(message_id)
    try:
        do(message)
    except messages.MessageError as exc:
        if exc.status == 404:
            raise
        return _message_page(message_or_404(message_id), status=exc.status, error=exc.message)
    return _back(message.id)


@bp.post("/messages/<int:message_id>/validate")
@allow(*messages.VALIDATE_ROLES)
def validate_message(message_id: int) -> Response:
    def do(message: messages.Message) -> None:
        event = event_or_404(message.event_id)
        messages.validate(
            get_db(),
            now(),
            message.id,
            library().playbook(event.kind),
            actor=require_user(),
            index=get_index(),
        )

    return _action(message_id, do)


@bp.post("/messages/<int:message_id>/send")
@allow(*messages.SEND_ROLES)
def send_message(message_id: int) -> Response:
    return _action(
        message_id,
        lambda message: messages.send(
            get_db(), now(), message.id, actor=require_user(), relay=relay()
        ),
    )


@bp.post("/messages/<int:message_id>/cancel")
@allow(*messages.DRAFT_ROLES)
def cancel_message(message_id: int) -> Response:
    return _action(
        message_id,
        lambda message: messages.cancel(
            get_db(), now(), message.id, actor=require_user(), reason=request.form.get("reason", "")
        ),
    )


@bp.post("/messages/<int:message_id>/retry")
@allow(*messages.SEND_ROLES)
def retry_message(message_id: int) -> Response:
    return _action(
        message_id,
        lambda message: messages.retry_now(
            get_db(), now(), message.id, relay(), actor=require_user().login
        ),
    )


@bp.get("/messages/<int:message_id>/file")
@allow(*messages.READ_ROLES)
def download_message(message_id: int) -> Response:
    """The exact bytes once validated; for a draft, what validating it now would produce
    (a preview, named so)."""
    message = message_or_404(message_id)
    event = event_or_404(message.event_id)
    media, filename, data = messages.preview(
        get_db(), now(), message.id, library().playbook(event.kind), index=get_index()
    )
    if message.content is None:
        filename = "APERCU-" + filename
    response = make_response(data)
    text = media != "application/pdf"
    response.headers["Content-Type"] = media + ("; charset=utf-8" if text else "")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/events/<int:event_id>/emsi.xml")
@allow(*messages.READ_ROLES)
def download_emsi(event_id: int) -> Response:
    """The event's EMSI now (the same as ``GET /api/v1/events/<id>/emsi``), as a download."""
    event = event_or_404(event_id)
    data = messages.current_emsi(
        get_db(), now(), event.id, library().playbook(event.kind), index=get_index()
    )
    response = make_response(data)
    response.headers["Content-Type"] = "application/xml; charset=utf-8"
    prefix = "EXERCICE-" if event.is_drill else ""
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{prefix}emsi-evenement-{event.id}.xml"'
    )
    return response


# --- the partner directory ----------------------------------------------------------------------


def _partners_context(
    error: str | None = None, form: dict[str, Any] | None = None, token: Any = None
) -> dict[str, Any]:
    db = get_db()
    return {
        "partners": messages.list_partners(db),
        "holders": messages.feed_token_holders(db),
        "can_manage": _can(*messages.PARTNER_MANAGE_ROLES),
        "kind_labels": KIND_LABELS,
        "partners_error": error,
        "partner_form": form or {},
        "issued": token,
        "smtp_configured": smtp_configured(),
    }


def _partner_values(form: Any) -> dict[str, Any]:
    return {
        "organisation": form.get("organisation", ""),
        "role": form.get("role", ""),
        "email": form.get("email", ""),
        "kinds": form.getlist("kinds"),
        "drill_only": form.get("drill_only") == "1",
    }


@bp.get("/partners")
@allow(*messages.PARTNER_READ_ROLES)
def list_partners() -> Response:
    return render("messages/partners.html", "messages/_partners.html", **_partners_context())


@bp.post("/partners")
@allow(*messages.PARTNER_MANAGE_ROLES)
def add_partner() -> Response:
    values = _partner_values(request.form)
    try:
        messages.add_partner(get_db(), now(), actor=require_user(), **values)
    except messages.MessageError as exc:
        ctx = _partners_context(exc.message, values)
        return render("messages/partners.html", "messages/_partners.html", exc.status, **ctx)
    return redirect(url_for("messages.list_partners"))


def _partner_or_404(partner_id: int) -> messages.Partner:
    found = messages.get_partner(get_db(), partner_id)
    if found is None:
        raise messages.MessageError("Partenaire introuvable.", 404)
    return found


def _partner_page(
    partner: messages.Partner, status: int = 200, error: str | None = None, form: Any = None
) -> Response:
    return render(
        "messages/partner.html",
        status=status,
        partner=partner,
        values=form or partner.to_dict(),
        has_token=partner.id in messages.feed_token_holders(get_db()),
        kind_labels=KIND_LABELS,
        can_manage=_can(*messages.PARTNER_MANAGE_ROLES),
        partner_error=error,
        issued=None,
    )


@bp.get("/partners/<int:partner_id>")
@allow(*messages.PARTNER_READ_ROLES)
def show_partner(partner_id: int) -> Response:
    return _partner_page(_partner_or_404(partner_id))


@bp.post("/partners/<int:partner_id>")
@allow(*messages.PARTNER_MANAGE_ROLES)
def edit_partner(partner_id: int) -> Response:
    partner = _partner_or_404(partner_id)
    values = {**_partner_values(request.form), "active": request.form.get("active") == "1"}
    try:
        messages.update_partner(get_db(), now(), partner.id, values, actor=require_user())
    except messages.MessageError as exc:
        if exc.status == 404:
            raise
        return _partner_page(partner, exc.status, exc.message, values)
    return redirect(url_for("messages.list_partners"))


@bp.post("/partners/<int:partner_id>/feed-token")
@allow(*messages.PARTNER_MANAGE_ROLES)
def issue_feed_token(partner_id: int) -> Response:
    """A new feed token, shown once on the page that answers."""
    partner = _partner_or_404(partner_id)
    try:
        token = messages.issue_feed_token(get_db(), now(), partner.id, actor=require_user())
    except messages.MessageError as exc:
        if exc.status == 404:
            raise
        return _partner_page(partner, exc.status, exc.message)
    feed = "cap.exercise_feed" if partner.drill_only else "cap.feed"
    response = render(
        "messages/partner.html",
        partner=partner,
        values=partner.to_dict(),
        has_token=True,
        kind_labels=KIND_LABELS,
        can_manage=True,
        partner_error=None,
        issued={"token": token, "feed": url_for(feed, _external=True)},
    )
    return response


@bp.post("/partners/<int:partner_id>/feed-token/revoke")
@allow(*messages.PARTNER_MANAGE_ROLES)
def revoke_feed_token(partner_id: int) -> Response:
    partner = _partner_or_404(partner_id)
    messages.revoke_feed_token(get_db(), now(), partner.id, actor=require_user())
    return redirect(url_for("messages.show_partner", partner_id=partner.id))
