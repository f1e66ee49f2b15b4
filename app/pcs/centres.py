"""Reception centres (centres d'accueil et de regroupement, CARE) and the evacuation counts.

The centres are the features of the public ``reception-centres`` dataset (gymnasiums, halls:
capacity, equipment, a service contact). Per event a centre is opened and closed, and the field
registers people arrived and gone **in numbers** (never names): each change is an append-only
``centre_changes`` row holding the centre's whole state after it (open, occupancy, people
arrived so far), a main-courante entry and an audit record, in one transaction.

The EMSI evacuation figures and the situation report read :func:`evacuation_figures`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from .. import audit, fr, idempotency
from ..clock import iso
from ..db import rows, transaction
from .common import Actor, PcsError, clean_note, latest_rows, open_event, write_log

DATASET = "reception-centres"
OPEN_ROLES: tuple[str, ...] = ("director", "cell")  # open, close
COUNT_ROLES: tuple[str, ...] = ("director", "cell", "liaison")  # arrivals, departures, count
PEOPLE_MAX = 100_000


@dataclass(frozen=True)
class Centre:
    """A centre of the catalogue and its state for one event."""

    id: str
    name: str
    kind: str
    commune: str
    capacity: int
    equipment: str
    contact: str
    lon: float
    lat: float
    is_open: bool = False
    occupancy: int = 0
    arrived: int = 0  # people registered as arrived since it opened for the event
    changed_at: str | None = None
    changed_by: str | None = None
    used: bool = False  # opened at least once for the event

    @property
    def remaining(self) -> int:
        return max(self.capacity - self.occupancy, 0)

    @property
    def over(self) -> int:
        """People beyond the capacity (0 when within)."""
        return max(self.occupancy - self.capacity, 0)

    @property
    def fill(self) -> float:
        return self.occupancy / self.capacity if self.capacity else 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.kind,
            "commune": self.commune,
            "capacity": self.capacity,
            "occupancy": self.occupancy,
            "remaining": self.remaining,
            "arrived": self.arrived,
            "open": self.is_open,
            "equipment": self.equipment,
            "contact": self.contact,
            "point": [self.lon, self.lat],
            "updated_at": self.changed_at,
        }

    def feature(self) -> dict[str, Any]:
        """A map point (the interactive map draws open centres with their places left)."""
        props = {k: v for k, v in self.to_json().items() if k != "point"}
        props["kind"] = "centre"
        return {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [self.lon, self.lat]},
            "properties": props,
        }


def catalogue_centres(db: sqlite_utils.Database) -> list[Centre]:
    """Every centre of the ``reception-centres`` dataset, by commune and name."""
    out = []
    for r in rows(
        db,
        "SELECT f.fid, f.geometry, f.properties FROM features f JOIN datasets d"
        " ON d.id = f.dataset_id WHERE d.slug = ? AND d.sensitivity = 'public'",
        [DATASET],
    ):
        props = json.loads(r["properties"])
        lon, lat = json.loads(r["geometry"])["coordinates"][:2]
        out.append(
            Centre(
                id=r["fid"],
                name=str(props.get("name") or r["fid"]),
                kind=str(props.get("type") or ""),
                commune=str(props.get("commune") or ""),
                capacity=int(props.get("capacity") or 0),
                equipment=str(props.get("equipment") or ""),
                contact=str(props.get("contact") or ""),
                lon=float(lon),
                lat=float(lat),
            )
        )
    return sorted(out, key=lambda c: (c.commune, c.name))


def event_centres(db: sqlite_utils.Database, event_id: int, at: str | None = None) -> list[Centre]:
    """The catalogue's centres with their state for the event (``at``: as at that time);
    the centres used by the event first."""
    state = {
        r["centre_id"]: r for r in latest_rows(db, "centre_changes", "centre_id", event_id, at=at)
    }
    out = []
    for c in catalogue_centres(db):
        r = state.get(c.id)
        if r is not None:
            c = Centre(
                **{
                    **c.__dict__,
                    "is_open": bool(r["is_open"]),
                    "occupancy": r["occupancy"],
                    "arrived": r["arrived"],
                    "capacity": r["capacity"],
                    "changed_at": r["at"],
                    "changed_by": r["actor_name"],
                    "used": True,
                }
            )
        out.append(c)
    return sorted(out, key=lambda c: (not c.is_open, not c.used, c.commune, c.name))


def open_centres(db: sqlite_utils.Database, event_id: int, at: str | None = None) -> list[Centre]:
    """The centres open for the event."""
    return [c for c in event_centres(db, event_id, at) if c.is_open]


def evacuation_figures(
    db: sqlite_utils.Database, event_id: int, at: str | None = None
) -> tuple[int, int] | None:
    """(people registered as arrived at the event's centres, people hosted now), or None when
    no centre was opened: the EMSI EVACUATED and DISPLACED figures (``at``: as at then)."""
    used = [c for c in event_centres(db, event_id, at) if c.used]
    if not used:
        return None
    return sum(c.arrived for c in used), sum(c.occupancy for c in used if c.is_open)


def _people(value: Any, label: str, field: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise PcsError(f"{label} : un nombre entier est attendu.", field=field)
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise PcsError(f"{label} : « {value} » n'est pas un nombre entier.", field=field) from None
    if not 0 <= number <= PEOPLE_MAX:
        raise PcsError(f"{label} : entre 0 et {fr.integer(PEOPLE_MAX)}.", field=field)
    return number


def _centre(db: sqlite_utils.Database, event_id: int, centre_id: str) -> Centre:
    found = next((c for c in event_centres(db, event_id) if c.id == centre_id), None)
    if found is None:
        raise PcsError(f"Centre d'accueil inconnu « {centre_id} ».", status=404)
    return found


def _write(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    centre: Centre,
    change: str,
    *,
    is_open: bool,
    occupancy: int,
    arrived: int,
    delta: int,
    note: str,
    actor: Actor,
    text: str,
    fact_at: datetime | None = None,
    key: tuple[str, str] | None = None,
) -> int:
    entry = write_log(db, now, event_id, actor, text, fact_at=fact_at)
    cur = db.execute(
        "INSERT INTO centre_changes (event_id, centre_id, name, capacity, is_open, occupancy,"
        " arrived, change, delta, note, at, fact_at, actor_id, actor_name, log_entry_id)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            event_id,
            centre.id,
            centre.name,
            centre.capacity,
            int(is_open),
            occupancy,
            arrived,
            change,
            delta,
            note,
            iso(now),
            iso(fact_at or now),
            actor.id,
            actor.name,
            entry,
        ],
    )
    change_id = int(cur.lastrowid or 0)
    details: dict[str, Any] = {
        "centre": centre.id,
        "change": change,
        "delta": delta,
        "occupancy": occupancy,
        "capacity": centre.capacity,
        "open": is_open,
        "log_entry": entry,
    }
    if key is not None:
        idempotency.remember(db, now, actor.id, key[0], key[1], "centre_change", change_id)
        details["idempotency_key"] = key[0]
    audit.append(
        db,
        now,
        f"centre.{change}",
        actor=actor.login,
        object_type="centre_change",
        object_id=change_id,
        event_id=event_id,
        details=details,
    )
    return change_id


def _places(c: Centre, occupancy: int) -> str:
    text = f"occupation {fr.integer(occupancy)} / {fr.integer(c.capacity)}"
    if occupancy > c.capacity:
        return text + f" — CAPACITÉ DÉPASSÉE de {fr.integer(occupancy - c.capacity)}"
    left = c.capacity - occupancy
    return text + f" ({fr.count(left, 'place restante', 'places restantes')})"


def open_centre(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    centre_id: str,
    *,
    actor: Actor,
    note: Any = "",
) -> Centre:
    """Open a centre for the event (its occupancy starts where it was left, 0 the first time)."""
    text = clean_note(note)
    with transaction(db):
        open_event(db, event_id)
        c = _centre(db, event_id, centre_id)
        if c.is_open:
            raise PcsError(f"« {c.name} » est déjà ouvert.", status=409)
        _write(
            db,
            now,
            event_id,
            c,
            "opened",
            is_open=True,
            occupancy=c.occupancy,
            arrived=c.arrived,
            delta=0,
            note=text,
            actor=actor,
            text=f"Ouverture du centre d'accueil {c.name} ({c.commune}), capacité"
            f" {fr.integer(c.capacity)}" + (f". {text}" if text else "."),
        )
    return _centre(db, event_id, centre_id)


def close_centre(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    centre_id: str,
    *,
    actor: Actor,
    note: Any = "",
) -> Centre:
    """Close a centre (the people still there are said in the log)."""
    text = clean_note(note)
    with transaction(db):
        open_event(db, event_id)
        c = _centre(db, event_id, centre_id)
        if not c.is_open:
            raise PcsError(f"« {c.name} » n'est pas ouvert.", status=409)
        _write(
            db,
            now,
            event_id,
            c,
            "closed",
            is_open=False,
            occupancy=c.occupancy,
            arrived=c.arrived,
            delta=0,
            note=text,
            actor=actor,
            text=f"Fermeture du centre d'accueil {c.name} ({c.commune}) :"
            f" {fr.count(c.arrived, 'personne accueillie', 'personnes accueillies')} en tout,"
            f" {fr.integer(c.occupancy)} encore présentes" + (f". {text}" if text else "."),
        )
    return _centre(db, event_id, centre_id)


def register(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    centre_id: str,
    *,
    actor: Actor,
    arrivals: Any = 0,
    departures: Any = 0,
    count: Any = None,
    note: Any = "",
    fact_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> Centre:
    """People arrived (``arrivals``) or gone (``departures``) at an open centre, in numbers, or
    a head count (``count``: the occupancy now). Beyond the capacity is recorded and flagged
    (people are not turned away by a form); more departures than people present is refused."""
    came = _people(arrivals, "Arrivées", "arrivals")
    went = _people(departures, "Départs", "departures")
    counted = None if count in (None, "") else _people(count, "Présents", "count")
    text = clean_note(note)
    if counted is None and not came and not went:
        raise PcsError(
            "Indiquez des arrivées, des départs ou le nombre de présents.", field="arrivals"
        )
    digest = ""
    if idempotency_key is not None:
        if not idempotency.valid_key(idempotency_key):
            raise PcsError(f"En-tête {idempotency.HEADER} invalide.", status=400)
        digest = idempotency.fingerprint(
            "centre.register",
            {"event": event_id, "centre": centre_id, "a": came, "d": went, "c": counted, "n": text},
        )
    with transaction(db):
        if idempotency_key is not None:
            done = idempotency.recall(db, actor.id, idempotency_key)
            if done is not None:
                if done.fingerprint != digest or done.object_type != "centre_change":
                    raise PcsError(
                        f"Cette clé ({idempotency.HEADER}) a déjà servi pour une autre demande.",
                        field=idempotency.HEADER,
                    )
                return _centre(db, event_id, centre_id)
        open_event(db, event_id)
        c = _centre(db, event_id, centre_id)
        if not c.is_open:
            raise PcsError(f"« {c.name} » n'est pas ouvert : ouvrez-le d'abord.", status=409)
        if counted is not None:
            occupancy, change = counted, "count"
            delta = counted - c.occupancy
            arrived = c.arrived + max(delta, 0)
            what = f"{fr.count(counted, 'personne présente', 'personnes présentes')} (comptage)"
        else:
            occupancy = c.occupancy + came - went
            if occupancy < 0:
                raise PcsError(
                    f"{fr.count(went, 'départ', 'départs')} pour"
                    f" {fr.count(c.occupancy, 'personne présente', 'personnes présentes')}.",
                    field="departures",
                )
            change = "arrivals" if came >= went else "departures"
            delta = came - went
            arrived = c.arrived + came
            parts = []
            if came:
                parts.append(fr.count(came, "arrivée", "arrivées"))
            if went:
                parts.append(fr.count(went, "départ", "départs"))
            what = ", ".join(parts)
        _write(
            db,
            now,
            event_id,
            c,
            change,
            is_open=True,
            occupancy=occupancy,
            arrived=arrived,
            delta=delta,
            note=text,
            actor=actor,
            text=f"Centre d'accueil {c.name} : {what} — {_places(c, occupancy)}"
            + (f". {text}" if text else "."),
            fact_at=fact_at,
            key=(idempotency_key, digest) if idempotency_key is not None else None,
        )
    return _centre(db, event_id, centre_id)
