"""Who downloads what of a stored report.

The body (``reports.pdf``) is shared with every reader of the event's reports: it carries
restricted data as counts only. The restricted annex follows the rules of every other read
(``access.read_document``): a grant valid at the moment of the download (or an agreement that
covers the reader's role for the event without approval), one access record per dataset it
holds. A report stored before the body/annex split that opened restricted data still holds the
detail in its body: that body is served under the annex's rule (no back door through old
documents).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlite_utils

from .. import access, auth
from ..db import row, rows
from ..records import Event
from .store import Report, ReportError, annex_pdf, report_pdf


def legacy_holdings(db: sqlite_utils.Database, report: Report) -> dict[str, list[str]]:
    """What the body of a report stored before the split holds in detail (empty: nothing)."""
    if report.has_annex:
        return {}
    found = row(
        db,
        "SELECT details FROM audit_log WHERE action = 'report.generated'"
        " AND object_type = 'report' AND object_id = ?",
        [str(report.id)],
    )
    opened = json.loads(found["details"]).get("opened") if found else None
    if not opened:
        return {}
    held: dict[str, list[str]] = {slug: [] for slug in opened}
    for r in rows(
        db,
        "SELECT details FROM audit_log WHERE action = 'data.read' AND event_id = ?"
        " AND json_extract(details, '$.request_id') = ?",
        [report.event_id, f"report:{report.event_id}:{report.number}"],
    ):
        d = json.loads(r["details"])
        if d.get("dataset") in held:
            held[d["dataset"]] = [str(i) for i in d.get("ids") or []]
    return held


def _document(report: Report, part: str) -> dict[str, Any]:
    return {"report": report.id, "number": report.number, "part": part}


def body_for(
    db: sqlite_utils.Database,
    now: datetime,
    user: auth.User,
    report: Report,
    event: Event,
    request_id: str,
) -> bytes:
    """The report's body for ``user`` (a reader of the event's reports)."""
    held = legacy_holdings(db, report)
    if held:
        access.read_document(
            db,
            now,
            user,
            event,
            held,
            request_id=request_id,
            document=_document(report, "document entier, antérieur à l'annexe"),
        )
    pdf = report_pdf(db, report.id)
    if pdf is None:
        raise ReportError("Ce point de situation n'existe pas.", 404)
    return pdf


def annex_for(
    db: sqlite_utils.Database,
    now: datetime,
    user: auth.User,
    report: Report,
    event: Event,
    request_id: str,
) -> bytes:
    """The report's restricted annex, under a grant valid now; recorded per dataset."""
    found = annex_pdf(db, report.id)
    if found is None:
        raise ReportError("Ce point de situation n'a pas d'annexe restreinte.", 404)
    pdf, holdings = found
    access.read_document(
        db, now, user, event, holdings, request_id=request_id,
        document=_document(report, "annexe restreinte"),
    )  # fmt: skip
    return pdf
