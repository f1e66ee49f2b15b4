"""The after-action report (RETEX) of a drill: delays measured, injects against acknowledgements,
checklist against due times, the timeline; read from the event's one chronology
(``history.timeline``), never guessed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlite_utils

from .. import events, history
from ..access import list_grants
from ..clock import parse_iso
from ..db import rows
from ..playbooks import Scenario
from ..records import STATUS_LABELS
from .play import Drill, _drill_event, inject_rows, latest_casualties


def _minutes(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((parse_iso(end) - parse_iso(start)).total_seconds() / 60, 1)


@dataclass(frozen=True)
class Delay:
    """One measured delay of the debriefing (minutes, None when the second step never came)."""

    label: str
    start_at: str | None
    end_at: str | None
    minutes: float | None


@dataclass(frozen=True)
class ChecklistReview:
    """A checklist item against its due time."""

    title: str
    role: str
    due_at: str
    done_at: str | None
    done_by: str | None
    late: bool
    gap_min: float | None  # done − due: > 0 late, ≤ 0 on time; None when not done
    status: str  # à l'heure | en retard | non réalisé | non échu


@dataclass(frozen=True)
class InjectReview:
    """An inject against its expected action."""

    id: str
    title: str
    kind: str
    to_role: str
    sender: str
    expected_action: str
    offset_min: int
    backup_for: str | None
    outcome: str  # fired | skipped | not_played
    fired_at: str | None
    fired_by: str | None
    acknowledged_at: str | None
    acknowledged_by: str | None
    response_min: float | None


TimelineItem = history.TimelineItem  # one line of the chronology (kind: history.KINDS)


@dataclass(frozen=True)
class AfterAction:
    """Everything the debriefing needs, computed from what happened."""

    event: events.Event
    drill: Drill
    scenario_title: str
    scenario_description: str
    first_grant_at: str | None
    first_report_at: str | None
    delays: list[Delay]
    checklist: list[ChecklistReview]
    injects: list[InjectReview]
    grants: list[dict[str, Any]]
    reports: list[TimelineItem]  # the situation reports of the drill's time
    timeline: list[TimelineItem]
    casualties: dict[str, Any] | None
    closed_at: str | None = None
    notes: list[str] = field(default_factory=list)

    def delay(self, label_start: str) -> Delay | None:
        """The delay whose label starts with ``label_start``."""
        return next((d for d in self.delays if d.label.startswith(label_start)), None)


def _grants(db: sqlite_utils.Database, event_id: int, now: datetime | None) -> list[dict[str, Any]]:
    """The drill's grants; ``state`` is the French status as it stands at ``now`` (from the
    clock, not from the last sweep)."""
    found = {
        g.id: g.effective_status(now) if now is not None else g.status
        for g in list_grants(db, event_id=event_id)
    }
    out = rows(
        db,
        "SELECT g.id, g.status, g.requested_at, g.activated_at, g.expires_at, g.ended_at,"
        " g.reason_code, g.justification, g.duration_min, u.name AS user_name,"
        " d.slug AS dataset_slug, d.title AS dataset_title, d.sensitivity,"
        " a.agreement_key, a.version AS agreement_version, a.drills_allowed"
        " FROM grants g JOIN users u ON u.id = g.user_id JOIN datasets d ON d.id = g.dataset_id"
        " JOIN agreements a ON a.id = g.agreement_id WHERE g.event_id = ?"
        " ORDER BY g.requested_at, g.id",
        [event_id],
    )
    for g in out:
        g["status"] = found.get(g["id"], g["status"])
        g["state"] = STATUS_LABELS.get(g["status"], g["status"])
    return out


def after_action(
    db: sqlite_utils.Database,
    event_id: int,
    scenario: Scenario | None,
    now: datetime | None = None,
) -> AfterAction:
    """The after-action report of a drill: timeline, delays, checklist, injects, grants.

    ``scenario`` is the drill's scenario from the library (None when it is gone: the report
    then says so and does not detail the injects); grant states are as at ``now``."""
    event, drill = _drill_event(db, event_id)
    notes: list[str] = []
    if scenario is None:
        notes.append(f"Scénario « {drill.scenario_id} » introuvable : injects non détaillés.")
    declared = event.declared_at
    end_at = drill.ended_at or event.closed_at

    grants = _grants(db, event_id, now)
    # The delays are measured on the event's chronology (the timeline page and its CSV show the
    # same lines): the first grant opened, the first report of its time (not a reconstitution).
    timeline = history.timeline(db, now, event)
    opened = [t for t in timeline if t.ref.startswith("grant-opened:")]
    reports = [t for t in timeline if t.ref.startswith("report:")]
    first_grant = opened[0].at if opened else None
    first_report = reports[0].at if reports else None
    delays = [
        Delay(
            "Déclaration → premier accès ouvert (bris de glace)",
            declared,
            first_grant,
            _minutes(declared, first_grant),
        ),
        Delay(
            "Déclaration → premier point de situation",
            declared,
            first_report,
            _minutes(declared, first_report),
        ),
        Delay(
            "Premier accès ouvert → premier point de situation",
            first_grant,
            first_report,
            _minutes(first_grant, first_report),
        ),
    ]

    checklist: list[ChecklistReview] = []
    for item in events.checklist(db, event_id):
        gap = _minutes(item.due_at, item.done_at)
        if item.done_at:
            late = item.done_at > item.due_at
            status = "en retard" if late else "à l'heure"
        elif end_at and end_at > item.due_at:
            late, status = True, "non réalisé"
            gap = None
        else:
            late, status = False, "non échu"
        checklist.append(
            ChecklistReview(
                title=item.title,
                role=item.role,
                due_at=item.due_at,
                done_at=item.done_at,
                done_by=item.done_by_name,
                late=late,
                gap_min=gap,
                status=status,
            )
        )

    decided = inject_rows(db, event_id)
    injects: list[InjectReview] = []
    for inject in scenario.injects if scenario else ():
        r = decided.get(inject.id)
        outcome = r["outcome"] if r else "not_played"
        injects.append(
            InjectReview(
                id=inject.id,
                title=inject.title,
                kind=inject.kind,
                to_role=inject.to_role,
                sender=inject.sender,
                expected_action=inject.expected_action,
                offset_min=inject.offset_min,
                backup_for=inject.backup_for,
                outcome=outcome,
                fired_at=r["fired_at"] if r and outcome == "fired" else None,
                fired_by=r["fired_by"] if r else None,
                acknowledged_at=r["acknowledged_at"] if r else None,
                acknowledged_by=(r["acknowledged_by_name"] or None) if r else None,
                response_min=_minutes(r["fired_at"], r["acknowledged_at"]) if r else None,
            )
        )

    return AfterAction(
        event=event,
        drill=drill,
        scenario_title=scenario.title if scenario else drill.scenario_id,
        scenario_description=scenario.description if scenario else "",
        first_grant_at=first_grant,
        first_report_at=first_report,
        delays=delays,
        checklist=checklist,
        injects=injects,
        grants=grants,
        reports=reports,
        timeline=timeline,
        casualties=latest_casualties(db, event_id),
        closed_at=event.closed_at,
        notes=notes,
    )


def format_minutes(minutes: float | None) -> str:
    """``12 min``, ``1 h 05``, ``+5 min`` style French durations; ``—`` for none."""
    if minutes is None:
        return "—"
    sign = "-" if minutes < 0 else ""
    total = abs(minutes)
    whole = int(total)
    seconds = round((total - whole) * 60)
    if total >= 60:
        return f"{sign}{whole // 60} h {whole % 60:02d}"
    if seconds and whole < 10:
        return f"{sign}{whole} min {seconds:02d} s"
    return f"{sign}{round(total)} min"
