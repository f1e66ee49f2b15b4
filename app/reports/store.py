"""Storing reports: numbering, the immutable ``reports`` rows and their audit records, reading
them back, ``issue`` (generate and sign a checkpoint) and the report cadence."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from .. import audit, events, history, numbers
from ..clock import iso, local
from ..db import row, rows, scalar, transaction
from ..errors import DomainError
from ..geo.index import SpatialIndex
from ..playbooks import Playbook
from .annex_layout import render_annex
from .gathering import TRIGGER_LABELS, TRIGGERS, gather, next_number
from .layout import render_report

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Report:
    """One stored report (the PDF is fetched separately: :func:`report_pdf`)."""

    id: int
    event_id: int
    number: int
    trigger: str
    generated_at: str
    due_at: str | None
    author: str
    sha256: str
    size: int
    audit_seq: int
    audit_hash: str
    classification: str
    # The restricted annex stored with the report (None: the report opened nothing restricted).
    annex_sha256: str | None = None
    annex_size: int | None = None
    as_at: str | None = None  # the past moment a reconstituted report shows

    @property
    def has_annex(self) -> bool:
        return self.annex_sha256 is not None

    @property
    def annex_filename(self) -> str:
        return f"PS{self.number:02d}-evenement-{self.event_id}-annexe-restreinte.pdf"

    @property
    def trigger_label(self) -> str:
        if self.as_at:
            return f"reconstitué au {local(self.as_at)}"
        return TRIGGER_LABELS.get(self.trigger, self.trigger)

    @property
    def filename(self) -> str:
        if self.as_at:
            moment = local(self.as_at, "%Y%m%d-%H%M")
            return f"PS{self.number:02d}-au-{moment}-evenement-{self.event_id}.pdf"
        return f"PS{self.number:02d}-evenement-{self.event_id}.pdf"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "number": self.number,
            "trigger": self.trigger,
            "generated_at": self.generated_at,
            "due_at": self.due_at,
            "author": self.author,
            "sha256": self.sha256,
            "size": self.size,
            "audit_seq": self.audit_seq,
            "audit_hash": self.audit_hash,
            "classification": self.classification,
            "annex_sha256": self.annex_sha256,
            "annex_size": self.annex_size,
            "as_at": self.as_at,
        }


class ReportError(DomainError):
    """A refused report operation, with a French message."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message, status=status)


_REPORT_COLUMNS = (
    "r.id, r.event_id, r.number, r.trigger, r.generated_at, r.due_at, r.author, r.sha256,"
    " length(r.pdf) AS size, r.audit_seq, r.audit_hash, r.classification, r.as_at,"
    " a.sha256 AS annex_sha256, length(a.pdf) AS annex_size"
)
_REPORT_FROM = " FROM reports r LEFT JOIN report_annexes a ON a.report_id = r.id"
# What an annex row's seal covers in the audit record of its report (``audit.seal``).
ANNEX_FIELDS = ("report_id", "pdf", "sha256", "holdings")


def _report(r: dict[str, Any]) -> Report:
    return Report(**{k: r[k] for k in Report.__dataclass_fields__})


def list_reports(db: sqlite_utils.Database, event_id: int) -> list[Report]:
    """The event's reports, newest first."""
    return [
        _report(r)
        for r in rows(
            db,
            f"SELECT {_REPORT_COLUMNS}{_REPORT_FROM} WHERE r.event_id = ? ORDER BY r.number DESC",
            [event_id],
        )
    ]


def latest_report(db: sqlite_utils.Database, event_id: int) -> Report | None:
    """The event's latest report of its own time (a reconstituted one is not "the latest
    situation": the tablet and the report messages never take it)."""
    return next((r for r in list_reports(db, event_id) if r.as_at is None), None)


def get_report(db: sqlite_utils.Database, report_id: int) -> Report | None:
    r = row(db, f"SELECT {_REPORT_COLUMNS}{_REPORT_FROM} WHERE r.id = ?", [report_id])
    return _report(r) if r else None


def report_pdf(db: sqlite_utils.Database, report_id: int) -> bytes | None:
    """The stored PDF bytes of a report's body (restricted data as counts only; the annex is
    apart: :func:`annex_pdf`, downloaded through ``app.reports.downloads``)."""
    found = scalar(db, "SELECT pdf FROM reports WHERE id = ?", [report_id])
    return bytes(found) if found is not None else None


def annex_pdf(
    db: sqlite_utils.Database, report_id: int
) -> tuple[bytes, dict[str, list[str]]] | None:
    """The stored restricted annex of a report and what it holds (slug -> feature ids)."""
    found = row(db, "SELECT pdf, holdings FROM report_annexes WHERE report_id = ?", [report_id])
    if found is None:
        return None
    return bytes(found["pdf"]), json.loads(found["holdings"])


def _slot_done(db: sqlite_utils.Database, event_id: int, due_at: str) -> bool:
    return bool(
        scalar(
            db,
            "SELECT 1 FROM reports WHERE event_id = ? AND trigger = 'schedule' AND due_at >= ?",
            [event_id, due_at],
        )
    )


def generate(
    db: sqlite_utils.Database,
    now: datetime,
    event: events.Event,
    *,
    trigger: str = "manual",
    author: str,
    actor: str | None = None,
    reader: Any = None,
    due_at: datetime | None = None,
    playbook: Any = None,
    index: Any = None,
    attempts: int = 3,
    past: history.Situation | None = None,
) -> Report | None:
    """Build, number and store one report; write its audit record. Returns it.

    For a scheduled report (``due_at`` given) returns None when that slot was already produced,
    e.g. by another scheduler process. The number is checked again in the storing transaction and
    the UNIQUE constraint is the final guard; on a lost race a manual report is rebuilt with the
    next number.
    """
    import sqlite3

    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    event_id = event.id
    due = iso(due_at) if due_at is not None else None
    for _ in range(attempts):
        if due is not None and _slot_done(db, event_id, due):
            return None
        number = next_number(db, event_id)
        ctx = gather(
            db,
            now,
            event,
            number=number,
            author=author,
            trigger=trigger,
            reader=reader,
            due_at=due_at,
            playbook=playbook,
            index=index,
            past=past,
        )
        pdf = render_report(ctx)
        digest = hashlib.sha256(pdf).hexdigest()
        holdings = ctx.holdings
        annex = render_annex(ctx, digest) if holdings else None
        annex_digest = hashlib.sha256(annex).hexdigest() if annex is not None else None
        try:
            with transaction(db):
                if due is not None and _slot_done(db, event_id, due):
                    return None
                if next_number(db, event_id) != number:
                    continue  # someone stored this number meanwhile: rebuild with the next one
                cur = db.execute(
                    "INSERT INTO reports (event_id, number, trigger, generated_at, due_at, author,"
                    " pdf, sha256, audit_seq, audit_hash, classification, as_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    [
                        event_id,
                        number,
                        trigger,
                        iso(now),
                        due,
                        author,
                        pdf,
                        digest,
                        ctx.audit_seq,
                        ctx.audit_hash,
                        ctx.classification,
                        past.at_iso if past is not None else None,
                    ],
                )
                report_id = int(cur.lastrowid or 0)
                extra: dict[str, Any] = {}
                if annex is not None:
                    db.execute(
                        "INSERT INTO report_annexes (report_id, pdf, sha256, holdings)"
                        " VALUES (?,?,?,?)",
                        [report_id, annex, annex_digest, json.dumps(holdings)],
                    )
                    label = f"annexe restreinte du PS n°{number} de l'événement {event_id}"
                    extra = {
                        "annex_sha256": annex_digest,
                        "annex_size": len(annex),
                        "annex_counts": {k: len(v) for k, v in holdings.items()},
                        "seals": [
                            audit.seal(
                                db, "report_annexes", report_id, ANNEX_FIELDS, label,
                                key="report_id",
                            )
                        ],
                    }  # fmt: skip
                audit.append(
                    db,
                    now,
                    "report.generated",
                    actor=actor,
                    object_type="report",
                    object_id=report_id,
                    event_id=event_id,
                    details={
                        "number": number,
                        "trigger": trigger,
                        "due_at": due,
                        "sha256": digest,
                        "size": len(pdf),
                        "classification": ctx.classification,
                        "audit_seq": ctx.audit_seq,
                        "opened": ctx.opened,
                        **({"as_at": past.at_iso} if past is not None else {}),
                    }
                    | extra,
                )
        except sqlite3.IntegrityError:
            log.info("report %s of event %s stored by another process", number, event_id)
            continue
        found = get_report(db, report_id)
        assert found is not None
        return found
    if due is not None and _slot_done(db, event_id, due):
        return None
    raise ReportError("Numérotation du point de situation disputée : réessayez.", 409)


def issue(
    db: sqlite_utils.Database,
    now: datetime,
    event: events.Event,
    signer: audit.Signer | None,
    *,
    trigger: str = "manual",
    author: str,
    actor: str | None = None,
    reader: Any = None,
    due_at: datetime | None = None,
    playbook: Playbook | None = None,
    index: SpatialIndex | None = None,
    past: history.Situation | None = None,
) -> Report | None:
    """Generate, number and store a report (:func:`generate`), then sign a checkpoint witnessing
    it (``report:<event>:<number>``), for the web page, the CLI and the scheduler alike
    (``past``: regenerated as at that situation's moment).

    ``signer`` None: no checkpoint here (the scheduler's checkpoint sweep signs once after all
    the reports of its run).
    """
    report = generate(
        db,
        now,
        event,
        trigger=trigger,
        author=author,
        actor=actor,
        reader=reader,
        due_at=due_at,
        playbook=playbook,
        index=index,
        past=past,
    )
    if report is not None and signer is not None:
        signer.sign(db, now, f"report:{event.id}:{report.number}")
    return report


def set_cadence(
    db: sqlite_utils.Database, now: datetime, event_id: int, minutes: Any, *, actor: Any
) -> events.Event:
    """Change the event's report cadence (minutes, 5 to 1440); logged and audited.

    The schedule stays anchored on the declaration: the next report is due at the first
    ``declared_at + k × cadence`` after the last scheduled one.
    """
    try:
        value = numbers.number(minutes, "Cadence (minutes)", integer=True)
    except numbers.NumberError:
        raise ReportError("La cadence doit être un nombre entier de minutes.") from None
    if not 5 <= value <= 24 * 60:
        raise ReportError("La cadence doit être comprise entre 5 et 1440 minutes.")
    with transaction(db):
        event = events.get_event(db, event_id)
        if event is None:
            raise ReportError("Événement introuvable.", 404)
        if not event.is_open:
            raise ReportError("L'événement est clos : sa cadence ne change plus.", 409)
        if event.report_cadence_min == value:
            raise ReportError(f"La cadence est déjà de {value} minutes.")
        db.execute("UPDATE events SET report_cadence_min = ? WHERE id = ?", [value, event_id])
        events.add_log(
            db,
            now,
            event_id,
            actor=actor,
            category="décision",
            text=f"Cadence des points de situation : {event.report_cadence_min} → {value} min.",
        )
        audit.append(
            db,
            now,
            "event.cadence_changed",
            actor=actor.login,
            object_type="event",
            object_id=event_id,
            event_id=event_id,
            details={"from": event.report_cadence_min, "to": value},
        )
    found = events.get_event(db, event_id)
    assert found is not None
    return found
