"""What the messages package stores and returns: small frozen records, the error, the rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import DomainError

KINDS: tuple[str, ...] = ("cap", "emsi", "report")
KIND_LABELS: dict[str, str] = {
    "cap": "Alerte CAP",
    "emsi": "Message EMSI",
    "report": "Point de situation (PDF)",
    "checkpoint": "Points de contrôle du journal d'audit",
}
# What a directory entry may receive: the messages, and (for a data owner, matched by the
# organisation's name) the signed checkpoints of the audit log (``mail.mail_checkpoints``).
CHECKPOINT_KIND = "checkpoint"
PARTNER_KINDS: tuple[str, ...] = (*KINDS, CHECKPOINT_KIND)
STATUSES: tuple[str, ...] = ("brouillon", "validé", "émis", "annulé")
DRAFT, VALIDATED, EMITTED, CANCELLED = STATUSES

# Who may do what (the web layer's @allow rules use these).
READ_ROLES: tuple[str, ...] = ("director", "cell", "liaison", "exercise")  # as events
DRAFT_ROLES: tuple[str, ...] = ("director", "cell")
VALIDATE_ROLES: tuple[str, ...] = ("director",)
SEND_ROLES: tuple[str, ...] = ("director", "cell")
PARTNER_READ_ROLES: tuple[str, ...] = ("director", "cell", "liaison", "admin")
PARTNER_MANAGE_ROLES: tuple[str, ...] = ("director", "admin")

DELIVERY_RESULTS: tuple[str, ...] = ("sent", "failed", "skipped", "abandoned")
DELIVERY_LABELS: dict[str, str] = {
    "pending": "en attente",
    "sent": "remis au relais",
    "failed": "échec, nouvel essai prévu",
    "skipped": "non envoyé (relais SMTP non configuré)",
    "abandoned": "échec définitif",
}


class MessageError(DomainError):
    """A refused message operation, with a French message, its HTTP status and the field."""

    def __init__(self, message: str, status: int = 422, field: str | None = None) -> None:
        super().__init__(message, status=status, field=field)

    def api_fields(self) -> dict[str, Any]:
        return {"field": self.field} if self.field else {}


@dataclass(frozen=True)
class Recipient:
    """One addressee of a message, as frozen at validation (a copy of the directory entry)."""

    partner_id: int | None
    organisation: str
    role: str
    email: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "partner_id": self.partner_id,
            "organisation": self.organisation,
            "role": self.role,
            "email": self.email,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipient:
        return cls(d.get("partner_id"), str(d["organisation"]), str(d["role"]), str(d["email"]))


@dataclass(frozen=True)
class Partner:
    """An entry of the partner directory (COD, SDIS, SAMU, mayors, operators…)."""

    id: int
    organisation: str
    role: str
    email: str
    kinds: tuple[str, ...]
    drill_only: bool
    active: bool
    created_at: str
    updated_at: str
    source: str = ""  # "synthetic" for the demo directory

    def receives(self, kind: str, drill: bool) -> bool:
        """Whether this partner gets a message of this kind from a real event or a drill."""
        return self.active and kind in self.kinds and self.drill_only == drill

    def recipient(self) -> Recipient:
        return Recipient(self.id, self.organisation, self.role, self.email)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "organisation": self.organisation,
            "role": self.role,
            "email": self.email,
            "kinds": list(self.kinds),
            "drill_only": self.drill_only,
            "active": self.active,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "source": self.source,
        }


@dataclass(frozen=True)
class Content:
    """The exact bytes of a message, frozen at validation (append-only)."""

    message_id: int
    created_at: str
    msg_type: str | None  # CAP Alert/Update/Cancel, EMSI ALERT/UPDATE/CANCEL, None for a report
    identifier: str  # CAP identifier, EMSI CONTEXT/ID, or the report's file stem
    references: tuple[str, ...]  # CAP "sender,identifier,sent" triplets, or earlier EMSI ids
    sent: str  # CAP <sent>, EMSI <CREATION>, or the report's time, as written in the bytes
    zones_version: int | None
    level: int
    media_type: str
    filename: str
    sha256: str
    size: int
    recipients: tuple[Recipient, ...]


@dataclass(frozen=True)
class Message:
    """One outgoing message and where it stands."""

    id: int
    event_id: int
    kind: str
    template: str
    status: str
    is_drill: bool
    subject: str
    fields: dict[str, Any]
    recipient_ids: tuple[int, ...]  # chosen while a draft (frozen copies live in ``content``)
    report_id: int | None
    author_id: int
    author_name: str
    editors: tuple[int, ...]
    created_at: str
    updated_at: str
    validated_by: int | None
    validated_by_name: str | None
    validated_at: str | None
    emitted_by: int | None
    emitted_by_name: str | None
    emitted_at: str | None
    cancelled_by: int | None
    cancelled_at: str | None
    cancel_reason: str | None
    content: Content | None = None

    @property
    def msg_type(self) -> str | None:
        return self.content.msg_type if self.content else None

    @property
    def references(self) -> tuple[str, ...]:
        return self.content.references if self.content else ()

    def to_dict(self) -> dict[str, Any]:
        """The message as the JSON API shows it (without the bytes)."""
        c = self.content
        return {
            "id": self.id,
            "event_id": self.event_id,
            "kind": self.kind,
            "template": self.template,
            "status": self.status,
            "drill": self.is_drill,
            "subject": self.subject,
            "fields": dict(self.fields),
            "author": self.author_name,
            "created_at": self.created_at,
            "validated_by": self.validated_by_name,
            "validated_at": self.validated_at,
            "emitted_by": self.emitted_by_name,
            "emitted_at": self.emitted_at,
            "cancelled_at": self.cancelled_at,
            "cancel_reason": self.cancel_reason,
            "report_id": self.report_id,
            "msg_type": c.msg_type if c else None,
            "references": list(c.references) if c else [],
            "identifier": c.identifier if c else None,
            "sha256": c.sha256 if c else None,
            "media_type": c.media_type if c else None,
            "filename": c.filename if c else None,
            "recipients": [r.to_dict() for r in c.recipients] if c else None,
            "recipient_ids": list(self.recipient_ids),
        }


@dataclass(frozen=True)
class Delivery:
    """One message to one recipient, with its attempts (the latest gives its state)."""

    id: int
    message_id: int
    partner_id: int | None
    organisation: str
    role: str
    email: str
    mail_id: str
    created_at: str
    result: str  # pending | sent | failed | skipped | abandoned
    attempts: int  # SMTP attempts made (skipped is not an attempt)
    error: str
    last_attempt_at: str | None
    next_attempt_at: str | None

    @property
    def label(self) -> str:
        return DELIVERY_LABELS.get(self.result, self.result)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "message_id": self.message_id,
            "organisation": self.organisation,
            "role": self.role,
            "email": self.email,
            "result": self.result,
            "attempts": self.attempts,
            "error": self.error,
            "last_attempt_at": self.last_attempt_at,
            "next_attempt_at": self.next_attempt_at,
        }


@dataclass(frozen=True)
class SendResult:
    """What a send (or a retry run) did."""

    message: Message
    deliveries: tuple[Delivery, ...] = field(default_factory=tuple)

    @property
    def skipped(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if d.result == "skipped")

    @property
    def failed(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if d.result in ("failed", "abandoned"))

    @property
    def sent(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if d.result == "sent")

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.message.to_dict(),
            "deliveries": [d.to_dict() for d in self.deliveries],
            "skipped": [d.to_dict() for d in self.skipped],
        }
