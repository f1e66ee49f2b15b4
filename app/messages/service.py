"""Outgoing messages as first-class objects: draft → validate → send, or cancel.

- :func:`draft` fills a template (``mise-a-l-abri``, ``evacuation``, ``levee``,
  ``point-de-situation``) from the event's facts; the draft's texts and recipients can be
  edited (:func:`edit`) by the cell and the directors.
- :func:`validate`: only a director, and never one who wrote or edited the draft (four eyes,
  as for break-glass approvals). Validation renders the exact bytes (CAP XML, EMSI XML or the
  situation report's PDF), freezes them with the recipients in ``message_contents``
  (append-only) and computes the CAP/EMSI ``msg_type`` and ``references`` from the messages
  already emitted for the event.
- :func:`send` marks the message émis, creates one delivery per recipient, writes the
  main-courante entry "message émis" and the audit record carrying the SHA-256 of the bytes, in
  one transaction; then delivers by SMTP (``app.messages.mail``) or, with no relay configured,
  records every delivery as skipped. An emitted CAP alert is in the partners' Atom feed.
- :func:`cancel`: a draft or a validated message can be cancelled (annulé); an emitted message
  cannot: a CAP alert is updated or cancelled by a new message that references it.

A closed event still accepts a ``levee`` (CAP Cancel, EMSI CANCEL) and a ``point-de-situation``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlite_utils

from .. import audit, events, fr, numbers, reports
from ..clock import iso, local
from ..db import dumps, row, rows, transaction
from ..playbooks import Playbook
from ..records import Event, get_event, latest_zones
from . import cap as cap_module
from . import cbs, emsi, mail, templates
from .facts import GENERIC_DISTANCES, SENDER_NAME, EventFacts, load_facts, paris_offset_time
from .partners import get_partner, recipients_for
from .records import (
    CANCELLED,
    DRAFT,
    DRAFT_ROLES,
    EMITTED,
    KIND_LABELS,
    KINDS,
    SEND_ROLES,
    VALIDATE_ROLES,
    VALIDATED,
    Delivery,
    Message,
    MessageError,
    SendResult,
)
from .store import content, emitted, get_message

EDITABLE: tuple[str, ...] = ("subject", "headline", "cbs", "description", "instruction", "body")
FIELD_MAX: dict[str, int] = {
    "subject": 200,
    "headline": 160,
    "cbs": 2000,
    "description": 8000,
    "instruction": 4000,
    "body": 12000,
}
FIELD_LABELS: dict[str, str] = {
    "subject": "Objet",
    "headline": "Titre",
    "cbs": "Texte de diffusion cellulaire",
    "description": "Description",
    "instruction": "Consignes",
    "body": "Texte du courriel",
}
CLOSED_TEMPLATES: tuple[str, ...] = ("levee", "point-de-situation")
CAP_EXPIRES = timedelta(hours=6)


class Actor(Protocol):
    id: int
    login: str
    name: str
    roles: frozenset[str]


# --- reading ------------------------------------------------------------------------------------


def cap_chain(db: sqlite_utils.Database, event_id: int) -> list[Message]:
    """The emitted CAP messages of the event's current alert (since its last Cancel), in order."""
    chain: list[Message] = []
    for m in emitted(db, event_id, "cap"):
        chain = [] if chain and chain[-1].msg_type == "Cancel" else chain
        chain.append(m)
    if chain and chain[-1].msg_type == "Cancel":
        return []
    return chain


def _cap_references(chain: Iterable[Message]) -> list[str]:
    return [
        cap_module.reference(cap_module.SENDER, m.content.identifier, m.content.sent)
        for m in chain
        if m.content
    ]


def cap_update_due(
    db: sqlite_utils.Database, event: Event, zones: Mapping[str, Any] | None = None
) -> list[str]:
    """Why the event's alert needs an Update (French reasons): the zones or the level changed
    since the last CAP message emitted, or the event closed. [] when no alert is in force or it
    is current. ``zones``: the event's latest zones when the caller read them (else read here,
    only when an alert is in force)."""
    chain = cap_chain(db, event.id)
    if not chain or chain[-1].content is None:
        return []
    last = chain[-1].content
    reasons = []
    if zones is None:
        zones = latest_zones(db, event.id)
    if zones and zones["version"] != last.zones_version:
        reasons.append("Les zones ont changé depuis la dernière alerte émise.")
    if event.level != last.level:
        reasons.append(f"Le niveau est passé de {last.level} à {event.level}.")
    if not event.is_open:
        reasons.append("L'événement est clos : l'alerte doit être levée.")
    return reasons


def cap_by_identifier(db: sqlite_utils.Database, identifier: str) -> bytes | None:
    """The bytes of an emitted CAP alert by its identifier (its stable URL), or None."""
    found = cap_alert(db, identifier)
    return found[1] if found else None


def cap_alert(db: sqlite_utils.Database, identifier: str) -> tuple[bool, bytes] | None:
    """(is it a drill's, its bytes) of an emitted CAP alert by its identifier, or None."""
    r = row(
        db,
        "SELECT m.is_drill, c.body FROM message_contents c JOIN messages m"
        " ON m.id = c.message_id WHERE c.identifier = ? AND m.kind = 'cap' AND m.status = ?",
        [identifier, EMITTED],
    )
    return (bool(r["is_drill"]), bytes(r["body"])) if r else None


def cap_feed(
    db: sqlite_utils.Database,
    now: datetime,
    base_url: str,
    *,
    include_drills: bool = False,
    only_drills: bool = False,
    limit: int = 100,
) -> bytes:
    """The Atom feed of the CAP alerts emitted (real events; drills too when asked, or the
    drills' alone: the exercise feed)."""
    which = (
        " AND m.is_drill = 1" if only_drills else "" if include_drills else " AND m.is_drill = 0"
    )
    found = rows(
        db,
        "SELECT m.id, m.fields, m.is_drill, c.identifier, c.sent, c.msg_type FROM messages m"
        " JOIN message_contents c ON c.message_id = m.id WHERE m.kind = 'cap' AND m.status = ?"
        + which
        + " ORDER BY m.emitted_at DESC, m.id DESC LIMIT ?",
        [EMITTED, limit],
    )
    entries = []
    for r in found:
        f = json.loads(r["fields"])
        entries.append(
            cap_module.FeedEntry(
                identifier=r["identifier"],
                sent=r["sent"],
                msg_type=r["msg_type"],
                status="Exercise" if r["is_drill"] else "Actual",
                headline=f.get("headline", ""),
                summary=f.get("instruction") or f.get("description", ""),
            )
        )
    if only_drills:
        return cap_module.atom_feed(
            entries,
            updated=paris_offset_time(now),
            base_url=base_url,
            feed_path=cap_module.EXERCISE_FEED_PATH,
            title="EXERCICE — Alertes CAP d'exercice — Caux Seine Agglomération",
            feed_id="cap-exercise-feed",
        )
    return cap_module.atom_feed(entries, updated=paris_offset_time(now), base_url=base_url)


# --- rendering ----------------------------------------------------------------------------------


def _identifier(event_id: int, message_id: int) -> str:
    return f"{cap_module.IDENTIFIER_PREFIX}-e{event_id}-m{message_id}"


def _cap_alert(
    facts: EventFacts,
    fields: Mapping[str, Any],
    template: str,
    *,
    identifier: str,
    sent: datetime,
    msg_type: str,
    references: list[str],
) -> cap_module.Alert:
    event = facts.event
    # What CAP says of the template was frozen in the draft (its playbook may have changed or
    # gone since); older drafts read it from the playbook.
    cap_fields = fields.get("cap") or templates.cap_fields(
        templates.text_for(template, facts.templates)
    )
    areas = []
    for z in facts.zones:
        names = ", ".join(c.name for c in z.communes)
        areas.append(
            cap_module.Area(
                desc=f"{z.label} ({z.threshold})" + (f" — {names}" if names else ""),
                polygons=tuple(cap_module.polygons(z.geometry)),
                geocodes=tuple(("INSEE", c.insee) for c in z.communes),
            )
        )
    if not areas:
        areas.append(
            cap_module.Area(
                desc=event.place or event.title, circles=(f"{event.lat:.5f},{event.lon:.5f} 0.5",)
            )
        )
    cancel = msg_type == "Cancel"
    description = str(fields.get("description", ""))
    parameters = [(cap_module.CBS_PARAMETER, str(fields.get("cbs", "")))]
    if facts.zones and not cancel:
        # Where the zones' distances come from; generic ones are said in the text as well.
        parameters.append((cap_module.DISTANCES_PARAMETER, facts.distances))
        if facts.generic_distances and GENERIC_DISTANCES not in description:
            description = f"{description.rstrip()}\n{GENERIC_DISTANCES}".strip()
    return cap_module.Alert(
        identifier=identifier,
        sender=cap_module.SENDER,
        sent=paris_offset_time(sent),
        status="Exercise" if event.is_drill else "Actual",
        msg_type=msg_type,
        scope="Restricted" if event.is_drill else "Public",
        restriction=cap_module.DRILL_RESTRICTION if event.is_drill else None,
        note=cap_module.DRILL_NOTE if event.is_drill else None,
        references=tuple(references),
        incidents=emsi.event_id(facts),
        categories=cap_module.CATEGORIES.get(facts.hazard, ("Other",)),
        event=facts.playbook_title,
        responses=tuple(cap_fields["response"]),
        urgency=cap_fields["urgency"],
        severity="Minor" if cancel else cap_module.severity(event.level),
        certainty=cap_fields["certainty"],
        event_codes=(("caux-seine:guide", facts.playbook_id),),
        effective=paris_offset_time(sent),
        expires=None if cancel else paris_offset_time(sent + CAP_EXPIRES),
        sender_name=SENDER_NAME,
        headline=str(fields.get("headline", ""))[:160],
        description=description,
        instruction=str(fields.get("instruction", "")),
        parameters=tuple(parameters),
        areas=tuple(areas),
    )


def _render(
    db: sqlite_utils.Database,
    now: datetime,
    message: Message,
    facts: EventFacts,
) -> dict[str, Any]:
    """The frozen content of a message rendered now: msg_type, identifier, references, bytes."""
    event = facts.event
    drill = "EXERCICE-" if event.is_drill else ""
    identifier = _identifier(event.id, message.id)
    base = {
        "identifier": identifier,
        "sent": paris_offset_time(now),
        "zones_version": facts.zones_version,
        "level": event.level,
    }
    if message.kind == "cap":
        chain = cap_chain(db, event.id)
        if message.template == "levee":
            if not chain:
                raise MessageError("Aucune alerte CAP en cours à lever pour cet événement.", 409)
            msg_type = "Cancel"
        else:
            msg_type = "Update" if chain else "Alert"
        refs = _cap_references(chain)
        alert = _cap_alert(
            facts,
            message.fields,
            message.template,
            identifier=identifier,
            sent=now,
            msg_type=msg_type,
            references=refs,
        )
        body = cap_module.to_xml(alert)
        return {
            **base,
            "msg_type": msg_type,
            "refs": refs,
            "sent": alert.sent,
            "media_type": cap_module.CAP_MEDIA_TYPE,
            "filename": f"{drill}alerte-cap-{identifier}.xml",
            "body": body,
        }
    if message.kind == "emsi":
        earlier = [m for m in emitted(db, event.id, "emsi") if m.content]
        if message.template == "levee" or not event.is_open:
            msg_type = "CANCEL"
        else:
            msg_type = "UPDATE" if earlier else "ALERT"
        ids = [m.content.identifier for m in earlier if m.content]
        f = message.fields
        body = emsi.build(
            facts,
            context_id=identifier,
            msg_type=msg_type,
            creation=paris_offset_time(now),
            freetext=f"{f.get('headline', '')}. {f.get('instruction', '')}".strip(". "),
            links=ids,
            since_level=earlier[-1].content.level if earlier and earlier[-1].content else None,
        )
        return {
            **base,
            "msg_type": msg_type,
            "refs": ids,
            "media_type": emsi.EMSI_MEDIA_TYPE,
            "filename": f"{drill}emsi-{identifier}.xml",
            "body": body,
        }
    report = reports.get_report(db, message.report_id or 0)
    pdf = reports.report_pdf(db, message.report_id or 0)
    if report is None or pdf is None or report.event_id != event.id:
        raise MessageError("Le point de situation joint est introuvable.", 404)
    return {
        **base,
        "msg_type": None,
        "refs": [],
        "sent": paris_offset_time(report.generated_at),
        "media_type": "application/pdf",
        "filename": f"{drill}{report.filename}",
        "body": pdf,
    }


def preview(
    db: sqlite_utils.Database,
    now: datetime,
    message_id: int,
    playbook: Playbook | None = None,
    *,
    index: Any = None,
) -> tuple[str, str, bytes]:
    """(media type, file name, bytes) the message has — frozen ones for a validated or emitted
    message, else what validating it now would produce."""
    found = content(db, message_id)
    if found is not None:
        return found[0].media_type, found[0].filename, found[1]
    message = _get(db, message_id)
    event = _event(db, message.event_id)
    rendered = _render(db, now, message, load_facts(db, now, event, playbook, index=index))
    return rendered["media_type"], rendered["filename"], rendered["body"]


# --- the CAP and EMSI of an event, outside any message ------------------------------------------


def event_cap(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    playbook: Playbook | None = None,
    *,
    index: Any = None,
) -> bytes:
    """The event's CAP alert: the last one emitted, else the alert its playbook's
    ``mise-a-l-abri`` template gives now (not emitted: status as the event, msgType Alert)."""
    issued = emitted(db, event_id, "cap")
    if issued:
        found = content(db, issued[-1].id)
        assert found is not None
        return found[1]
    event = _event(db, event_id)
    facts = load_facts(db, now, event, playbook, index=index)
    fields = templates.fill("mise-a-l-abri", facts.templates, facts.values())
    alert = _cap_alert(
        facts,
        fields,
        "mise-a-l-abri",
        identifier=f"{cap_module.IDENTIFIER_PREFIX}-e{event.id}-apercu-v{facts.zones_version or 0}",
        sent=now,
        msg_type="Alert",
        references=[],
    )
    return cap_module.to_xml(alert)


def current_emsi(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    playbook: Playbook | None = None,
    *,
    index: Any = None,
) -> bytes:
    """The event's EMSI now: ALERT when none was emitted, UPDATE after, CANCEL once closed."""
    event = _event(db, event_id)
    facts = load_facts(db, now, event, playbook, index=index)
    earlier = [m for m in emitted(db, event_id, "emsi") if m.content]
    msg_type = "CANCEL" if not event.is_open else "UPDATE" if earlier else "ALERT"
    template = "levee" if not event.is_open else "point-de-situation"
    if facts.templates:
        freetext = templates.fill(template, facts.templates, facts.values())["headline"]
    else:  # the event's playbook is no longer loaded: the facts still speak
        freetext = f"{facts.playbook_title} — {event.title}"
    return emsi.build(
        facts,
        context_id=f"{emsi.event_id(facts)}-{now.strftime('%Y%m%dT%H%M%SZ')}",
        msg_type=msg_type,
        creation=paris_offset_time(now),
        freetext=freetext,
        links=[m.content.identifier for m in earlier if m.content],
        since_level=earlier[-1].content.level if earlier and earlier[-1].content else None,
    )


# --- writing ------------------------------------------------------------------------------------


def _event(db: sqlite_utils.Database, event_id: int) -> Event:
    event = get_event(db, event_id)
    if event is None:
        raise MessageError("Événement introuvable.", 404, "event")
    return event


def _get(db: sqlite_utils.Database, message_id: int) -> Message:
    message = get_message(db, message_id)
    if message is None:
        raise MessageError("Message introuvable.", 404)
    return message


def _check_template_for(event: Event, template: str) -> None:
    if not event.is_open and template not in CLOSED_TEMPLATES:
        raise MessageError(
            f"L'événement « {event.title} » est clos : seuls la levée de l'alerte et le point "
            "de situation restent possibles.",
            409,
            "template",
        )


def _recipient_ids(
    db: sqlite_utils.Database, kind: str, drill: bool, chosen: Iterable[Any] | None
) -> list[int]:
    if chosen is None:
        return [p.id for p in recipients_for(db, kind, drill)]
    ids: list[int] = []
    for value in chosen:
        try:
            pid = numbers.number(value, "Destinataire", integer=True, minimum=1)
        except numbers.NumberError:
            raise MessageError(
                f"Destinataire invalide : « {value} ».", field="recipients"
            ) from None
        partner = get_partner(db, pid)
        if partner is None or not partner.active:
            raise MessageError(f"Destinataire n°{pid} introuvable.", field="recipients")
        if not partner.receives(kind, drill):
            why = (
                "un exercice ne s'adresse qu'aux destinataires d'exercice"
                if drill
                else "ce destinataire est réservé aux exercices"
                if partner.drill_only
                else "il ne reçoit pas ce type de message"
            )
            raise MessageError(
                f"{partner.organisation} ({partner.email}) ne peut pas recevoir ce message : "
                f"{why}.",
                field="recipients",
            )
        if pid not in ids:
            ids.append(pid)
    return ids


def _check_fields(changes: Mapping[str, Any]) -> dict[str, str]:
    clean: dict[str, str] = {}
    for key, value in changes.items():
        if key not in EDITABLE:
            raise MessageError(f"Champ non modifiable : « {key} ».", field=key)
        if not isinstance(value, str):
            raise MessageError(f"{FIELD_LABELS[key]} : texte attendu.", field=key)
        text = value.strip()
        if len(text) > FIELD_MAX[key]:
            raise MessageError(
                f"{FIELD_LABELS[key]} : au plus {FIELD_MAX[key]} caractères.", field=key
            )
        if key in ("subject", "headline") and ("\n" in text or "\r" in text):
            raise MessageError(f"{FIELD_LABELS[key]} : une seule ligne.", field=key)
        clean[key] = text
    return clean


def _mail_body(fields: Mapping[str, str]) -> str:
    return (
        f"{fields['headline']}\n\n{fields['description']}\n\n"
        f"Consignes à la population : {fields['instruction']}\n"
    )


def draft(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    playbook: Playbook | None = None,
    *,
    kind: Any,
    template: Any,
    actor: Actor,
    recipients: Iterable[Any] | None = None,
    report_id: int | None = None,
    index: Any = None,
) -> Message:
    """A new draft (brouillon) of ``kind`` from ``template``, filled from the event's facts.

    A ``report`` message attaches ``report_id``, else the event's latest situation report, else
    a new one generated now (restricted layers as counts only: a PDF sent out cannot be revoked).
    """
    if kind not in KINDS:
        raise MessageError(f"Type de message inconnu « {kind} » (attendu : cap, emsi, report).",
                           field="kind")  # fmt: skip
    template = templates.check_id(template)
    if not actor.roles & set(DRAFT_ROLES):
        raise MessageError("Seuls la cellule et les directeurs rédigent des messages.", 403)
    event = _event(db, event_id)
    _check_template_for(event, template)
    if kind == "cap" and template == "levee" and not cap_chain(db, event_id):
        raise MessageError("Aucune alerte CAP en cours à lever pour cet événement.", 409)
    facts = load_facts(db, now, event, playbook, index=index)
    fields = templates.fill(template, facts.templates, facts.values())
    exercice = "EXERCICE — " if event.is_drill else ""
    if kind == "report":
        if report_id is not None:
            report = reports.get_report(db, int(report_id))
            if report is None or report.event_id != event_id:
                raise MessageError("Point de situation introuvable pour cet événement.", 404,
                                   "report_id")  # fmt: skip
        else:
            report = reports.latest_report(db, event_id)
            if report is None:
                report = reports.generate(
                    db,
                    now,
                    event,
                    trigger="manual",
                    author=actor.name,
                    actor=actor.login,
                    playbook=playbook,
                    index=index,
                )
            assert report is not None
        if reports.legacy_holdings(db, report):  # a message never carries restricted detail
            raise MessageError(
                "Ce point de situation, produit avant la séparation de son annexe restreinte,"
                " contient le détail de données restreintes : joignez un point plus récent.",
                409,
                "report_id",
            )
        report_id = report.id
        subject = f"{exercice}Point de situation n°{report.number} — {event.title}"
    elif kind == "emsi":
        subject = f"{exercice}EMSI — {event.title} — {templates.TEMPLATE_LABELS[template]}"
    else:
        subject = fields["headline"]
    fields["body"] = _mail_body(fields)
    ids = _recipient_ids(db, str(kind), event.is_drill, recipients)
    with transaction(db):
        cur = db.execute(
            "INSERT INTO messages (event_id, kind, template, status, is_drill, subject, fields,"
            " recipients, report_id, author_id, editors, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                event_id,
                kind,
                template,
                DRAFT,
                int(event.is_drill),
                subject[: FIELD_MAX["subject"]],
                dumps(fields),
                dumps(ids),
                report_id,
                actor.id,
                dumps([actor.id]),
                iso(now),
                iso(now),
            ],
        )
        message_id = int(cur.lastrowid or 0)
        audit.append(
            db,
            now,
            "message.drafted",
            actor=actor.login,
            object_type="message",
            object_id=message_id,
            event_id=event_id,
            details={
                "kind": kind,
                "template": template,
                "recipients": ids,
                "report_id": report_id,
                "zones_version": facts.zones_version,
                "level": event.level,
            },
        )
    return _get(db, message_id)


def edit(
    db: sqlite_utils.Database,
    now: datetime,
    message_id: int,
    changes: Mapping[str, Any],
    *,
    actor: Actor,
) -> Message:
    """Change a draft's texts (subject, headline, cbs, description, instruction, body) or its
    ``recipients`` (partner ids). Whoever edits may not validate it."""
    if not actor.roles & set(DRAFT_ROLES):
        raise MessageError("Seuls la cellule et les directeurs rédigent des messages.", 403)
    changes = dict(changes)
    chosen = changes.pop("recipients", None)
    clean = _check_fields(changes)
    with transaction(db):
        message = _get(db, message_id)
        if message.status != DRAFT:
            raise MessageError(
                f"Le message est {message.status} : seul un brouillon se modifie.", 409
            )
        ids = (
            list(message.recipient_ids)
            if chosen is None
            else _recipient_ids(db, message.kind, message.is_drill, chosen)
        )
        fields = {**message.fields, **{k: v for k, v in clean.items() if k != "subject"}}
        subject = clean.get("subject", message.subject)
        editors = list(message.editors) + ([actor.id] if actor.id not in message.editors else [])
        db.execute(
            "UPDATE messages SET subject = ?, fields = ?, recipients = ?, editors = ?,"
            " updated_at = ? WHERE id = ?",
            [subject, dumps(fields), dumps(ids), dumps(editors), iso(now), message_id],
        )
        audit.append(
            db,
            now,
            "message.edited",
            actor=actor.login,
            object_type="message",
            object_id=message_id,
            event_id=message.event_id,
            details={"fields": sorted(clean), "recipients": ids},
        )
    return _get(db, message_id)


def cbs_count(message: Message) -> cbs.CbsCount:
    """How the message's cell-broadcast text fits FR-Alert's pages."""
    return cbs.count(str(message.fields.get("cbs", "")))


def validate(
    db: sqlite_utils.Database,
    now: datetime,
    message_id: int,
    playbook: Playbook | None = None,
    *,
    actor: Actor,
    index: Any = None,
) -> Message:
    """A director validates a draft: its exact bytes and recipients are frozen from now on."""
    if not actor.roles & set(VALIDATE_ROLES):
        raise MessageError("Seul un directeur valide un message.", 403)
    message = _get(db, message_id)
    if message.status != DRAFT:
        raise MessageError(f"Le message est {message.status} : seul un brouillon se valide.", 409)
    if actor.id in message.editors:
        raise MessageError(
            "Vous avez rédigé ou modifié ce message : un autre directeur doit le valider.", 403
        )
    if not str(message.fields.get("headline", "")).strip():
        raise MessageError("Titre : valeur obligatoire.", field="headline")
    if message.kind == "cap":
        count = cbs_count(message)
        if not count.fits:
            raise MessageError("Texte de diffusion cellulaire : " + count.message(), field="cbs")
    event = _event(db, message.event_id)
    _check_template_for(event, message.template)
    facts = load_facts(db, now, event, playbook, index=index)
    with transaction(db):
        current = _get(db, message_id)
        if current.status != DRAFT or current.updated_at != message.updated_at:
            raise MessageError("Le message a changé pendant la validation : relisez-le.", 409)
        ids = _recipient_ids(db, message.kind, message.is_drill, message.recipient_ids)
        frozen = [get_partner(db, pid) for pid in ids]
        snapshot = [p.recipient().to_dict() for p in frozen if p is not None]
        rendered = _render(db, now, message, facts)
        digest = hashlib.sha256(rendered["body"]).hexdigest()
        db.execute(
            "INSERT INTO message_contents (message_id, created_at, msg_type, identifier, refs,"
            " sent, zones_version, level, media_type, filename, body, sha256, recipients)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                message_id,
                iso(now),
                rendered["msg_type"],
                rendered["identifier"],
                dumps(rendered["refs"]),
                rendered["sent"],
                rendered["zones_version"],
                rendered["level"],
                rendered["media_type"],
                rendered["filename"],
                rendered["body"],
                digest,
                dumps(snapshot),
            ],
        )
        db.execute(
            "UPDATE messages SET status = ?, validated_by = ?, validated_at = ?, updated_at = ?"
            " WHERE id = ?",
            [VALIDATED, actor.id, iso(now), iso(now), message_id],
        )
        audit.append(
            db,
            now,
            "message.validated",
            actor=actor.login,
            object_type="message",
            object_id=message_id,
            event_id=message.event_id,
            details={
                "kind": message.kind,
                "msg_type": rendered["msg_type"],
                "identifier": rendered["identifier"],
                "references": rendered["refs"],
                "sha256": digest,
                "size": len(rendered["body"]),
                "recipients": [r["email"] for r in snapshot],
            },
        )
    return _get(db, message_id)


def _check_chain(db: sqlite_utils.Database, message: Message) -> None:
    """A validated CAP or EMSI still fits the messages emitted since: else it must be redone."""
    c = message.content
    if c is None or message.kind == "report":
        return
    if message.kind == "cap":
        now_refs = _cap_references(cap_chain(db, message.event_id))
    else:
        now_refs = [
            m.content.identifier for m in emitted(db, message.event_id, "emsi") if m.content
        ]
    if list(c.references) != now_refs:
        raise MessageError(
            "Un autre message de ce type a été émis depuis la validation de celui-ci : "
            "annulez-le et préparez-en un nouveau.",
            409,
        )


def send(
    db: sqlite_utils.Database,
    now: datetime,
    message_id: int,
    *,
    actor: Actor,
    relay: mail.SmtpRelay | None = None,
) -> SendResult:
    """Emit a validated message and deliver it to its recipients.

    In one transaction: status émis, one delivery per recipient, the main-courante entry
    "message émis" and the audit record with the SHA-256 of the exact bytes. Then the SMTP
    deliveries (each result logged); with no relay configured every delivery is recorded as
    skipped and the send still succeeds.
    """
    if not actor.roles & set(SEND_ROLES):
        raise MessageError("Seuls la cellule et les directeurs émettent des messages.", 403)
    with transaction(db):
        message = _get(db, message_id)
        if message.status != VALIDATED or message.content is None:
            raise MessageError(
                f"Le message est {message.status} : seul un message validé s'émet.", 409
            )
        _check_chain(db, message)
        c = message.content
        db.execute(
            "UPDATE messages SET status = ?, emitted_by = ?, emitted_at = ?, updated_at = ?"
            " WHERE id = ?",
            [EMITTED, actor.id, iso(now), iso(now), message_id],
        )
        for n, r in enumerate(c.recipients, start=1):
            db.execute(
                "INSERT INTO message_deliveries (message_id, partner_id, organisation, role,"
                " email, mail_id, created_at) VALUES (?,?,?,?,?,?,?)",
                [
                    message_id,
                    r.partner_id,
                    r.organisation,
                    r.role,
                    r.email,
                    f"<{c.identifier}.{n}.{secrets.token_hex(6)}@{cap_module.TAG_AUTHORITY}>",
                    iso(now),
                ],
            )
        who = ", ".join(sorted({r.organisation for r in c.recipients})) or "aucun destinataire"
        kind = KIND_LABELS[message.kind] + (f" ({c.msg_type})" if c.msg_type else "")
        entry = events.append_log_entry(
            db,
            now,
            message.event_id,
            actor.id,
            actor.name,
            "message émis",
            f"{'EXERCICE — ' if message.is_drill else ''}Message émis n°{message.id} : {kind} "
            f"« {message.subject} », validé par {message.validated_by_name} à "
            f"{local(message.validated_at, '%H:%M')} ; "
            f"{fr.count(len(c.recipients), 'destinataire', 'destinataires')} : {who}."
            f" Empreinte SHA-256 : {c.sha256}.",
            is_system=True,
        )
        audit.append(
            db,
            now,
            "message.emitted",
            actor=actor.login,
            object_type="message",
            object_id=message_id,
            event_id=message.event_id,
            details={
                "kind": message.kind,
                "template": message.template,
                "msg_type": c.msg_type,
                "identifier": c.identifier,
                "references": list(c.references),
                "sha256": c.sha256,
                "size": c.size,
                "log_entry": entry,
                "recipients": [r.email for r in c.recipients],
            },
        )
    pending = mail.deliveries(db, message_id)
    if relay is None:
        done = mail.record_skipped(db, now, message_id, pending)
    else:
        done = mail.deliver(db, now, message_id, pending, relay)
    return SendResult(_get(db, message_id), tuple(done))


def cancel(
    db: sqlite_utils.Database,
    now: datetime,
    message_id: int,
    *,
    actor: Actor,
    reason: Any = "",
) -> Message:
    """Cancel (annuler) a draft or a validated message: its author or a director."""
    text = reason.strip() if isinstance(reason, str) else ""
    if len(text) > 1000:
        raise MessageError("Motif : au plus 1000 caractères.", field="reason")
    with transaction(db):
        message = _get(db, message_id)
        if message.status not in (DRAFT, VALIDATED):
            raise MessageError(
                f"Le message est {message.status} : il ne peut plus être annulé"
                + (
                    " (émettez une levée ou une mise à jour)." if message.status == EMITTED else "."
                ),
                409,
            )
        if actor.id != message.author_id and "director" not in actor.roles:
            raise MessageError("Seuls l'auteur du message ou un directeur l'annulent.", 403)
        db.execute(
            "UPDATE messages SET status = ?, cancelled_by = ?, cancelled_at = ?,"
            " cancel_reason = ?, updated_at = ? WHERE id = ?",
            [CANCELLED, actor.id, iso(now), text or None, iso(now), message_id],
        )
        audit.append(
            db,
            now,
            "message.cancelled",
            actor=actor.login,
            object_type="message",
            object_id=message_id,
            event_id=message.event_id,
            details={"from": message.status, "reason": text},
        )
    return _get(db, message_id)


def deliveries(db: sqlite_utils.Database, message_id: int) -> list[Delivery]:
    """The deliveries of a message with their state."""
    return mail.deliveries(db, message_id)
