"""JSON API of outgoing messages (CAP, EMSI, reports by e-mail), the partner directory and the
event's current CAP and EMSI (issue 17). The same domain functions as the pages
(``app.messages``); each operation is described by ``@describe`` (``/api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, make_response, url_for
from werkzeug.wrappers import Response

from .. import messages
from ..messages import cap as cap_module
from ..messages import emsi as emsi_module
from . import api_models as m
from .context import event_or_404, get_db, library, now, require_user
from .geoindex import get_index
from .openapi import body as parsed_body
from .openapi import describe
from .security import allow

bp = Blueprint("api_messages", __name__, url_prefix="/api/v1")


# --- shared with the pages ----------------------------------------------------------------------


def relay() -> messages.SmtpRelay | None:
    """The configured SMTP relay (None: nothing is sent); a half-configured one is refused."""
    try:
        return messages.SmtpRelay.from_settings(current_app.config)
    except ValueError as exc:
        raise messages.MessageError(f"Relais SMTP mal configuré : {exc}.", 503) from None


def smtp_configured() -> bool:
    return bool(str(current_app.config.get("CRISIS_SMTP_HOST") or "").strip())


def message_or_404(message_id: int) -> messages.Message:
    """The message, and its event readable by the user (404 otherwise)."""
    found = messages.get_message(get_db(), message_id)
    if found is None:
        raise messages.MessageError("Ce message n'existe pas.", 404)
    event_or_404(found.event_id)
    return found


def count_json(count: messages.CbsCount) -> dict[str, Any]:
    return {**count.to_dict(), "message": count.message()}


def message_json(message: messages.Message) -> dict[str, Any]:
    """The API shape of a message: its record, its deliveries, its FR-Alert count."""
    return {
        **message.to_dict(),
        "deliveries": [d.to_dict() for d in messages.deliveries(get_db(), message.id)],
        "cbs_count": count_json(messages.cbs_count(message)) if message.kind == "cap" else None,
        "content_url": url_for("api_messages.message_content", message_id=message.id),
    }


def partner_json(partner: messages.Partner, holders: set[int]) -> dict[str, Any]:
    return {**partner.to_dict(), "feed_token": partner.id in holders}


def _xml(body: bytes, media: str, filename: str) -> Response:
    response = make_response(body)
    response.headers["Content-Type"] = f"{media}; charset=utf-8"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


# --- messages -----------------------------------------------------------------------------------


@bp.get("/events/<int:event_id>/messages")
@allow(*messages.READ_ROLES)
@describe(
    "Les messages de l'événement",
    tag="Messages",
    response=m.MessageList,
    notes="Du plus récent au plus ancien. « cap_update_due » dit pourquoi l'alerte en vigueur "
    "doit être mise à jour (vent tourné, niveau changé, événement clos) ; « smtp_configured » "
    "faux : rien ne part par courriel.",
)
def list_messages(event_id: int) -> Response:
    """Newest first; ``cap_update_due`` says why the alert in force needs an Update (a wind
    shift, a level change, the event closed)."""
    event = event_or_404(event_id)
    db = get_db()
    return jsonify(
        event=event.id,
        messages=[message_json(x) for x in messages.list_messages(db, event.id)],
        cap_update_due=messages.cap_update_due(db, event),
        smtp_configured=smtp_configured(),
    )


@bp.post("/events/<int:event_id>/messages")
@allow(*messages.DRAFT_ROLES)
@describe(
    "Rédiger un message depuis un modèle du guide",
    tag="Messages",
    body=m.MessageIn,
    response=m.MessageOut,
    status=201,
    errors=(409,),
    notes="Un brouillon rempli depuis l'événement (zones, communes et codes INSEE, heures, "
    "consignes) et le modèle du guide : alerte CAP, message EMSI ou point de situation (PDF) "
    "par courriel. Un événement clos n'accepte plus que « levee » et « point-de-situation ».",
)
def draft_message(event_id: int) -> Response:
    """A draft (``brouillon``) filled from the event: CAP alert, EMSI message or situation
    report by e-mail, from ``mise-a-l-abri``, ``evacuation``, ``levee`` or
    ``point-de-situation``."""
    event = event_or_404(event_id)
    given: m.MessageIn = parsed_body()
    made = messages.draft(
        get_db(),
        now(),
        event.id,
        library().playbook(event.kind),
        kind=given.kind,
        template=given.template,
        actor=require_user(),
        recipients=given.recipients,
        report_id=given.report_id,
        index=get_index(),
    )
    response = jsonify(message_json(made))
    response.status_code = 201
    response.headers["Location"] = url_for("api_messages.get_message", message_id=made.id)
    return response


@bp.get("/messages/<int:message_id>")
@allow(*messages.READ_ROLES)
@describe(
    "Un message",
    tag="Messages",
    response=m.MessageOut,
    notes="Statut (brouillon, validé, émis, annulé), « msg_type » et « references » une fois "
    "validé, destinataires figés, envois et leur résultat.",
)
def get_message(message_id: int) -> Response:
    """Its status, ``msg_type`` and ``references`` (once validated), deliveries."""
    return jsonify(message_json(message_or_404(message_id)))


@bp.patch("/messages/<int:message_id>")
@allow(*messages.DRAFT_ROLES)
@describe(
    "Modifier un brouillon", tag="Messages", body=m.MessageEditIn, response=m.MessageOut,
    errors=(409,),
)  # fmt: skip
def edit_message(message_id: int) -> Response:
    """Texts (subject, headline, cbs, description, instruction, body) and recipients; whoever
    edits a draft may not validate it."""
    message_or_404(message_id)
    given: m.MessageEditIn = parsed_body()
    changes = given.model_dump(exclude_none=True)
    done = messages.edit(get_db(), now(), message_id, changes, actor=require_user())
    return jsonify(message_json(done))


@bp.post("/messages/<int:message_id>/validate")
@allow(*messages.VALIDATE_ROLES)
@describe("Valider un brouillon (un directeur qui ne l'a pas rédigé)", tag="Messages",
          response=m.MessageOut, errors=(409,),
          notes="Les octets exacts et les destinataires sont figés : ce qui est validé est ce "
          "qui part. Jamais par qui a rédigé ou modifié le brouillon (403).")  # fmt: skip
def validate_message(message_id: int) -> Response:
    """The exact bytes and the recipients are frozen: what is validated is what leaves."""
    message = message_or_404(message_id)
    event = event_or_404(message.event_id)
    done = messages.validate(
        get_db(),
        now(),
        message_id,
        library().playbook(event.kind),
        actor=require_user(),
        index=get_index(),
    )
    return jsonify(message_json(done))


@bp.post("/messages/<int:message_id>/send")
@allow(*messages.SEND_ROLES)
@describe(
    "Émettre un message validé",
    tag="Messages",
    response=m.SendOut,
    errors=(409,),
    notes="Marque le message émis (main courante « message émis », empreinte SHA-256 dans la "
    "chaîne d'audit), publie une alerte CAP dans le flux des partenaires et l'envoie à ses "
    "destinataires par le relais SMTP. Sans relais configuré, l'émission réussit et "
    "« skipped » liste les envois non faits. Un échec du relais est noté et réessayé.",
)
def send_message(message_id: int) -> Response:
    """Marks it émis (main courante, audit chain with the SHA-256), publishes a CAP alert in
    the partners' feed and delivers it to its recipients through the SMTP relay; with no relay
    configured it still succeeds and ``skipped`` lists the deliveries not made."""
    message_or_404(message_id)
    result = messages.send(get_db(), now(), message_id, actor=require_user(), relay=relay())
    return jsonify(
        {
            **message_json(result.message),
            "deliveries": [d.to_dict() for d in result.deliveries],
            "skipped": [d.to_dict() for d in result.skipped],
        }
    )


@bp.post("/messages/<int:message_id>/cancel")
@allow(*messages.DRAFT_ROLES)
@describe("Annuler un brouillon ou un message validé", tag="Messages", body=m.CancelIn,
          body_required=False, response=m.MessageOut, errors=(409,))  # fmt: skip
def cancel_message(message_id: int) -> Response:
    """By its author or a director; an emitted message is not cancelled: a ``levee`` (CAP
    Cancel) or an update is emitted instead."""
    message_or_404(message_id)
    given: m.CancelIn = parsed_body()
    done = messages.cancel(get_db(), now(), message_id, actor=require_user(), reason=given.reason)
    return jsonify(message_json(done))


@bp.post("/messages/<int:message_id>/retry")
@allow(*messages.SEND_ROLES)
@describe("Réessayer les envois en échec", tag="Messages", response=m.DeliveryList,
          errors=(409,))  # fmt: skip
def retry_message(message_id: int) -> Response:
    """At once, without waiting for the scheduler's next attempt."""
    message_or_404(message_id)
    found = messages.retry_now(get_db(), now(), message_id, relay(), actor=require_user().login)
    return jsonify(message=message_id, deliveries=[d.to_dict() for d in found])


@bp.get("/messages/<int:message_id>/content")
@allow(*messages.READ_ROLES)
@describe(
    "Les octets exacts d'un message validé ou émis",
    tag="Messages",
    media=(cap_module.CAP_MEDIA_TYPE, emsi_module.EMSI_MEDIA_TYPE, "application/pdf"),
    errors=(409,),
    notes="CAP (application/cap+xml), EMSI (application/xml) ou le PDF du point de situation, "
    "octet pour octet tels que validés (SHA-256 dans X-Content-SHA256). Un brouillon n'en a "
    "pas encore (409).",
)
def message_content(message_id: int) -> Response:
    """CAP (``application/cap+xml``), EMSI (``application/xml``) or the report's PDF, byte for
    byte as validated (SHA-256 in ``X-Content-SHA256``); a draft has none yet (409)."""
    message = message_or_404(message_id)
    found = messages.content(get_db(), message.id)
    if found is None:
        raise messages.MessageError(
            "Ce message est un brouillon : ses octets sont figés à la validation.", 409
        )
    meta, data = found
    response = make_response(data)
    text = meta.media_type != "application/pdf"
    response.headers["Content-Type"] = meta.media_type + ("; charset=utf-8" if text else "")
    response.headers["Content-Disposition"] = f'attachment; filename="{meta.filename}"'
    response.headers["X-Content-SHA256"] = meta.sha256
    return response


@bp.post("/messages/count")
@allow(*messages.READ_ROLES)
@describe("Compter un texte de diffusion cellulaire (FR-Alert)", tag="Messages",
          body=m.CountIn, response=m.CbsCountOut)  # fmt: skip
def count_text() -> Response:
    """93 GSM 03.38 characters a page (40 in UCS-2 once one character is outside it), at most
    15 pages; the characters outside the GSM alphabet are listed."""
    given: m.CountIn = parsed_body()
    return jsonify(count_json(messages.cbs_text_count(given.text)))


# --- the event's CAP and EMSI -------------------------------------------------------------------


@bp.get("/events/<int:event_id>/emsi")
@allow(*messages.READ_ROLES)
@describe(
    "L'EMSI actuel de l'événement",
    tag="CAP et EMSI",
    media=emsi_module.EMSI_MEDIA_TYPE,
    notes="EMSI (urn:emergency:eda:1.9:emsi) : ALERT tant qu'aucun n'a été émis, UPDATE "
    "ensuite, CANCEL une fois l'événement clos ; MODE EXERCS pour un exercice.",
)
def event_emsi(event_id: int) -> Response:
    """EMSI (``urn:emergency:eda:1.9:emsi``): ALERT while none was emitted, UPDATE after,
    CANCEL once the event is closed; MODE ``EXERCS`` for a drill."""
    event = event_or_404(event_id)
    data = messages.current_emsi(
        get_db(), now(), event.id, library().playbook(event.kind), index=get_index()
    )
    prefix = "EXERCICE-" if event.is_drill else ""
    return _xml(data, emsi_module.EMSI_MEDIA_TYPE, f"{prefix}emsi-evenement-{event.id}.xml")


@bp.get("/events/<int:event_id>/cap")
@allow(*messages.READ_ROLES)
@describe(
    "L'alerte CAP de l'événement",
    tag="CAP et EMSI",
    media=cap_module.CAP_MEDIA_TYPE,
    notes="La dernière alerte émise, sinon celle que donnerait maintenant le modèle "
    "« mise-a-l-abri » du guide (non émise).",
)
def event_cap(event_id: int) -> Response:
    """The last alert emitted, else the alert its playbook's ``mise-a-l-abri`` template gives
    now (not emitted)."""
    event = event_or_404(event_id)
    data = messages.event_cap(
        get_db(), now(), event.id, library().playbook(event.kind), index=get_index()
    )
    prefix = "EXERCICE-" if event.is_drill else ""
    return _xml(data, cap_module.CAP_MEDIA_TYPE, f"{prefix}alerte-cap-evenement-{event.id}.xml")


# --- the partner directory ----------------------------------------------------------------------


def _partner_or_404(partner_id: int) -> messages.Partner:
    found = messages.get_partner(get_db(), partner_id)
    if found is None:
        raise messages.MessageError("Partenaire introuvable.", 404)
    return found


@bp.get("/partners")
@allow(*messages.PARTNER_READ_ROLES)
@describe("L'annuaire des partenaires", tag="Partenaires", response=m.PartnerList)
def list_partners() -> Response:
    db = get_db()
    holders = messages.feed_token_holders(db)
    return jsonify(partners=[partner_json(p, holders) for p in messages.list_partners(db)])


@bp.post("/partners")
@allow(*messages.PARTNER_MANAGE_ROLES)
@describe("Ajouter un partenaire", tag="Partenaires", body=m.PartnerIn, response=m.PartnerOut,
          status=201, errors=(409,))  # fmt: skip
def add_partner() -> Response:
    given: m.PartnerIn = parsed_body()
    db = get_db()
    made = messages.add_partner(
        db,
        now(),
        organisation=given.organisation,
        role=given.role,
        email=given.email,
        kinds=list(given.kinds),
        drill_only=given.drill_only,
        actor=require_user(),
    )
    response = jsonify(partner_json(made, messages.feed_token_holders(db)))
    response.status_code = 201
    response.headers["Location"] = url_for("api_messages.get_partner", partner_id=made.id)
    return response


@bp.get("/partners/<int:partner_id>")
@allow(*messages.PARTNER_READ_ROLES)
@describe("Un partenaire", tag="Partenaires", response=m.PartnerOut)
def get_partner(partner_id: int) -> Response:
    found = _partner_or_404(partner_id)
    return jsonify(partner_json(found, messages.feed_token_holders(get_db())))


@bp.patch("/partners/<int:partner_id>")
@allow(*messages.PARTNER_MANAGE_ROLES)
@describe("Modifier un partenaire", tag="Partenaires", body=m.PartnerEditIn,
          response=m.PartnerOut, errors=(409,))  # fmt: skip
def edit_partner(partner_id: int) -> Response:
    """Deactivate with ``{"active": false}`` (entries are never deleted)."""
    given: m.PartnerEditIn = parsed_body()
    db = get_db()
    done = messages.update_partner(
        db, now(), partner_id, given.model_dump(exclude_none=True), actor=require_user()
    )
    return jsonify(partner_json(done, messages.feed_token_holders(db)))


@bp.post("/partners/<int:partner_id>/feed-token")
@allow(*messages.PARTNER_MANAGE_ROLES)
@describe("Donner un jeton de flux CAP au partenaire", tag="Partenaires",
          response=m.FeedTokenOut, status=201, errors=(409,),
          notes="Montré une seule fois ; le jeton précédent du partenaire cesse de fonctionner. "
          "Il ouvre le flux réel, ou le flux d'exercice pour un partenaire d'exercice, "
          "et rien d'autre.")  # fmt: skip
def issue_feed_token(partner_id: int) -> Response:
    """The token is shown once (only its SHA-256 is kept); the partner's earlier token stops
    working. It opens the real feed, or the exercise feed for a drill-only partner."""
    partner = _partner_or_404(partner_id)
    token = messages.issue_feed_token(get_db(), now(), partner.id, actor=require_user())
    feed = "cap.exercise_feed" if partner.drill_only else "cap.feed"
    response = jsonify(partner=partner.id, token=token, feed=url_for(feed, _external=True))
    response.status_code = 201
    return response


@bp.delete("/partners/<int:partner_id>/feed-token")
@allow(*messages.PARTNER_MANAGE_ROLES)
@describe("Révoquer le jeton de flux du partenaire", tag="Partenaires", response=m.PartnerOut)
def revoke_feed_token(partner_id: int) -> Response:
    db = get_db()
    _partner_or_404(partner_id)
    messages.revoke_feed_token(db, now(), partner_id, actor=require_user())
    return jsonify(partner_json(_partner_or_404(partner_id), messages.feed_token_holders(db)))
