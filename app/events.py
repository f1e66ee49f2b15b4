"""Events, the main courante (chronological log) and the checklist: running a crisis.

An event is declared from a playbook at a site (a feature of ``seveso-sites``) or at a point of
the territory. Every change (declaration, level, parameters, closure, a log entry, a checklist
item done) writes its main-courante entry and its audit record in one transaction. A closed
event is read-only. Log entries are append-only: a correction is a new entry that points at the
corrected one (``corrects_id``); the database refuses UPDATE and DELETE on ``log_entries``.

Who may do what is declared here once (``READ_ROLES`` …) and used by the web layer's rules.

This module never imports Flask: functions take the database and ``now``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlite_utils

from . import access, audit, fr, idempotency, numbers
from .clock import PARIS, iso, local, parse_iso
from .db import dumps, row, rows, scalar, transaction
from .errors import DomainError
from .playbooks import EVENT_LEVEL_MAX, EVENT_LEVEL_MIN, Playbook
from .records import EVENT_SQL, event_from_row, insert_log_entry
from .records import Event as Event  # re-exported: events.Event, events.get_event, …
from .records import Zones as Zones
from .records import get_event as get_event
from .records import latest_zones as latest_zones

log = logging.getLogger(__name__)

# --- who may do what (the web layer's @allow rules use these) --------------------------------
# The admin (IT) reads no event (separation of duties); stewards only review access to their data.
READ_ROLES: tuple[str, ...] = ("director", "cell", "liaison", "exercise")
DECLARE_ROLES: tuple[str, ...] = ("director", "cell")
COMMAND_ROLES: tuple[str, ...] = ("director",)  # level, closure
PARAMS_ROLES: tuple[str, ...] = ("director", "cell")  # a wind shift is observed by the cell
LOG_ROLES: tuple[str, ...] = ("director", "cell", "liaison")
# Liaison officers may tick the items owned by the liaison role only (checked by tick_item).
CHECKLIST_ROLES: tuple[str, ...] = ("director", "cell", "liaison")

CATEGORIES: tuple[str, ...] = ("information", "décision", "action", "message reçu", "message émis")
CATEGORY_LABELS: dict[str, str] = {
    "information": "Information",
    "décision": "Décision",
    "action": "Action",
    "message reçu": "Message reçu",
    "message émis": "Message émis",
}
SITES_DATASET = "seveso-sites"
# Rough bounding box of Caux Seine Agglomération (lon_min, lat_min, lon_max, lat_max), WGS84.
TERRITORY_BBOX: tuple[float, float, float, float] = (0.3, 49.35, 1.0, 49.75)
FUTURE_TOLERANCE = timedelta(minutes=5)  # clocks of field tablets drift
PAST_LIMIT = timedelta(hours=24)  # a fact may predate the declaration, not by days
TITLE_MAX = 200
TEXT_MAX = 4000


class EventError(DomainError):
    """A refused event operation, with a French message and the name of the field at fault."""

    def __init__(self, message: str, field: str | None = None, status: int = 422) -> None:
        super().__init__(message, status=status, field=field)

    def api_fields(self) -> dict[str, Any]:
        return {"field": self.field}  # the events API always names the field (null if none)


class Actor(Protocol):
    """Who does it (an ``auth.User``)."""

    id: int
    login: str
    name: str
    roles: frozenset[str]


@dataclass(frozen=True)
class LogEntry:
    """One main-courante entry."""

    id: int
    event_id: int
    fact_at: str
    recorded_at: str
    author_id: int | None
    author_name: str
    category: str
    text: str
    corrects_id: int | None
    is_inject: bool
    is_system: bool
    corrected_by: int | None = None  # id of the latest entry correcting this one

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "fact_at": self.fact_at,
            "recorded_at": self.recorded_at,
            "author": self.author_name,
            "category": self.category,
            "text": self.text,
            "corrects": self.corrects_id,
            "corrected_by": self.corrected_by,
            "system": self.is_system,
            "inject": self.is_inject,
        }


@dataclass(frozen=True)
class ChecklistItem:
    """One checklist item of an event."""

    id: int
    event_id: int
    item_key: str
    position: int
    title: str
    role: str
    due_at: str
    done_by: int | None
    done_by_name: str | None
    done_at: str | None
    note: str | None

    @property
    def done(self) -> bool:
        return self.done_at is not None

    def late(self, now: datetime) -> bool:
        """Not done and past its due time."""
        return not self.done and parse_iso(self.due_at) < now

    def done_late(self) -> bool:
        return self.done_at is not None and self.done_at > self.due_at

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.item_key,
            "title": self.title,
            "role": self.role,
            "due_at": self.due_at,
            "done": self.done,
            "done_by": self.done_by_name,
            "done_at": self.done_at,
            "note": self.note,
            "late": self.late(now),
        }


# --- playbooks and datasets -------------------------------------------------------------------


# --- sites --------------------------------------------------------------------------------------


def _site_from_row(r: dict[str, Any]) -> dict[str, Any]:
    props = json.loads(r["properties"])
    geometry = json.loads(r["geometry"])
    lon, lat = geometry["coordinates"][:2]
    return {
        "fid": r["fid"],
        "name": props.get("name") or r["fid"],
        "commune": props.get("commune") or "",
        "lon": float(lon),
        "lat": float(lat),
        "effects": props.get("effects") or None,
    }


_SITE_SQL = (
    "SELECT f.fid, f.geometry, f.properties FROM features f JOIN datasets d ON d.id = f.dataset_id"
    " WHERE d.slug = ?"
)


def get_site(db: sqlite_utils.Database, fid: str) -> dict[str, Any] | None:
    """A plant of ``seveso-sites``: fid, name, commune, lon, lat, effects (or None)."""
    r = row(db, _SITE_SQL + " AND f.fid = ?", [SITES_DATASET, fid])
    return _site_from_row(r) if r else None


def list_sites(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every plant of ``seveso-sites``, by name."""
    found = [_site_from_row(r) for r in rows(db, _SITE_SQL, [SITES_DATASET])]
    return sorted(found, key=lambda s: (s["fid"] != "FICTIF-1", s["name"]))


COMMUNES_DATASET = "communes"


def list_communes(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """The territory's communes (``communes``), each with a point inside it: where an event
    without a site is declared when its exact position is not known yet."""
    from .geo import proj

    found = []
    for r in rows(db, _SITE_SQL, [COMMUNES_DATASET]):
        props = json.loads(r["properties"])
        inside = proj.geojson_to_shape(json.loads(r["geometry"])).representative_point()
        found.append(
            {
                "insee": str(props.get("insee") or r["fid"]),
                "name": str(props.get("name") or r["fid"]),
                "lon": round(float(inside.x), 6),
                "lat": round(float(inside.y), 6),
            }
        )
    return sorted(found, key=lambda c: c["name"])


def get_commune(db: sqlite_utils.Database, insee: str) -> dict[str, Any] | None:
    """One commune of :func:`list_communes` by its INSEE code, or None."""
    return next((c for c in list_communes(db) if c["insee"] == str(insee)), None)


def commune_at(db: sqlite_utils.Database, lon: float, lat: float) -> str | None:
    """The name of the commune a point lies in, or None (outside, or no communes loaded)."""
    from shapely.geometry import Point

    from .geo import proj

    here = Point(lon, lat)
    for r in rows(db, _SITE_SQL, [COMMUNES_DATASET]):
        if proj.geojson_to_shape(json.loads(r["geometry"])).covers(here):
            return str(json.loads(r["properties"]).get("name") or r["fid"])
    return None


def check_point(point: Any) -> tuple[float, float]:
    """A [lon, lat] pair inside the territory's rough bounding box, else EventError."""
    if (
        not isinstance(point, list | tuple)
        or len(point) != 2
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in point)
    ):
        raise EventError("Le point doit être [longitude, latitude] en degrés décimaux.", "point")
    try:
        lon = float(numbers.number(point[0], "Longitude", field="point"))
        lat = float(numbers.number(point[1], "Latitude", field="point"))
    except numbers.NumberError as exc:
        raise EventError(exc.message, "point") from None
    lon_min, lat_min, lon_max, lat_max = TERRITORY_BBOX
    if not (lon_min <= lon <= lon_max and lat_min <= lat <= lat_max):
        raise EventError(
            f"Le point ({lon:g}, {lat:g}) est hors du territoire de Caux Seine "
            f"(longitude {lon_min:g} à {lon_max:g}, latitude {lat_min:g} à {lat_max:g}).",
            "point",
        )
    return lon, lat


# --- reading ------------------------------------------------------------------------------------


def list_events(db: sqlite_utils.Database, status: str | None = None) -> list[Event]:
    """Events, open ones first, then the most recent."""
    if status is not None:
        found = rows(db, EVENT_SQL + " WHERE e.status = ? ORDER BY e.id DESC", [status])
    else:
        found = rows(db, EVENT_SQL + " ORDER BY e.status = 'closed', e.id DESC")
    return [event_from_row(r) for r in found]


def _entry(r: dict[str, Any]) -> LogEntry:
    return LogEntry(
        id=r["id"],
        event_id=r["event_id"],
        fact_at=r["fact_at"],
        recorded_at=r["recorded_at"],
        author_id=r["author_id"],
        author_name=r["author_name"],
        category=r["category"],
        text=r["text"],
        corrects_id=r["corrects_id"],
        is_inject=bool(r["is_inject"]),
        is_system=bool(r["is_system"]),
        corrected_by=r.get("corrected_by"),
    )


def log_entries(
    db: sqlite_utils.Database,
    event_id: int,
    *,
    since: int = 0,
    before: int | None = None,
    category: str | None = None,
    author: str | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[LogEntry]:
    """The event's log in recording order (ids), filtered; ``since`` gives entries after an id."""
    sql = (
        "SELECT l.*, (SELECT MAX(c.id) FROM log_entries c WHERE c.corrects_id = l.id)"
        " AS corrected_by FROM log_entries l WHERE l.event_id = ? AND l.id > ?"
    )
    params: list[Any] = [event_id, since]
    if before is not None:
        sql += " AND l.id < ?"
        params.append(before)
    if category:
        sql += " AND l.category = ?"
        params.append(category)
    if author:
        sql += " AND l.author_name = ?"
        params.append(author)
    sql += " ORDER BY l.id DESC" if newest_first else " ORDER BY l.id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [_entry(r) for r in rows(db, sql, params)]


def log_authors(db: sqlite_utils.Database, event_id: int) -> list[str]:
    """Names of the people who wrote in the event's log (for the author filter)."""
    return [
        r["author_name"]
        for r in rows(
            db,
            "SELECT DISTINCT author_name FROM log_entries WHERE event_id = ? ORDER BY author_name",
            [event_id],
        )
    ]


def last_log_id(db: sqlite_utils.Database, event_id: int) -> int:
    """The id of the event's newest log entry (0 when none)."""
    return int(scalar(db, "SELECT MAX(id) FROM log_entries WHERE event_id = ?", [event_id]) or 0)


def checklist(db: sqlite_utils.Database, event_id: int) -> list[ChecklistItem]:
    """The event's checklist in playbook order."""
    found = rows(
        db,
        "SELECT c.*, u.name AS done_by_name FROM checklist_items c"
        " LEFT JOIN users u ON u.id = c.done_by WHERE c.event_id = ? ORDER BY c.position",
        [event_id],
    )
    return [
        ChecklistItem(
            id=r["id"],
            event_id=r["event_id"],
            item_key=r["item_key"],
            position=r["position"],
            title=r["title"],
            role=r["role"],
            due_at=r["due_at"],
            done_by=r["done_by"],
            done_by_name=r["done_by_name"],
            done_at=r["done_at"],
            note=r["note"],
        )
        for r in found
    ]


def upcoming(items: Iterable[ChecklistItem], limit: int = 5) -> list[ChecklistItem]:
    """The next items to do, most urgent (or most late) first."""
    todo = [item for item in items if not item.done]
    return sorted(todo, key=lambda item: (item.due_at, item.position))[:limit]


def next_report_at(event: Event, now: datetime) -> datetime | None:
    """The next point de situation: declared_at + k × cadence, the first one after now."""
    if not event.is_open or event.report_cadence_min <= 0:
        return None
    start = parse_iso(event.declared_at)
    cadence = timedelta(minutes=event.report_cadence_min)
    if now < start:
        return start + cadence
    k = int((now - start) / cadence) + 1
    return start + k * cadence


def zones_summary(db: sqlite_utils.Database, event_id: int) -> dict[str, Any] | None:
    """The current zones' version, time and parameters, without their geometry (cheap)."""
    r = row(
        db,
        "SELECT version, computed_at, params FROM event_zones WHERE event_id = ?"
        " ORDER BY version DESC LIMIT 1",
        [event_id],
    )
    if r is None:
        return None
    params = json.loads(r["params"] or "{}")
    return {
        "version": r["version"],
        "computed_at": r["computed_at"],
        "wind_from_deg": params.get("wind_from_deg"),
        "wind_speed_ms": params.get("wind_speed_ms"),
    }


def wind_text(wind_from_deg: Any, wind_speed_ms: Any = None, *, compass: bool = True) -> str:
    """``vent 260° (O), 4 m/s`` — the wind as the cell says it ("" when the event has none)."""
    if wind_from_deg is None or wind_from_deg == "":
        return ""
    text = f"vent {fr.decimal(wind_from_deg, 1)}°"
    if compass:
        text += f" ({fr.compass(wind_from_deg)})"
    if wind_speed_ms not in (None, ""):
        text += f", {fr.decimal(wind_speed_ms, 1)} m/s"
    return text


def zones_notice(summary: Mapping[str, Any], by: str | None) -> str:
    """« Zones recalculées (version 3, vent 260°) à 14:02 par Claire Morel »."""
    inside = [f"version {summary['version']}"]
    wind = wind_text(summary.get("wind_from_deg"), compass=False)
    if wind:
        inside.append(wind)
    text = f"Zones recalculées ({', '.join(inside)}) à {local(summary['computed_at'], '%H:%M')}"
    return text + (f" par {by}" if by else "")


def describe_params(playbook: Playbook | None, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, shown value) of each parameter, in French, in playbook order."""
    out: list[tuple[str, str]] = []
    if playbook is None:
        return [(k, _show_value(v, "")) for k, v in params.items()]
    for parameter in playbook.parameters:
        if parameter.name not in params:
            continue
        value = params[parameter.name]
        if value is not None and parameter.type == "choice":
            shown = parameter.choice_label(str(value)) or str(value)
        else:
            shown = _show_value(value, parameter.unit)
        out.append((parameter.label, shown))
    return out


def _show_value(value: Any, unit: str) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        text = fr.decimal(value)
    else:
        text = str(value)
    if not unit:
        return text
    return f"{text}{unit}" if unit == "°" else f"{text} {unit}"


# --- writing ------------------------------------------------------------------------------------


def _write_log(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    actor: Actor,
    category: str,
    text: str,
    *,
    fact_at: datetime | None = None,
    corrects_id: int | None = None,
    is_system: bool = False,
) -> int:
    return append_log_entry(
        db,
        now,
        event_id,
        actor.id,
        actor.name,
        category,
        text,
        fact_at=fact_at,
        corrects_id=corrects_id,
        is_system=is_system,
    )


append_log_entry = insert_log_entry  # one main-courante row (app.records owns the insert)


def _open_event(db: sqlite_utils.Database, event_id: int) -> Event:
    """The event, read inside the write transaction; refuse a missing or closed one."""
    event = get_event(db, event_id)
    if event is None:
        raise EventError("Événement introuvable.", "event", status=404)
    if not event.is_open:
        raise EventError(
            f"L'événement « {event.title} » est clos depuis le "
            f"{local(event.closed_at)} : il n'est plus modifiable.",
            "event",
            status=409,
        )
    return event


def _clean_text(value: Any, field: str, label: str, maximum: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EventError(f"{label} : valeur obligatoire.", field)
    text = value.strip()
    if len(text) > maximum:
        raise EventError(f"{label} : au plus {maximum} caractères.", field)
    return text


def _check_level(level: Any) -> int:
    if isinstance(level, bool):
        raise EventError("Le niveau doit être un nombre entier.", "level")
    try:
        value = int(level)
    except (TypeError, ValueError):
        raise EventError("Le niveau doit être un nombre entier.", "level") from None
    if isinstance(level, float) and level != value:
        raise EventError("Le niveau doit être un nombre entier.", "level")
    if not EVENT_LEVEL_MIN <= value <= EVENT_LEVEL_MAX:
        raise EventError(
            f"Le niveau doit être compris entre {EVENT_LEVEL_MIN} et {EVENT_LEVEL_MAX}.", "level"
        )
    return value


def declare(
    db: sqlite_utils.Database,
    now: datetime,
    playbook: Playbook,
    *,
    actor: Actor,
    title: Any,
    params: Mapping[str, Any] | None = None,
    site: str | None = None,
    point: Any = None,
    drill: bool = False,
    level: Any = None,
    place: str = "",
) -> Event:
    """Declare an event: the event, its checklist, its first log entries, its zones, its audit."""
    clean_title = _clean_text(title, "title", "Intitulé", TITLE_MAX)
    event_level = playbook.default_level if level in (None, "") else _check_level(level)
    if not isinstance(drill, bool):
        raise EventError("« drill » doit valoir true ou false.", "drill")
    if site and point is not None:
        raise EventError("Indiquez un site ou un point, pas les deux.", "site")
    effects: dict[str, Any] | None = None
    if site:
        if "site" not in playbook.applies_to:
            raise EventError(f"« {playbook.title} » ne s'applique pas à un site.", "site")
        found = get_site(db, str(site))
        if found is None:
            raise EventError(f"Site inconnu « {site} » (sites Seveso du territoire).", "site")
        lon, lat = found["lon"], found["lat"]
        effects = found["effects"]
        where = place.strip() or " — ".join(x for x in (found["name"], found["commune"]) if x)
        site_fid: str | None = found["fid"]
    elif point is not None:
        if "point" not in playbook.applies_to:
            raise EventError(f"« {playbook.title} » s'applique à un site, pas à un point.", "point")
        lon, lat = check_point(point)
        commune = commune_at(db, lon, lat)
        at = f"point {lat:.5f} N, {lon:.5f} E"
        where = place.strip() or (f"{commune} — {at}" if commune else at[0].upper() + at[1:])
        site_fid = None
    else:
        field = "site" if "site" in playbook.applies_to else "point"
        where_from = "un site, une commune ou un point sur la carte"
        if "site" not in playbook.applies_to:
            where_from = "une commune ou un point sur la carte"
        raise EventError(f"Indiquez le lieu : {where_from}.", field)
    clean_params, errors = playbook.validate_params(params or {})
    if errors:
        raise EventError(" ".join(errors), "params")

    with transaction(db):
        cur = db.execute(
            "INSERT INTO events (kind, title, is_drill, level, status, declared_by, declared_at,"
            " site_fid, lon, lat, place, params, report_cadence_min)"
            " VALUES (?,?,?,?, 'open', ?,?,?,?,?,?,?,?)",
            [
                playbook.id,
                clean_title,
                int(drill),
                event_level,
                actor.id,
                iso(now),
                site_fid,
                lon,
                lat,
                where,
                dumps(clean_params),
                playbook.report_cadence_min,
            ],
        )
        event_id = int(cur.lastrowid or 0)
        for position, spec in enumerate(playbook.checklist):
            db.execute(
                "INSERT INTO checklist_items (event_id, item_key, position, title, role, due_at)"
                " VALUES (?,?,?,?,?,?)",
                [
                    event_id,
                    spec.id,
                    position,
                    spec.title,
                    spec.role,
                    iso(now + timedelta(minutes=spec.due_min)),
                ],
            )
        drill_mark = "EXERCICE — " if drill else ""
        _write_log(
            db,
            now,
            event_id,
            actor,
            "décision",
            f"{drill_mark}Déclaration de l'événement « {clean_title} » ({playbook.title}), "
            f"niveau {event_level}, lieu : {where}. Déclaré par {actor.name}.",
            is_system=True,
        )
        given = {k: v for k, v in clean_params.items() if v is not None}
        shown = " ; ".join(f"{k} : {v}" for k, v in describe_params(playbook, given))
        _write_log(
            db,
            now,
            event_id,
            actor,
            "information",
            f"Paramètres initiaux : {shown or 'aucun'}.",
            is_system=True,
        )
        event = get_event(db, event_id)
        assert event is not None
        version = recompute_zones(db, now, event, playbook, effects=effects, actor=actor)
        audit.append(
            db,
            now,
            "event.declared",
            actor=actor.login,
            object_type="event",
            object_id=event_id,
            event_id=event_id,
            details={
                "playbook": playbook.id,
                "title": clean_title,
                "drill": drill,
                "level": event_level,
                "site": site_fid,
                "point": [lon, lat],
                "params": clean_params,
                "checklist_items": len(playbook.checklist),
                "zones_version": version,
            },
        )
    return event


def change_level(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    level: Any,
    *,
    actor: Actor,
    reason: str = "",
) -> Event:
    """Raise or lower the level (1–5), with an optional reason."""
    new_level = _check_level(level)
    reason = (reason or "").strip()[:TEXT_MAX]
    with transaction(db):
        event = _open_event(db, event_id)
        if new_level == event.level:
            raise EventError(f"L'événement est déjà au niveau {new_level}.", "level")
        verb = "Élévation" if new_level > event.level else "Abaissement"
        db.execute("UPDATE events SET level = ? WHERE id = ?", [new_level, event_id])
        _write_log(
            db,
            now,
            event_id,
            actor,
            "décision",
            f"{verb} du niveau : {event.level} → {new_level}"
            + (f". Motif : {reason}" if reason else "."),
            is_system=True,
        )
        audit.append(
            db,
            now,
            "event.level_changed",
            actor=actor.login,
            object_type="event",
            object_id=event_id,
            event_id=event_id,
            details={"from": event.level, "to": new_level, "reason": reason},
        )
    found = get_event(db, event_id)
    assert found is not None
    return found


def _param_change_text(playbook: Playbook, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    parts = []
    for parameter in playbook.parameters:
        name = parameter.name
        if name not in new or old.get(name) == new[name]:
            continue
        before = describe_params(playbook, {name: old.get(name)})[0][1]
        after = describe_params(playbook, {name: new[name]})[0][1]
        if name == "wind_from_deg":
            parts.append(f"vent du {before} → {after}")
        else:
            parts.append(f"{parameter.label.lower()} {before} → {after}")
    return "Changement de paramètres : " + ", ".join(parts)


SYNTHESIS_MAX = 3500  # the whole text goes into one main-courante entry (TEXT_MAX)
SYNTHESIS_ROLES: tuple[str, ...] = ("director",)
SYNTHESIS_TEMPLATE = "Situation :\n\nMesures prises :\n\nProchaines étapes :\n"


def set_synthesis(
    db: sqlite_utils.Database, now: datetime, event: Event, text: Any, actor: Actor
) -> Event:
    """The director writes the event's synthesis (situation, measures taken, next steps), page 1
    of the situation report. Each edit is a new version: a main-courante entry with the whole
    new text; the event keeps the latest. The API's ``PUT …/synthesis`` is one call of this."""
    if not set(actor.roles) & set(SYNTHESIS_ROLES):
        raise EventError(
            "Seul le directeur des opérations rédige la synthèse.", "synthesis", status=403
        )
    clean = _clean_text(text, "text", "Synthèse", SYNTHESIS_MAX)
    clean = "\n".join(line.rstrip() for line in clean.replace("\r\n", "\n").split("\n"))
    with transaction(db):
        current = _open_event(db, event.id)
        if clean == current.synthesis:
            raise EventError("Rien n'a changé dans la synthèse.", "text")
        version = 1 + int(
            scalar(
                db,
                "SELECT COUNT(*) FROM audit_log WHERE action = 'event.synthesis_changed'"
                " AND event_id = ?",
                [event.id],
            )
        )
        entry_id = _write_log(
            db,
            now,
            event.id,
            actor,
            "information",
            f"Synthèse du directeur, version {version} :\n{clean}",
            is_system=True,
        )
        db.execute(
            "UPDATE events SET synthesis = ?, synthesis_at = ?, synthesis_by = ?,"
            " synthesis_entry_id = ? WHERE id = ?",
            [clean, iso(now), actor.id, entry_id, event.id],
        )
        audit.append(
            db,
            now,
            "event.synthesis_changed",
            actor=actor.login,
            object_type="event",
            object_id=event.id,
            event_id=event.id,
            details={
                "version": version,
                "log_entry": entry_id,
                "length": len(clean),
                "sha256": hashlib.sha256(clean.encode()).hexdigest(),
            },
        )
    found = get_event(db, event.id)
    assert found is not None
    return found


def change_params(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    playbook: Playbook,
    changes: Mapping[str, Any],
    *,
    actor: Actor,
    reason: str = "",
) -> Event:
    """Change some parameters (a wind shift), with an optional reason: log the change,
    recompute the zones."""
    clean, errors = playbook.validate_params(changes, partial=True)
    if errors:
        raise EventError(" ".join(errors), "params")
    reason = (reason or "").strip()[:TEXT_MAX]
    with transaction(db):
        event = _open_event(db, event_id)
        if event.kind != playbook.id:
            raise EventError("Ce guide ne correspond pas à l'événement.", "playbook")
        changed = {k: v for k, v in clean.items() if event.params.get(k) != v}
        if not changed:
            raise EventError("Aucun paramètre n'a changé.", "params")
        merged = {**event.params, **changed}
        db.execute("UPDATE events SET params = ? WHERE id = ?", [dumps(merged), event_id])
        _write_log(
            db,
            now,
            event_id,
            actor,
            "information",
            _param_change_text(playbook, event.params, changed)
            + (f". Motif : {reason}" if reason else ""),
            is_system=True,
        )
        updated = get_event(db, event_id)
        assert updated is not None
        version = recompute_zones(db, now, updated, playbook, actor=actor)
        audit.append(
            db,
            now,
            "event.params_changed",
            actor=actor.login,
            object_type="event",
            object_id=event_id,
            event_id=event_id,
            details={
                "from": {k: event.params.get(k) for k in changed},
                "to": changed,
                "zones_version": version,
                "reason": reason,
            },
        )
    return updated


def close(
    db: sqlite_utils.Database, now: datetime, event_id: int, statement: Any, *, actor: Actor
) -> Event:
    """Close the event with a closing statement (required); it becomes read-only."""
    text = _clean_text(statement, "statement", "Déclaration de clôture", TEXT_MAX)
    with transaction(db):
        _open_event(db, event_id)
        _write_log(
            db, now, event_id, actor, "décision", f"Clôture de l'événement : {text}", is_system=True
        )
        db.execute(
            "UPDATE events SET status = 'closed', closed_by = ?, closed_at = ?,"
            " closing_statement = ? WHERE id = ?",
            [actor.id, iso(now), text, event_id],
        )
        # Closing the event ends every break-glass access opened for it, in the same unit of work.
        revoked = access.revoke_for_event(db, now, event_id, actor)  # type: ignore[arg-type]
        audit.append(
            db,
            now,
            "event.closed",
            actor=actor.login,
            object_type="event",
            object_id=event_id,
            event_id=event_id,
            details={
                "statement": text,
                "open_items": _open_items(db, event_id),
                "grants_revoked": revoked,
            },
        )
    found = get_event(db, event_id)
    assert found is not None
    return found


def _open_items(db: sqlite_utils.Database, event_id: int) -> int:
    return int(
        scalar(
            db,
            "SELECT COUNT(*) FROM checklist_items WHERE event_id = ? AND done_at IS NULL",
            [event_id],
        )
    )


def _parse_fact_at(value: Any, now: datetime, declared_at: str) -> datetime:
    if value is None or value == "":
        return now
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise EventError(
                f"Heure du fait « {value} » illisible (attendu : AAAA-MM-JJTHH:MM).", "fact_at"
            ) from None
    else:
        raise EventError("Heure du fait illisible.", "fact_at")
    if when.tzinfo is None:
        when = when.replace(tzinfo=PARIS)  # what the cell types is Paris time
    if when > now + FUTURE_TOLERANCE:
        raise EventError("L'heure du fait ne peut pas être dans le futur.", "fact_at")
    if when < parse_iso(declared_at) - PAST_LIMIT:
        raise EventError(
            "L'heure du fait précède de plus de 24 h la déclaration de l'événement.", "fact_at"
        )
    return when


def add_log(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    *,
    actor: Actor,
    category: Any,
    text: Any,
    fact_at: Any = None,
    corrects_id: Any = None,
    idempotency_key: str | None = None,
) -> LogEntry:
    """Append an entry to the main courante; a correction points at the entry it corrects.

    With an ``idempotency_key`` (the client's name for this write), the same key and request
    again answer the entry already made, even after the event closed; another request under the
    same key is refused (422).
    """
    digest = _idempotency_digest(
        idempotency_key,
        "log.entry",
        {
            "event": event_id,
            "category": category,
            "text": text,
            "fact_at": fact_at,
            "corrects": corrects_id,
        },
    )
    if category not in CATEGORIES:
        raise EventError(
            f"Catégorie inconnue « {category} » (attendu : {', '.join(CATEGORIES)}).", "category"
        )
    clean = _clean_text(text, "text", "Texte", TEXT_MAX)
    corrects: int | None = None
    if corrects_id not in (None, ""):
        try:
            corrects = numbers.number(corrects_id, "Entrée corrigée", integer=True, minimum=1)
        except numbers.NumberError:
            raise EventError("Entrée corrigée : numéro invalide.", "corrects_id") from None
    with transaction(db):
        replayed = _replayed(db, actor, idempotency_key, digest, "log_entry")
        if replayed is not None:
            entry_id = replayed
        else:
            event = _open_event(db, event_id)
            when = _parse_fact_at(fact_at, now, event.declared_at)
            if corrects is not None:
                target = scalar(db, "SELECT event_id FROM log_entries WHERE id = ?", [corrects])
                if target != event_id:
                    raise EventError(
                        f"L'entrée n°{corrects} n'existe pas dans cette main courante.",
                        "corrects_id",
                    )
            entry_id = _write_log(
                db, now, event_id, actor, str(category), clean, fact_at=when, corrects_id=corrects
            )
            details: dict[str, Any] = {
                "category": category,
                "corrects": corrects,
                "fact_at": iso(when),
            }
            _remember(db, now, actor, idempotency_key, digest, "log_entry", entry_id, details)
            audit.append(
                db,
                now,
                "log.entry_added",
                actor=actor.login,
                object_type="log_entry",
                object_id=entry_id,
                event_id=event_id,
                details=details,
            )
    found = log_entries(db, event_id, since=entry_id - 1, limit=1)
    return found[0]


def _idempotency_digest(key: str | None, operation: str, arguments: dict[str, Any]) -> str:
    """The request's fingerprint when a key is given ("" otherwise); refuse a malformed key."""
    if key is None:
        return ""
    if not idempotency.valid_key(key):
        raise EventError(
            f"En-tête {idempotency.HEADER} invalide : 1 à {idempotency.KEY_MAX} caractères "
            "(lettres, chiffres, - _ . :).",
            idempotency.HEADER,
            status=400,
        )
    return idempotency.fingerprint(operation, arguments)


def _replayed(
    db: sqlite_utils.Database, actor: Actor, key: str | None, digest: str, object_type: str
) -> int | None:
    """The id of what the user's key already made (a resend), None for a new or no key."""
    if key is None:
        return None
    done = idempotency.recall(db, actor.id, key)
    if done is None:
        return None
    if done.fingerprint != digest or done.object_type != object_type:
        raise EventError(
            f"Cette clé ({idempotency.HEADER}) a déjà servi pour une autre demande : "
            "rien n'a été enregistré.",
            idempotency.HEADER,
        )
    return done.object_id


def _remember(
    db: sqlite_utils.Database,
    now: datetime,
    actor: Actor,
    key: str | None,
    digest: str,
    object_type: str,
    object_id: int,
    details: dict[str, Any],
) -> None:
    """Remember a new key with what it made; its audit record names the key."""
    if key is None:
        return
    idempotency.remember(db, now, actor.id, key, digest, object_type, object_id)
    details["idempotency_key"] = key


def tick_item(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    item_id: int,
    *,
    actor: Actor,
    note: str = "",
    fact_at: Any = None,
    idempotency_key: str | None = None,
) -> ChecklistItem:
    """Mark a checklist item done (by whom, when, with a note) and log it.

    ``fact_at`` is when it was done (a tick made offline and sent later), now by default. With an
    ``idempotency_key`` a resend answers the item already ticked instead of a 409.
    """
    digest = _idempotency_digest(
        idempotency_key,
        "checklist.tick",
        {"event": event_id, "item": item_id, "note": note, "fact_at": fact_at},
    )
    note = (note or "").strip()
    if len(note) > TEXT_MAX:
        raise EventError(f"Note : au plus {TEXT_MAX} caractères.", "note")
    with transaction(db):
        if _replayed(db, actor, idempotency_key, digest, "checklist_item") is not None:
            return next(i for i in checklist(db, event_id) if i.id == item_id)
        event = _open_event(db, event_id)
        when = _parse_fact_at(fact_at, now, event.declared_at)
        item = row(
            db, "SELECT * FROM checklist_items WHERE id = ? AND event_id = ?", [item_id, event_id]
        )
        if item is None:
            raise EventError("Action introuvable dans cette liste.", "item", status=404)
        if item["done_at"] is not None:
            raise EventError("Cette action est déjà marquée réalisée.", "item", status=409)
        if not actor.roles & {"director", "cell"} and item["role"] not in actor.roles:
            raise EventError(
                "Vous ne pouvez cocher que les actions confiées à votre rôle.", "item", status=403
            )
        db.execute(
            "UPDATE checklist_items SET done_by = ?, done_at = ?, note = ? WHERE id = ?",
            [actor.id, iso(when), note or None, item_id],
        )
        late = iso(when) > item["due_at"]
        entry_id = _write_log(
            db,
            now,
            event_id,
            actor,
            "action",
            f"Action réalisée : {item['title']}"
            + (" (en retard)" if late else "")
            + (f". Note : {note}" if note else ""),
            fact_at=when,
            is_system=True,
        )
        db.execute("UPDATE checklist_items SET log_entry_id = ? WHERE id = ?", [entry_id, item_id])
        details: dict[str, Any] = {"key": item["item_key"], "late": late, "note": note}
        if fact_at not in (None, ""):
            details["done_at"] = iso(when)
        _remember(db, now, actor, idempotency_key, digest, "checklist_item", item_id, details)
        audit.append(
            db,
            now,
            "checklist.item_done",
            actor=actor.login,
            object_type="checklist_item",
            object_id=item_id,
            event_id=event_id,
            details=details,
        )
    return next(i for i in checklist(db, event_id) if i.id == item_id)


def can_fix_item(actor: Actor, item: ChecklistItem) -> bool:
    """Who may undo or correct a tick: its author, or a director."""
    return item.done and (actor.id == item.done_by or "director" in actor.roles)


def _done_item(
    db: sqlite_utils.Database, event_id: int, item_id: int, actor: Actor
) -> dict[str, Any]:
    """The ticked item the actor may correct (inside the write transaction)."""
    item = row(
        db,
        "SELECT c.*, u.name AS done_by_name FROM checklist_items c"
        " LEFT JOIN users u ON u.id = c.done_by WHERE c.id = ? AND c.event_id = ?",
        [item_id, event_id],
    )
    if item is None:
        raise EventError("Action introuvable dans cette liste.", "item", status=404)
    if item["done_at"] is None:
        raise EventError("Cette action n'est pas cochée : rien à corriger.", "item", status=409)
    if actor.id != item["done_by"] and "director" not in actor.roles:
        raise EventError(
            "Seuls l'auteur de la coche ou un directeur des opérations peuvent la corriger.",
            "item",
            status=403,
        )
    return item


def undo_item(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    item_id: int,
    *,
    actor: Actor,
    reason: str = "",
) -> ChecklistItem:
    """Undo a tick made by mistake: the item is to do again. Nothing is erased: the tick stays
    in the main courante, struck through by the entry that undoes it (which points at it)."""
    reason = " ".join((reason or "").split())
    if len(reason) > TEXT_MAX:
        raise EventError(f"Motif : au plus {TEXT_MAX} caractères.", "reason")
    with transaction(db):
        _open_event(db, event_id)
        item = _done_item(db, event_id, item_id, actor)
        entry_id = _write_log(
            db,
            now,
            event_id,
            actor,
            "action",
            f"Coche annulée : {item['title']} (marquée réalisée à"
            f" {local(item['done_at'], '%H:%M')} par {item['done_by_name'] or '—'}) :"
            " action de nouveau à faire" + (f". Motif : {reason}" if reason else "."),
            corrects_id=item["log_entry_id"],
            is_system=True,
        )
        db.execute(
            "UPDATE checklist_items SET done_by = NULL, done_at = NULL, note = NULL,"
            " log_entry_id = ? WHERE id = ?",
            [entry_id, item_id],
        )
        audit.append(
            db,
            now,
            "checklist.item_undone",
            actor=actor.login,
            object_type="checklist_item",
            object_id=item_id,
            event_id=event_id,
            details={
                "key": item["item_key"],
                "was_done_at": item["done_at"],
                "was_done_by": item["done_by"],
                "reason": reason,
                "log_entry": entry_id,
            },
        )
    return next(i for i in checklist(db, event_id) if i.id == item_id)


def correct_item(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    item_id: int,
    *,
    actor: Actor,
    fact_at: Any = None,
    note: str | None = None,
) -> ChecklistItem:
    """Correct a tick: when it was done and/or its note. The item shows the latest fact; the
    main courante keeps both (the correction points at the entry it corrects)."""
    with transaction(db):
        event = _open_event(db, event_id)
        item = _done_item(db, event_id, item_id, actor)
        when = (
            parse_iso(item["done_at"])
            if fact_at in (None, "")
            else _parse_fact_at(fact_at, now, event.declared_at)
        )
        new_note = (item["note"] or "") if note is None else " ".join(note.split())
        if len(new_note) > TEXT_MAX:
            raise EventError(f"Note : au plus {TEXT_MAX} caractères.", "note")
        if iso(when) == item["done_at"] and new_note == (item["note"] or ""):
            raise EventError(
                "Rien n'a changé : indiquez une autre heure ou une autre note.", "item"
            )
        late = iso(when) > item["due_at"]
        parts = [f"Correction : {item['title']} réalisée à {local(when, '%H:%M')}"]
        if iso(when) != item["done_at"]:
            parts[0] += f" (et non {local(item['done_at'], '%H:%M')})"
        if late:
            parts[0] += " (en retard)"
        if new_note != (item["note"] or ""):
            parts.append(f"Note : {new_note}" if new_note else "Note retirée")
        entry_id = _write_log(
            db,
            now,
            event_id,
            actor,
            "action",
            ". ".join(parts) + ".",
            fact_at=when,
            corrects_id=item["log_entry_id"],
            is_system=True,
        )
        db.execute(
            "UPDATE checklist_items SET done_at = ?, note = ?, log_entry_id = ? WHERE id = ?",
            [iso(when), new_note or None, entry_id, item_id],
        )
        audit.append(
            db,
            now,
            "checklist.item_corrected",
            actor=actor.login,
            object_type="checklist_item",
            object_id=item_id,
            event_id=event_id,
            details={
                "key": item["item_key"],
                "from": {"done_at": item["done_at"], "note": item["note"] or ""},
                "to": {"done_at": iso(when), "note": new_note},
                "late": late,
                "log_entry": entry_id,
            },
        )
    return next(i for i in checklist(db, event_id) if i.id == item_id)


# --- zones --------------------------------------------------------------------------------------


def _features_l93(db: sqlite_utils.Database, slug: str) -> list[tuple[Any, dict[str, Any]]]:
    from .geo import proj

    out = []
    for r in rows(
        db,
        "SELECT f.geometry, f.properties FROM features f JOIN datasets d ON d.id = f.dataset_id"
        " WHERE d.slug = ?",
        [slug],
    ):
        shape = proj.to_l93(proj.geojson_to_shape(json.loads(r["geometry"])))
        out.append((shape, json.loads(r["properties"])))
    return out


def recompute_zones(
    db: sqlite_utils.Database,
    now: datetime,
    event: Event,
    playbook: Playbook,
    *,
    effects: dict[str, Any] | None = None,
    actor: Actor | None = None,
) -> int | None:
    """Compute the event's zones with ``app.geo.zones`` and store them as a new version.

    Runs inside the caller's transaction. A zone that cannot be computed (e.g. a dataset not
    loaded yet) must not block a declaration: it is written in the log and None is returned.
    """
    try:
        from shapely.geometry import Point

        from .geo import proj, zones
    except ImportError:  # pragma: no cover - the geo package ships with the app
        return None
    if effects is None and event.site_fid:
        site = get_site(db, event.site_fid)
        effects = site["effects"] if site else None
    x, y = proj.lonlat_to_l93(event.lon, event.lat)
    try:
        computed = zones.compute_zones(
            playbook.zones,
            Point(float(x), float(y)),
            event.params,
            effects,
            lines_for=lambda slug: [g for g, _ in _features_l93(db, slug)],
            polygons_for=lambda slug: _features_l93(db, slug),
        )
        collection = zones.zones_to_geojson(computed)
    except (ValueError, TypeError) as exc:
        log.warning("zones of event %s not computed: %s", event.id, exc)
        if actor is not None:
            _write_log(
                db,
                now,
                event.id,
                actor,
                "information",
                f"Zones non calculées : {exc}",
                is_system=True,
            )
        return None
    version = int(
        scalar(db, "SELECT MAX(version) FROM event_zones WHERE event_id = ?", [event.id]) or 0
    )
    db.execute(
        "INSERT INTO event_zones (event_id, version, computed_at, params, geojson)"
        " VALUES (?,?,?,?,?)",
        [event.id, version + 1, iso(now), dumps(event.params), dumps(collection)],
    )
    return version + 1
