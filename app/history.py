"""The past of an event: the situation as it stood at any time, and its timeline (issue 19).

Nothing is stored twice for it (DESIGN §12, "As at"): the situation at ``at`` is rebuilt from
the append-only records — the zones versions (``event_zones``, with their time), the audit
chain (the declaration's level and parameters, each level and parameter change, each version
of the director's synthesis, each checklist tick, undo and correction), the main courante
(entries *recorded* by then: what the console knew at that moment), the grants (opened before,
not yet ended or expired) and the response boards' histories (``app.pcs``, ``at=`` on each
reader). The reference data edited in place (the crisis directory, the register of means, the
catalogue's features) is today's: :data:`LIMITS` says so on every historical view.

:func:`timeline` is THE chronology of an event: the timeline page, its CSV export and the
drills' after-action report (its delays) all read it.

No Flask here: functions take the database, the time and the records their caller read.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from . import events, pcs
from .clock import PARIS, iso, local, parse_iso
from .db import rows
from .errors import DomainError
from .playbooks import Playbook
from .records import GRANT_SQL, Event, Grant, Zones, grant_from_row

# What a historical view cannot rebuild, said on screen, in the API and in an "as at" report.
LIMITS: tuple[str, ...] = (
    "Chiffres d'impact calculés sur les données actuelles du catalogue : les révisions des jeux"
    " de données ne gardent que leurs comptages, pas les objets d'alors.",
    "Annuaire de crise, registre des moyens et liste des centres d'accueil : référentiels"
    " actuels ; les états propres à l'événement (appels, centres, moyens, tâches) sont ceux"
    " d'alors.",
)
IMPACT_BASIS = "catalogue actuel"


class HistoryError(DomainError):
    """A refused "as at" request (HTTP 400 unless said), French message, field ``at``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message, status=status, field="at")

    def api_fields(self) -> dict[str, Any]:
        return {"field": "at"}


def parse_at(value: Any, event: Event, now: datetime) -> datetime:
    """The moment asked (``?at=``): ISO 8601, Paris time when it gives no offset; refused when
    unreadable, before the event was declared or in the future. A time within the minute of
    the declaration is the declaration itself (a datetime input has no seconds)."""
    if not isinstance(value, str) or not value.strip():
        raise HistoryError(
            "Indiquez le moment voulu (paramètre « at », date et heure ISO 8601, par exemple"
            " 2026-11-29T14:10)."
        )
    text = value.strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise HistoryError(
            f"Moment « {text[:40]} » illisible : attendu une date et heure ISO 8601, par exemple"
            " 2026-11-29T14:10 (heure de Paris) ou 2026-11-29T13:10:00Z."
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=PARIS)  # what the cell types is Paris time
    when = when.astimezone(UTC).replace(microsecond=0)
    declared = parse_iso(event.declared_at)
    if when < declared.replace(second=0):
        raise HistoryError(
            f"Le {local(when)} précède la déclaration de l'événement"
            f" ({local(declared)}) : il n'y a pas de situation à montrer."
        )
    if when > now:
        raise HistoryError(
            f"Le {local(when)} est dans le futur (il est {local(now, '%H:%M')}) : la situation"
            " à venir n'est pas connue."
        )
    return max(when, declared)


# --- the situation as at --------------------------------------------------------------------


@dataclass(frozen=True)
class ZonesVersion:
    """One stored zones version (for the quick choices of the selector and the timeline)."""

    version: int
    computed_at: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Situation:
    """An event as it stood at ``at``: read once, handed to the views, the API and reports."""

    at: datetime
    event: Event  # level, parameters, status, synthesis as they were
    zones: Zones | None  # the version in force
    versions: list[ZonesVersion]  # every version of the event (later ones too)
    checklist: list[events.ChecklistItem]
    log: list[events.LogEntry]  # recorded by then, in recording order
    grants: list[Grant]  # held at that time
    response: pcs.Summary
    synthesis_version: int = 0
    synthesis_entry_id: int | None = None
    limits: tuple[str, ...] = LIMITS

    @property
    def at_iso(self) -> str:
        return iso(self.at)

    @property
    def label(self) -> str:
        """``29/11/2026 14:10`` (Paris time), as the screen and the report title say it."""
        return local(self.at)


def zones_versions(db: sqlite_utils.Database, event_id: int) -> list[ZonesVersion]:
    """Every zones version of the event, oldest first."""
    return [
        ZonesVersion(r["version"], r["computed_at"], json.loads(r["params"]))
        for r in rows(
            db,
            "SELECT version, computed_at, params FROM event_zones WHERE event_id = ?"
            " ORDER BY version",
            [event_id],
        )
    ]


def zones_at(db: sqlite_utils.Database, event_id: int, at: datetime) -> Zones | None:
    """The zones version in force at ``at`` (the latest computed at or before it), or None."""
    found = rows(
        db,
        "SELECT * FROM event_zones WHERE event_id = ? AND computed_at <= ?"
        " ORDER BY version DESC LIMIT 1",
        [event_id, iso(at)],
    )
    if not found:
        return None
    r = found[0]
    return Zones(
        version=r["version"],
        computed_at=r["computed_at"],
        params=json.loads(r["params"]),
        geojson=json.loads(r["geojson"]),
    )


_EVENT_ACTIONS = (
    "event.declared",
    "event.level_changed",
    "event.params_changed",
    "event.synthesis_changed",
    "event.cadence_changed",
)


def event_at(
    db: sqlite_utils.Database, event: Event, at: datetime
) -> tuple[Event, int, int | None]:
    """The event as it stood at ``at`` (level, parameters, cadence, synthesis, open or closed)
    from its audit records; with the synthesis version and its main-courante entry."""
    marks = ",".join("?" * len(_EVENT_ACTIONS))
    records = rows(
        db,
        "SELECT a.at, a.action, a.details, COALESCE(u.name, a.actor) AS who FROM audit_log a"
        f" LEFT JOIN users u ON u.login = a.actor WHERE a.event_id = ? AND a.action IN ({marks})"
        " AND a.at <= ? ORDER BY a.seq",
        [event.id, *_EVENT_ACTIONS, iso(at)],
    )
    level, params, cadence = event.level, dict(event.params), event.report_cadence_min
    synthesis, synthesis_at, synthesis_by = "", None, ""
    version, entry_id = 0, None
    for r in records:
        d = json.loads(r["details"] or "{}")
        if r["action"] == "event.declared":
            level, params = d.get("level", level), dict(d.get("params") or params)
        elif r["action"] == "event.level_changed":
            level = d["to"]
        elif r["action"] == "event.params_changed":
            params.update(d.get("to") or {})
        elif r["action"] == "event.cadence_changed":
            cadence = d["to"]
        else:
            version, entry_id = int(d.get("version") or version + 1), d.get("log_entry")
            synthesis_at, synthesis_by = r["at"], r["who"] or ""
    if entry_id is not None:
        text = rows(db, "SELECT text FROM log_entries WHERE id = ?", [entry_id])
        synthesis = text[0]["text"].split("\n", 1)[-1] if text else ""
    closed = event.closed_at is not None and event.closed_at <= iso(at)
    then = replace(
        event,
        level=level,
        params=params,
        report_cadence_min=cadence,
        status="closed" if closed else "open",
        closed_at=event.closed_at if closed else None,
        closed_by=event.closed_by if closed else None,
        closing_statement=event.closing_statement if closed else None,
        synthesis=synthesis,
        synthesis_at=synthesis_at,
        synthesis_by_name=synthesis_by,
    )
    return then, version, entry_id


def checklist_at(
    db: sqlite_utils.Database, event_id: int, at: datetime
) -> list[events.ChecklistItem]:
    """The checklist as it stood: each item's ticks, undos and corrections recorded by then."""
    state: dict[int, dict[str, Any]] = {}
    for r in rows(
        db,
        "SELECT a.at, a.action, a.object_id, a.details, u.id AS uid, u.name AS uname"
        " FROM audit_log a LEFT JOIN users u ON u.login = a.actor WHERE a.event_id = ?"
        " AND a.object_type = 'checklist_item' AND a.at <= ? ORDER BY a.seq",
        [event_id, iso(at)],
    ):
        d = json.loads(r["details"] or "{}")
        item_id = int(r["object_id"])
        if r["action"] == "checklist.item_done":
            state[item_id] = {
                "done_by": r["uid"],
                "done_by_name": r["uname"],
                "done_at": d.get("done_at") or r["at"],
                "note": d.get("note") or None,
            }
        elif r["action"] == "checklist.item_undone":
            state.pop(item_id, None)
        elif r["action"] == "checklist.item_corrected" and item_id in state:
            to = d.get("to") or {}
            state[item_id] = {
                **state[item_id],
                "done_at": to.get("done_at") or state[item_id]["done_at"],
                "note": to.get("note") or None,
            }
    blank = {"done_by": None, "done_by_name": None, "done_at": None, "note": None}
    return [replace(i, **state.get(i.id, blank)) for i in events.checklist(db, event_id)]


def log_at(db: sqlite_utils.Database, event_id: int, at: datetime) -> list[events.LogEntry]:
    """The main courante as it was known at ``at``: entries recorded by then, each marked
    corrected only by a correction recorded by then."""
    moment = iso(at)
    known = [e for e in events.log_entries(db, event_id) if e.recorded_at <= moment]
    corrected: dict[int, int] = {}
    for e in known:
        if e.corrects_id is not None:
            corrected[e.corrects_id] = max(e.id, corrected.get(e.corrects_id, 0))
    return [replace(e, corrected_by=corrected.get(e.id)) for e in known]


def grants_held_at(db: sqlite_utils.Database, event_id: int, at: datetime) -> list[Grant]:
    """The break-glass grants held at ``at``: opened before, not yet ended, revoked or expired."""
    moment = iso(at)
    found = rows(
        db,
        GRANT_SQL + " WHERE g.event_id = ? AND g.activated_at IS NOT NULL"
        " AND g.activated_at <= ? ORDER BY g.activated_at, g.id",
        [event_id, moment],
    )
    return [
        g
        for g in map(grant_from_row, found)
        if (g.ended_at is None or g.ended_at > moment)
        and (g.expires_at is None or g.expires_at > moment)
    ]


def situation_at(
    db: sqlite_utils.Database, event: Event, at: datetime, playbook: Playbook | None = None
) -> Situation:
    """Everything a historical view shows of ``event`` at ``at`` (see the module's doc)."""
    then, version, entry_id = event_at(db, event, at)
    return Situation(
        at=at,
        event=then,
        zones=zones_at(db, event.id, at),
        versions=zones_versions(db, event.id),
        checklist=checklist_at(db, event.id, at),
        log=log_at(db, event.id, at),
        grants=grants_held_at(db, event.id, at),
        response=pcs.summarise(db, at, then, playbook, at=iso(at)),
        synthesis_version=version,
        synthesis_entry_id=entry_id,
    )


# --- the timeline ---------------------------------------------------------------------------

KINDS: dict[str, str] = {
    "main_courante": "Main courante",
    "niveau": "Niveau",
    "parametres": "Paramètres",
    "zones": "Zones",
    "acces": "Accès (bris de glace)",
    "message": "Messages émis",
    "inject": "Injects",
    "reponse": "Réponses aux injects",
    "rapport": "Points de situation",
}
# The system entries app.events writes for a level or a parameter change (events.change_level,
# change_params, declare): the timeline files them under their kind, not twice.
LEVEL_TEXTS = ("Élévation du niveau", "Abaissement du niveau")
PARAMS_TEXTS = ("Changement de paramètres", "Paramètres initiaux")


@dataclass(frozen=True)
class TimelineItem:
    """One line of the chronology: when it happened, when it was recorded, its kind, what, who."""

    at: str
    recorded_at: str
    kind: str
    text: str
    author: str = ""
    ref: str = ""  # log:12, zones:2, grant-opened:3, grant-ended:3, report:4, report-as-at:5
    detail: str = ""  # the log entry's category
    corrected: bool = False

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, self.kind)


def _log_kind(entry: events.LogEntry, acks: set[int]) -> str:
    if entry.is_inject:
        return "inject"
    if entry.id in acks:
        return "reponse"
    if entry.category == "message émis":
        return "message"
    text = entry.text.removeprefix("EXERCICE — ")
    if entry.is_system and text.startswith(LEVEL_TEXTS):
        return "niveau"
    if entry.is_system and text.startswith(PARAMS_TEXTS):
        return "parametres"
    return "main_courante"


def _zones_text(v: ZonesVersion, playbook: Playbook | None) -> str:
    shown = " ; ".join(
        f"{label} : {value}"
        for label, value in events.describe_params(
            playbook, {k: x for k, x in v.params.items() if x is not None}
        )
    )
    return f"Zones version {v.version} calculées" + (f" ({shown})" if shown else "")


def _report_rows(db: sqlite_utils.Database, event_id: int) -> list[dict[str, Any]]:
    return rows(
        db,
        "SELECT id, number, trigger, generated_at, author, as_at FROM reports"
        " WHERE event_id = ? ORDER BY generated_at, number",
        [event_id],
    )


def timeline(
    db: sqlite_utils.Database,
    now: datetime | None,
    event: Event,
    *,
    playbook: Playbook | None = None,
    kinds: Iterable[str] | None = None,
) -> list[TimelineItem]:
    """The event's chronology, oldest first: main-courante entries (by the time of the fact),
    level and parameter changes, zones versions, grants opened and ended, messages emitted,
    injects and the responses to them, situation reports. ``kinds``: only these (keys of
    :data:`KINDS`). ``now``: a grant past its expiry that no sweep has ended yet is shown
    expired at its expiry (None: only the ends stored)."""
    wanted = set(KINDS) if kinds is None else set(kinds) & set(KINDS)
    items: list[tuple[str, int, int, TimelineItem]] = []
    if wanted - {"zones", "acces", "rapport"}:
        acks = {
            r["ack_log_entry_id"]
            for r in rows(
                db,
                "SELECT ack_log_entry_id FROM drill_injects WHERE event_id = ?"
                " AND ack_log_entry_id IS NOT NULL",
                [event.id],
            )
        }
        for e in events.log_entries(db, event.id):
            kind = _log_kind(e, acks)
            if kind in wanted:
                item = TimelineItem(
                    e.fact_at,
                    e.recorded_at,
                    kind,
                    e.text,
                    e.author_name,
                    f"log:{e.id}",
                    events.CATEGORY_LABELS.get(e.category, e.category),
                    e.corrected_by is not None,
                )
                items.append((e.fact_at, 0, e.id, item))
    if "zones" in wanted:
        for v in zones_versions(db, event.id):
            item = TimelineItem(
                v.computed_at, v.computed_at, "zones", _zones_text(v, playbook), "",
                f"zones:{v.version}",
            )  # fmt: skip
            items.append((v.computed_at, 1, v.version, item))
    if "acces" in wanted:
        for g in map(
            grant_from_row, rows(db, GRANT_SQL + " WHERE g.event_id = ? ORDER BY g.id", [event.id])
        ):
            if g.activated_at is None:
                continue
            text = (
                f"Accès ouvert : « {g.dataset_title} » pour {g.user_name} jusqu'à"
                f" {local(g.expires_at, '%H:%M')} (convention {g.agreement_key}"
                f" v{g.agreement_version})"
            )
            opened = TimelineItem(
                g.activated_at, g.activated_at, "acces", text, g.user_name,
                f"grant-opened:{g.id}",
            )  # fmt: skip
            items.append((g.activated_at, 2, g.id, opened))
            ended_at, status = g.ended_at, g.status
            if (
                ended_at is None
                and now is not None
                and g.expires_at is not None
                and g.expires_at <= iso(now)
            ):
                ended_at, status = g.expires_at, "expired"  # no sweep ran yet: the clock decides
            if ended_at is None:
                continue
            verb = {"revoked": "révoqué", "expired": "expiré"}.get(status, "fermé")
            reason = f" — {g.end_reason}" if g.end_reason else ""
            ended = TimelineItem(
                ended_at, ended_at, "acces",
                f"Accès {verb} : « {g.dataset_title} » de {g.user_name}{reason}",
                g.ended_by_name or "", f"grant-ended:{g.id}",
            )  # fmt: skip
            items.append((ended_at, 2, g.id, ended))
    if "rapport" in wanted:
        for r in _report_rows(db, event.id):
            how = "programmé" if r["trigger"] == "schedule" else "à la demande"
            text = f"Point de situation n°{r['number']} ({how})"
            ref = f"report:{r['id']}"
            if r["as_at"]:
                text = f"Point de situation n°{r['number']} reconstitué au {local(r['as_at'])}"
                ref = f"report-as-at:{r['id']}"
            item = TimelineItem(
                r["generated_at"], r["generated_at"], "rapport", text, r["author"], ref
            )
            items.append((r["generated_at"], 3, r["id"], item))
    items.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in items]


# --- CSV export -----------------------------------------------------------------------------

CSV_HEADER = ("Heure du fait", "Enregistré à", "Type", "Catégorie", "Texte", "Auteur", "Référence")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A cell a spreadsheet will not run: one starting with = + - @ (or a tab, a carriage
    return) is prefixed with an apostrophe (OWASP, CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def timeline_csv(items: Iterable[TimelineItem]) -> bytes:
    """The timeline for Excel FR: UTF-8 with a BOM, ``;`` between cells, Paris times."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for item in items:
        writer.writerow(
            csv_cell(v)
            for v in (
                local(item.at, "%d/%m/%Y %H:%M:%S"),
                local(item.recorded_at, "%d/%m/%Y %H:%M:%S"),
                item.kind_label,
                item.detail,
                item.text,
                item.author,
                item.ref,
            )
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")
