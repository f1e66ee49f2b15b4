"""Gathering a situation report: everything it shows, read at one moment into a
:class:`ReportContext` (the event, impact figures, map, log since the previous report,
checklist, grants in force, audit head); rendering reads nothing else."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlite_utils
from reportlab.graphics.shapes import Drawing

from .. import access, audit, events, history, index_cache, pcs, situation
from ..clock import iso, local
from ..db import row, rows, scalar
from ..geo.render import render_map
from ..records import Zones

log = logging.getLogger(__name__)


TRIGGERS = ("schedule", "manual")
TRIGGER_LABELS = {"schedule": "programmé", "manual": "à la demande"}
RESTRICTED = "DIFFUSION RESTREINTE"
UNRESTRICTED = "NON PROTÉGÉ"


@dataclass
class ReportContext:
    """Everything one report shows, read at one moment; rendering reads nothing else."""

    event: events.Event
    number: int
    generated_at: datetime
    author: str
    trigger: str
    playbook_title: str = ""
    due_at: datetime | None = None
    previous_at: str | None = None  # generated_at of the previous report
    params: list[tuple[str, str]] = field(default_factory=list)
    impact: dict[str, Any] | None = None  # Impact.to_json()
    impact_error: str = ""
    map: Drawing | None = None  # a render_map() drawing
    map_restricted: bool = False
    log: list[events.LogEntry] = field(default_factory=list)  # since the previous report
    decisions: list[events.LogEntry] = field(default_factory=list)  # all, oldest first
    checklist: list[events.ChecklistItem] = field(default_factory=list)
    grants: list[dict[str, Any]] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)  # restricted datasets listed in full
    audit_seq: int = 0
    audit_hash: str = audit.GENESIS
    checkpoint: dict[str, Any] | None = None
    next_report_at: datetime | None = None
    dataset_titles: dict[str, str] = field(default_factory=dict)
    response: pcs.Summary | None = None  # call-out, calls, centres, means, tasks: counts only
    # Restricted data entered the event before this report (a grant was active, or an earlier
    # report was DIFFUSION RESTREINTE): the marking never goes down from one report to the next.
    restricted_before: bool = False
    zones_version: int | None = None
    zones_computed_at: str | None = None
    synthesis_version: int = 0
    synthesis_entry_id: int | None = None
    # The restricted annex (issue 20): the body above gives restricted data as counts only; the
    # detail of what the author's grants opened (features read, the full impact, the map with
    # the opened layers) goes to a separate stored PDF, downloaded only under a valid grant.
    opened_features: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    annex_impact: dict[str, Any] | None = None
    annex_map: Drawing | None = None
    # A report regenerated "as at" a past time (issue 19): ``generated_at`` is then that moment
    # (every "now" of the report is the situation's), ``reconstituted_at`` when it was made.
    reconstituted_at: datetime | None = None
    limits: tuple[str, ...] = ()

    @property
    def as_at(self) -> datetime | None:
        """The moment an "as at" report shows (None for a report of its own time)."""
        return self.generated_at if self.reconstituted_at is not None else None

    @property
    def restricted(self) -> bool:
        return bool(self.opened or self.map_restricted or self.grants or self.restricted_before)

    @property
    def classification_note(self) -> str:
        """Why a report that opens nothing restricted itself is still DIFFUSION RESTREINTE."""
        if self.restricted_before and not (self.opened or self.map_restricted or self.grants):
            return (
                "maintenue : des données restreintes sont entrées dans cet événement"
                " (un point de situation n'est jamais moins protégé que le précédent)"
            )
        return ""

    @property
    def classification(self) -> str:
        return RESTRICTED if self.restricted else UNRESTRICTED

    @property
    def holdings(self) -> dict[str, list[str]]:
        """What the annex holds: dataset slug -> ids of the features read (empty: no annex)."""
        return {
            slug: [str(f.get("id")) for f in feats]
            for slug, feats in sorted(self.opened_features.items())
        }


def counts_only(impact: dict[str, Any], opened: Any) -> dict[str, Any]:
    """The impact JSON without the items of the ``opened`` restricted datasets (their counts,
    lengths and types stay): what a report's body may share."""
    out = copy.deepcopy(impact)
    for zone in [*out.get("zones", []), out.get("outer") or {}]:
        for group in (*zone.get("networks", []), *zone.get("other", [])):
            if group.get("dataset") in opened:
                group.pop("items", None)
        est = zone.get("establishments") or {}
        if est.get("items"):
            est["items"] = [i for i in est["items"] if i.get("dataset") not in opened]
    return out


MAP_WIDTH = 515.0  # A4 portrait frame width at 40 pt margins
MAP_HEIGHT = 400.0


def next_number(db: sqlite_utils.Database, event_id: int) -> int:
    """The number the event's next report takes."""
    return (
        int(scalar(db, "SELECT MAX(number) FROM reports WHERE event_id = ?", [event_id]) or 0) + 1
    )


def restricted_entered(
    db: sqlite_utils.Database, event_id: int, before_number: int | None = None
) -> bool:
    """Whether restricted data entered the event: a grant on it was ever active, or one of its
    reports (before ``before_number``) is DIFFUSION RESTREINTE. The one rule for the reports'
    marking and the messages' classification (EMSI SECLASS)."""
    granted = scalar(
        db,
        "SELECT 1 FROM grants WHERE event_id = ? AND activated_at IS NOT NULL LIMIT 1",
        [event_id],
    )
    classified = scalar(
        db,
        "SELECT 1 FROM reports WHERE event_id = ? AND classification = ? AND number < ? LIMIT 1",
        [event_id, RESTRICTED, before_number if before_number is not None else 2**62],
    )
    return bool(granted or classified)


def grants_in_force(
    db: sqlite_utils.Database, now: datetime, event_id: int, held: list[Any] | None = None
) -> list[dict[str, Any]]:
    """Who holds which restricted dataset right now, until when (valid grants only); ``held``:
    the grants to show instead (those held at a past moment, ``history.grants_held_at``)."""
    found = access.holders(db, now, event_id) if held is None else held
    return [
        {
            "user": g.user_name,
            "dataset": g.dataset_title,
            "slug": g.dataset_slug,
            "sensitivity": g.sensitivity,
            "since": g.activated_at,
            "until": g.expires_at,
            "agreement": f"{g.agreement_key} v{g.agreement_version}",
        }
        for g in sorted(found, key=lambda g: (g.user_name, g.id))
    ]


def _open_for_report(
    db: sqlite_utils.Database,
    now: datetime,
    event: events.Event,
    zones: Zones | None,
    reader: Any,
    number: int,
) -> dict[str, list[dict[str, Any]]]:
    """Restricted datasets the author may open in this report, with the features read.

    Each read goes through ``app.access.read_features`` (purpose ``report``): it is recorded.
    """
    if reader is None:
        return {}
    opened: dict[str, list[dict[str, Any]]] = {}
    for g in access.holders(db, now, event.id):
        if g.user_id != reader.id or g.sensitivity != "restricted" or g.dataset_slug in opened:
            continue
        try:
            features, _ = access.read_features(
                db,
                now,
                reader,
                event.id,
                g.dataset_slug,
                "report",
                f"report:{event.id}:{number}",
                event=event,
                zones=zones,
            )
        except access.AccessError:
            continue
        opened[g.dataset_slug] = features
    return opened


def gather(
    db: sqlite_utils.Database,
    now: datetime,
    event: events.Event,
    *,
    number: int,
    author: str,
    trigger: str = "manual",
    reader: Any = None,
    due_at: datetime | None = None,
    playbook: Any = None,
    with_map: bool = True,
    index: Any = None,
    past: history.Situation | None = None,
) -> ReportContext:
    """Read everything report ``number`` of the event shows, as of ``now``.

    ``reader`` (an ``auth.User``) is the author of a manual report: the restricted datasets they
    hold a valid grant for are opened (and the reads recorded); None for a scheduled report.
    ``past``: the situation at an earlier moment (``history.situation_at``), for a report
    regenerated "as at" then: everything comes from it, restricted layers are counts only.
    """
    event_id = event.id
    reconstituted_at = None
    if past is not None:
        reconstituted_at, now, event = now, past.at, past.event
    previous = row(
        db,
        "SELECT generated_at FROM reports WHERE event_id = ? AND number < ? AND as_at IS NULL"
        " AND generated_at <= ? ORDER BY number DESC LIMIT 1",
        [event_id, number, iso(now)],
    )
    previous_at = previous["generated_at"] if previous else None
    entries = past.log if past is not None else events.log_entries(db, event_id)
    since = [e for e in entries if previous_at is None or e.recorded_at >= previous_at]
    decisions = [e for e in entries if e.category == "décision"]
    # read once, passed to every part below
    zones = past.zones if past is not None else events.latest_zones(db, event_id)
    opened = {} if past is not None else _open_for_report(db, now, event, zones, reader, number)
    ctx = ReportContext(
        event=event,
        number=number,
        generated_at=now,
        reconstituted_at=reconstituted_at,
        limits=past.limits if past is not None else (),
        author=author,
        trigger=trigger,
        playbook_title=getattr(playbook, "title", "") or "",
        due_at=due_at,
        previous_at=previous_at,
        params=events.describe_params(playbook, event.params),
        log=since,
        decisions=decisions,
        checklist=past.checklist if past is not None else events.checklist(db, event_id),
        grants=grants_in_force(db, now, event_id, past.grants if past is not None else None),
        opened=sorted(opened),
        next_report_at=events.next_report_at(event, now),
        dataset_titles={
            r["slug"]: r["title"] for r in rows(db, "SELECT slug, title FROM datasets")
        },
    )
    ctx.response = past.response if past is not None else pcs.summarise(db, now, event, playbook)
    ctx.restricted_before = restricted_entered(db, event_id, number)
    if past is not None:
        ctx.synthesis_version, ctx.synthesis_entry_id = (
            past.synthesis_version,
            past.synthesis_entry_id,
        )
    elif event.synthesis:
        found = row(
            db,
            "SELECT synthesis_entry_id AS entry, (SELECT COUNT(*) FROM audit_log WHERE"
            " action = 'event.synthesis_changed' AND event_id = ?) AS version FROM events"
            " WHERE id = ?",
            [event_id, event_id],
        )
        if found:
            ctx.synthesis_version = int(found["version"] or 0)
            ctx.synthesis_entry_id = found["entry"]
    ctx.audit_seq, ctx.audit_hash = audit.head(db)
    ctx.checkpoint = audit.last_checkpoint(db)
    if index is None:
        index = index_cache.index_for(db)
    impact_obj = None
    if zones is not None:
        ctx.zones_version, ctx.zones_computed_at = zones["version"], zones["computed_at"]
    ctx.opened_features = opened
    try:
        if zones is not None:
            impact_obj = situation.event_impact(db, index, event, zones, frozenset(opened))
            full = impact_obj.to_json()
            ctx.impact = counts_only(full, opened) if opened else full
            ctx.annex_impact = full if opened else None
    except Exception as exc:  # a report without figures beats no report in a crisis
        log.exception("impact of event %s failed", event_id)
        ctx.impact_error = f"Analyse d'impact indisponible : {exc}"
    if with_map and zones is not None and zones["geojson"].get("features"):
        # The body's map draws no restricted layer; the annex's draws what the grants opened.
        for layers in ({}, opened) if opened else ({},):
            try:
                spec = situation.event_map_spec(
                    db,
                    index,
                    event,
                    zones,
                    open_layers=layers,
                    impact=impact_obj,
                    time_label=local(now),
                )
                drawing = render_map(spec, MAP_WIDTH, MAP_HEIGHT)
            except Exception:
                log.exception("map of event %s failed", event_id)
                continue
            if layers:
                ctx.annex_map = drawing
            else:
                ctx.map = drawing
                ctx.map_restricted = spec.is_restricted
    return ctx
