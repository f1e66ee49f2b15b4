"""Delivering emitted messages by e-mail through the configured SMTP relay, with retries.

One e-mail per recipient, carrying the message's exact bytes as its attachment (CAP XML, EMSI
XML or the situation report's PDF) and the same ``Message-ID`` at every attempt, so that a
recipient's mail system can drop a duplicate (delivery is at least once). Every attempt is an
append-only row of ``delivery_attempts`` with its audit record; each run writes one
main-courante entry per message saying who got it and what failed.

A failure is retried by the scheduler's sweep :func:`retry_due` after a growing delay
(:data:`BACKOFF_MIN`), up to :data:`MAX_ATTEMPTS` attempts, after which the delivery is
``abandoned`` (written in the main courante). With no relay configured nothing is sent: the
deliveries are recorded as ``skipped`` and never sent later (an alert arriving hours late would
mislead). Deliveries that a crash left without any attempt are picked up by the sweep too.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from .. import audit, events, fr
from ..access import get_checkpoint_delivery
from ..clock import iso, local, parse_iso
from ..db import rows, transaction
from .partners import list_partners
from .records import CHECKPOINT_KIND, Delivery, Message, MessageError
from .store import content, get_message

log = logging.getLogger(__name__)

BACKOFF_MIN: tuple[int, ...] = (1, 2, 5, 10, 20, 30)  # minutes after the 1st, 2nd… failure
MAX_ATTEMPTS = 20  # about 8 hours of retries
PENDING_GRACE = timedelta(minutes=2)  # a delivery with no attempt after this was interrupted
SYSTEM_AUTHOR = "Console de crise (envoi des messages)"
DRILL_MARK = "EXERCICE"


@dataclass(frozen=True)
class SmtpRelay:
    """The SMTP relay messages go through (``CRISIS_SMTP_*`` settings)."""

    host: str
    port: int
    sender: str
    user: str = ""
    password: str = ""
    starttls: bool = True
    timeout: float = 15.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SmtpRelay | None:
        """The relay from settings (``SMTP_HOST``… or ``CRISIS_SMTP_HOST``…); None when no host
        is configured. A host without a sender address, or an unreadable password file, is a
        configuration error (ValueError naming the setting)."""

        def get(name: str, default: Any = "") -> Any:
            for key in (f"CRISIS_{name}", name):
                if key in settings and settings[key] not in (None, ""):
                    return settings[key]
            return default

        host = str(get("SMTP_HOST")).strip()
        if not host:
            return None
        sender = str(get("SMTP_FROM")).strip()
        if not sender or "@" not in sender:
            raise ValueError("CRISIS_SMTP_FROM (adresse d'expédition) est requis avec un relais")
        try:
            port = int(get("SMTP_PORT", 587))
        except (TypeError, ValueError):
            raise ValueError("CRISIS_SMTP_PORT doit être un nombre entier") from None
        password = str(get("SMTP_PASSWORD"))
        password_file = str(get("SMTP_PASSWORD_FILE")).strip()
        if password_file:
            try:
                password = Path(password_file).read_text("utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"CRISIS_SMTP_PASSWORD_FILE illisible : {exc}") from None
        starttls = str(get("SMTP_STARTTLS", "1")).strip().lower() not in ("0", "false", "no")
        return cls(host, port, sender, str(get("SMTP_USER")).strip(), password, starttls)


# --- reading ------------------------------------------------------------------------------------

_DELIVERY_SQL = """
SELECT d.*, a.result AS result, a.error AS error, a.at AS last_attempt_at,
  a.next_attempt_at AS next_attempt_at,
  (SELECT COUNT(*) FROM delivery_attempts x WHERE x.delivery_id = d.id AND x.result != 'skipped')
    AS attempts
FROM message_deliveries d
LEFT JOIN delivery_attempts a
  ON a.id = (SELECT MAX(id) FROM delivery_attempts WHERE delivery_id = d.id)
"""


def _delivery(r: dict[str, Any]) -> Delivery:
    return Delivery(
        id=r["id"],
        message_id=r["message_id"],
        partner_id=r["partner_id"],
        organisation=r["organisation"],
        role=r["role"],
        email=r["email"],
        mail_id=r["mail_id"],
        created_at=r["created_at"],
        result=r["result"] or "pending",
        attempts=int(r["attempts"] or 0),
        error=r["error"] or "",
        last_attempt_at=r["last_attempt_at"],
        next_attempt_at=r["next_attempt_at"],
    )


def deliveries(db: sqlite_utils.Database, message_id: int) -> list[Delivery]:
    """A message's deliveries with their state (the latest attempt), in recipient order."""
    found = rows(db, _DELIVERY_SQL + " WHERE d.message_id = ? ORDER BY d.id", [message_id])
    return [_delivery(r) for r in found]


def due(db: sqlite_utils.Database, now: datetime) -> list[Delivery]:
    """Deliveries to try now: failed ones whose retry time has come, and interrupted ones."""
    found = rows(
        db,
        _DELIVERY_SQL + " WHERE (a.result = 'failed' AND a.next_attempt_at <= ?)"
        " OR (a.id IS NULL AND d.created_at <= ?) ORDER BY d.message_id, d.id",
        [iso(now), iso(now - PENDING_GRACE)],
    )
    return [_delivery(r) for r in found]


# --- composing ----------------------------------------------------------------------------------


def compose(
    message: Any, body: bytes, delivery: Delivery, relay: SmtpRelay, now: datetime
) -> EmailMessage:
    """The e-mail of one delivery: the message's text, its exact bytes attached."""
    c = message.content
    subject = message.subject
    text = str(message.fields.get("body", ""))
    if message.is_drill:
        if DRILL_MARK not in subject:
            subject = f"{DRILL_MARK} — {subject}"
        text = f"{DRILL_MARK} — {DRILL_MARK} — {DRILL_MARK}\n\n{text}"
    text += (
        f"\n--\nPièce jointe : {c.filename} ({c.size} octets, SHA-256 {c.sha256}).\n"
        f"Message n°{message.id} de la console de crise de Caux Seine Agglomération, validé par "
        f"{message.validated_by_name} le {local(message.validated_at)}.\n"
    )
    mail = EmailMessage(policy=policy.SMTP.clone(max_line_length=76))  # RFC 2045 QP lines
    mail["Subject"] = subject
    mail["From"] = relay.sender
    mail["To"] = delivery.email
    mail["Date"] = format_datetime(parse_iso(delivery.created_at))
    mail["Message-ID"] = delivery.mail_id
    mail["X-Crisis-Message"] = str(message.id)
    mail.set_content(text, cte="quoted-printable")
    maintype, _, subtype = c.media_type.partition("/")
    mail.add_attachment(body, maintype=maintype, subtype=subtype, filename=c.filename)
    return mail


# --- recording ----------------------------------------------------------------------------------


def _next_attempt(now: datetime, failures: int) -> datetime:
    delay = BACKOFF_MIN[min(failures, len(BACKOFF_MIN)) - 1]
    return now + timedelta(minutes=delay)


def _record(
    db: sqlite_utils.Database,
    now: datetime,
    message: Any,
    outcomes: Sequence[tuple[Delivery, str, str]],
    *,
    actor: str | None,
) -> None:
    """Write the attempts of one run (result, error) with their audit records and one
    main-courante entry for the message, in one transaction."""
    if not outcomes:
        return
    lines_ok: list[str] = []
    lines_failed: list[str] = []
    skipped = 0
    records: list[tuple[Delivery, str, str, str | None]] = []
    with transaction(db):
        for d, result, error in outcomes:
            next_at = None
            if result == "failed":
                failures = d.attempts + 1
                if failures >= MAX_ATTEMPTS:
                    result = "abandoned"
                else:
                    next_at = iso(_next_attempt(now, failures))
            db.execute(
                "INSERT INTO delivery_attempts (delivery_id, at, result, error, next_attempt_at)"
                " VALUES (?,?,?,?,?)",
                [d.id, iso(now), result, error[:1000], next_at],
            )
            records.append((d, result, error, next_at))
            who = f"{d.organisation} ({d.email})"
            if result == "sent":
                lines_ok.append(who)
            elif result == "skipped":
                skipped += 1
            elif result == "abandoned":
                lines_failed.append(f"{who} : {error} — abandon après {MAX_ATTEMPTS} essais")
            else:
                lines_failed.append(f"{who} : {error} — nouvel essai à {local(next_at, '%H:%M')}")
        parts = []
        if lines_ok:
            sent = fr.count(len(lines_ok), "destinataire", "destinataires")
            parts.append(f"remis au relais pour {sent} : " + ", ".join(lines_ok))
        if lines_failed:
            parts.append(f"échec pour {len(lines_failed)} : " + " ; ".join(lines_failed))
        if skipped:
            parts.append(
                f"non envoyé à {fr.count(skipped, 'destinataire', 'destinataires')} :"
                " relais SMTP non configuré, "
                "transmettez-le par un autre moyen"
            )
        events.append_log_entry(
            db,
            now,
            message.event_id,
            None,
            SYSTEM_AUTHOR,
            "message émis",
            f"{'EXERCICE — ' if message.is_drill else ''}Envoi du message n°{message.id} "
            f"« {message.subject} » : " + " ; ".join(parts) + ".",
            is_system=True,
        )
        # The records after the entry they account for: the first one seals it (app.audit).
        for d, result, error, next_at in records:
            audit.append(
                db,
                now,
                f"message.delivery_{result}",
                actor=actor,
                object_type="message_delivery",
                object_id=d.id,
                event_id=message.event_id,
                details={
                    "message": message.id,
                    "email": d.email,
                    "mail_id": d.mail_id,
                    "attempt": d.attempts + (0 if result == "skipped" else 1),
                    "error": error[:1000],
                    "next_attempt_at": next_at,
                },
            )


def _message(db: sqlite_utils.Database, message_id: int) -> Message:
    found = get_message(db, message_id)
    if found is None or found.content is None:
        raise MessageError("Message introuvable.", 404)
    return found


def record_skipped(
    db: sqlite_utils.Database, now: datetime, message_id: int, pending: Sequence[Delivery]
) -> list[Delivery]:
    """No relay configured: record each delivery as skipped (never retried)."""
    message = _message(db, message_id)
    _record(db, now, message, [(d, "skipped", "relais SMTP non configuré") for d in pending],
            actor=None)  # fmt: skip
    return deliveries(db, message_id)


def _smtp_error(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = exc.smtp_error.decode("utf-8", "replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)  # fmt: skip
        return f"refus du relais ({exc.smtp_code} {detail.strip()})"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "destinataire refusé par le relais : " + "; ".join(
            f"{code} {msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg}"
            for code, msg in exc.recipients.values()
        )
    if isinstance(exc, OSError):
        return f"relais injoignable ({exc.strerror or exc})"
    return f"erreur SMTP ({exc})"


def deliver(
    db: sqlite_utils.Database,
    now: datetime,
    message_id: int,
    pending: Sequence[Delivery],
    relay: SmtpRelay,
    *,
    actor: str | None = None,
) -> list[Delivery]:
    """Send the message to each pending delivery over one SMTP session; record every outcome."""
    if not pending:
        return deliveries(db, message_id)
    message = _message(db, message_id)
    found = content(db, message_id)
    assert found is not None
    body = found[1]
    outcomes: list[tuple[Delivery, str, str]] = []
    remaining = list(pending)
    try:
        with smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout) as smtp:
            if relay.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if relay.user:
                smtp.login(relay.user, relay.password)
            while remaining:
                d = remaining[0]
                mail = compose(message, body, d, relay, now)
                try:
                    smtp.send_message(mail, from_addr=relay.sender, to_addrs=[d.email])
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError,
                        smtplib.SMTPSenderRefused) as exc:  # fmt: skip
                    outcomes.append((d, "failed", _smtp_error(exc)))
                else:
                    outcomes.append((d, "sent", ""))
                remaining.pop(0)
    except (OSError, smtplib.SMTPException) as exc:
        error = _smtp_error(exc)
        log.warning("SMTP delivery of message %s failed: %s", message_id, error)
        outcomes.extend((d, "failed", error) for d in remaining)
    _record(db, now, message, outcomes, actor=actor)
    return deliveries(db, message_id)


def retry_due(
    db: sqlite_utils.Database, now: datetime, relay: SmtpRelay | None
) -> dict[int, list[Delivery]]:
    """The scheduler's sweep: retry every delivery that is due (idempotent). Returns the
    deliveries tried, by message. Nothing is tried while no relay is configured."""
    if relay is None:
        return {}
    by_message: dict[int, list[Delivery]] = {}
    for d in due(db, now):
        by_message.setdefault(d.message_id, []).append(d)
    out: dict[int, list[Delivery]] = {}
    for message_id, pending in by_message.items():
        ids = {d.id for d in pending}
        done = deliver(db, now, message_id, pending, relay, actor="scheduler")
        out[message_id] = [d for d in done if d.id in ids]
    return out


def retry_now(
    db: sqlite_utils.Database,
    now: datetime,
    message_id: int,
    relay: SmtpRelay | None,
    *,
    actor: str | None = None,
) -> list[Delivery]:
    """Retry at once the failed (not abandoned) deliveries of one message (a "Réessayer" button)."""
    if relay is None:
        raise MessageError("Aucun relais SMTP n'est configuré : rien ne peut être envoyé.", 409)
    pending = [d for d in deliveries(db, message_id) if d.result in ("failed", "pending")]
    if not pending:
        raise MessageError("Aucun envoi en échec à réessayer pour ce message.", 409)
    return deliver(db, now, message_id, pending, relay, actor=actor)


# --- signed checkpoints to the data owners -------------------------------------------------------


@dataclass(frozen=True)
class CheckpointMail:
    """One e-mail attempt of a checkpoint given to an owner."""

    delivery_id: int
    email: str
    result: str
    error: str = ""


def _checkpoint_recipients(db: sqlite_utils.Database, org_id: int) -> list[str]:
    """The addresses of a data owner for checkpoints: active real-operations entries of the
    directory that receive them and carry the organisation's name."""
    name = rows(db, "SELECT name FROM organisations WHERE id = ?", [org_id])
    if not name:
        return []
    wanted = " ".join(name[0]["name"].split()).casefold()
    return [
        p.email
        for p in list_partners(db, active_only=True)
        if p.receives(CHECKPOINT_KIND, False)
        and " ".join(p.organisation.split()).casefold() == wanted
    ]


def _checkpoint_mail(
    delivery: Any, email: str, mail_id: str, relay: SmtpRelay, created_at: str
) -> EmailMessage:
    cp = delivery.checkpoint
    mail = EmailMessage(policy=policy.SMTP.clone(max_line_length=76))
    mail["Subject"] = f"Point de contrôle signé n° {cp.seq} du journal d'audit — console de crise"
    mail["From"] = relay.sender
    mail["To"] = email
    mail["Date"] = format_datetime(parse_iso(created_at))
    mail["Message-ID"] = mail_id
    mail.set_content(
        "Vous recevez ce point de contrôle parce que le journal d'audit de la console de crise de"
        " Caux Seine Agglomération enregistre des accès à vos données.\n\n"
        f"Il atteste que le journal comptait {cp.seq} enregistrements, de tête {cp.hash}, le"
        f" {local(cp.signed_at)} (signature Ed25519, clé {cp.key_id}).\n\n"
        "Conservez la pièce jointe hors de la console. Pour vérifier plus tard que le journal n'a"
        " été ni coupé ni réécrit : crisis-console audit verify --checkpoint FICHIER.\n",
        cte="quoted-printable",
    )
    mail.add_attachment(
        delivery.body.encode(), maintype="application", subtype="json", filename=delivery.filename
    )
    return mail


def mail_checkpoints(
    db: sqlite_utils.Database, now: datetime, relay: SmtpRelay | None
) -> list[CheckpointMail]:
    """E-mail the checkpoints given to the owners (``access.deliver_to_owners``) to their
    directory entries, and retry the failed ones that are due (idempotent; the scheduler's
    sweep). With no relay each address is recorded as skipped, once."""
    todo: list[tuple[Any, str, str, int]] = []  # (delivery, email, mail id, failures)
    for d in rows(db, "SELECT id, org_id FROM checkpoint_deliveries ORDER BY id"):
        last = {
            r["email"]: r
            for r in rows(
                db,
                "SELECT email, mail_id, result, next_attempt_at,"
                " (SELECT count(*) FROM checkpoint_mails y WHERE y.delivery_id = x.delivery_id"
                "   AND y.email = x.email AND y.result = 'failed') AS failures"
                " FROM checkpoint_mails x WHERE delivery_id = ? ORDER BY id",
                [d["id"]],
            )
        }
        emails = list(last) or _checkpoint_recipients(db, d["org_id"])
        for email in emails:
            r = last.get(email)
            if r is None:
                tag = hashlib.sha256(email.encode()).hexdigest()[:12]
                todo.append((d["id"], email, f"<checkpoint-{d['id']}-{tag}@crisis-console>", 0))
            elif r["result"] == "failed" and relay is not None and r["next_attempt_at"] <= iso(now):
                todo.append((d["id"], email, r["mail_id"], int(r["failures"])))
    out: list[CheckpointMail] = []
    if not todo:
        return out
    deliveries_ = {i: get_checkpoint_delivery(db, i) for i in {t[0] for t in todo}}
    outcomes: list[tuple[int, str, str, str, int]] = []
    if relay is None:
        outcomes = [(i, e, m, "skipped", f) for i, e, m, f in todo]
    else:
        try:
            with smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout) as smtp:
                if relay.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if relay.user:
                    smtp.login(relay.user, relay.password)
                for i, email, mail_id, failures in todo:
                    mail = _checkpoint_mail(deliveries_[i], email, mail_id, relay, iso(now))
                    try:
                        smtp.send_message(mail, from_addr=relay.sender, to_addrs=[email])
                    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError,
                            smtplib.SMTPSenderRefused) as exc:  # fmt: skip
                        outcomes.append((i, email, mail_id, _smtp_error(exc), failures))
                    else:
                        outcomes.append((i, email, mail_id, "sent", failures))
        except (OSError, smtplib.SMTPException) as exc:
            done = {(o[0], o[1]) for o in outcomes}
            error = _smtp_error(exc)
            outcomes += [(i, e, m, error, f) for i, e, m, f in todo if (i, e) not in done]
    with transaction(db):
        for i, email, mail_id, result, failures in outcomes:
            error = ""
            next_at = None
            if result not in ("sent", "skipped"):
                error, result = result, "failed"
                if failures + 1 >= MAX_ATTEMPTS:
                    result = "abandoned"
                else:
                    next_at = iso(_next_attempt(now, failures + 1))
            db.execute(
                "INSERT INTO checkpoint_mails (delivery_id, email, mail_id, at, result, error,"
                " next_attempt_at) VALUES (?,?,?,?,?,?,?)",
                [i, email, mail_id, iso(now), result, error[:1000], next_at],
            )
            audit.append(
                db,
                now,
                f"audit.checkpoint_mail_{result}",
                actor="system",
                object_type="checkpoint_delivery",
                object_id=i,
                details={"email": email, "seq": deliveries_[i].seq, "error": error[:1000]},
            )
            out.append(CheckpointMail(i, email, result, error))
    return out
