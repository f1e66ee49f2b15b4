"""The facts of an event that messages are written from, read once and passed down.

Zones come from the event's latest zones version, the communes in each zone (with their INSEE
codes) from THE impact analysis (``app.situation.event_impact``), the level history from the
audit chain, the casualty figures from ``casualty_reports``. Nothing here writes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlite_utils

from .. import events, fr, index_cache, reports, situation
from ..clock import local, parse_iso
from ..db import row, rows
from ..pcs import centres
from ..playbooks import MessageTemplate, Playbook
from ..records import Event, latest_zones

log = logging.getLogger(__name__)

SENDER_NAME = "Caux Seine Agglomération — cellule de crise"


@dataclass(frozen=True)
class Commune:
    insee: str
    name: str


@dataclass(frozen=True)
class ZoneFacts:
    """One zone of the event: WGS84 GeoJSON geometry and the communes it touches."""

    id: str
    label: str
    level: str  # red | orange | yellow
    threshold: str
    distance_m: float | None
    geometry: dict[str, Any]
    communes: tuple[Commune, ...] = ()
    population: int | None = None
    distance_source: str = ""  # site | playbook (generic) | data


DISTANCE_SOURCES = {
    "site": "étude de dangers du site",
    "playbook": "génériques du guide",
    "data": "emprises cartographiées",
}
GENERIC_DISTANCES = (
    "Zones tracées avec les distances génériques du guide : aucune distance d'effets publiée"
    " pour ce lieu."
)


@dataclass(frozen=True)
class EventFacts:
    """Everything a message about an event says, read at one moment."""

    event: Event
    now: datetime
    playbook_id: str
    playbook_title: str
    hazard: str  # toxic | fire | explosion | gas-leak | flood | "" (unknown playbook)
    zones: tuple[ZoneFacts, ...]
    zones_version: int | None
    zones_computed_at: str | None
    level_history: tuple[tuple[str, int], ...]  # (at, level), declaration first
    casualties: dict[str, Any] | None = None
    evacuated: int | None = None  # people registered as arrived at the event's centres (CARE)
    displaced: int | None = None  # people hosted in its open centres now
    restricted: bool = False  # restricted data entered this event (a grant was active)
    params_text: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # The playbook's message templates (empty when the event's playbook is no longer loaded).
    templates: Mapping[str, MessageTemplate] = field(default_factory=dict)

    @property
    def communes(self) -> tuple[Commune, ...]:
        """Communes of every zone, once each, by name."""
        seen: dict[str, Commune] = {}
        for z in self.zones:
            for c in z.communes:
                seen.setdefault(c.insee, c)
        return tuple(sorted(seen.values(), key=lambda c: c.name))

    @property
    def generic_distances(self) -> bool:
        """Whether a zone is drawn with the playbook's default distances."""
        return any(z.distance_source == "playbook" for z in self.zones)

    @property
    def distances(self) -> str:
        """Where the zones' distances come from, in French (for a CAP parameter)."""
        found = [DISTANCE_SOURCES[s] for s in DISTANCE_SOURCES if any(
            z.distance_source == s for z in self.zones
        )]  # fmt: skip
        return ", ".join(found)

    @property
    def previous_level(self) -> int:
        """The level before the last change (the declared level when it never changed)."""
        if len(self.level_history) >= 2:
            return self.level_history[-2][1]
        return self.event.level

    def level_at(self, when: str) -> int:
        """The level in force at an ISO time."""
        level = self.level_history[0][1] if self.level_history else self.event.level
        for at, value in self.level_history:
            if at <= when:
                level = value
        return level

    def values(self) -> dict[str, str]:
        """The placeholders that template texts may use, in French."""
        e = self.event
        zones = "; ".join(
            f"{z.label}" + (f" ({_km(z.distance_m)})" if z.distance_m else "") for z in self.zones
        )
        names = [c.name for c in self.communes]
        return {
            "evenement": e.title,
            "guide": self.playbook_title,
            "lieu": e.place,
            "niveau": str(e.level),
            "date_declaration": local(e.declared_at, "%d/%m/%Y"),
            "heure_declaration": local(e.declared_at, "%H:%M"),
            "date": local(self.now, "%d/%m/%Y"),
            "heure": local(self.now, "%H:%M"),
            "zones": zones or "zones non calculées",
            "communes": _join(names) or "communes non déterminées",
            "communes_insee": ", ".join(f"{c.name} ({c.insee})" for c in self.communes)
            or "communes non déterminées",
            "parametres": "; ".join(f"{k.lower()} : {v}" for k, v in self.params_text) or "aucun",
            "exercice": "EXERCICE — " if e.is_drill else "",
        }


def _km(metres: float | None) -> str:
    if not metres:
        return ""
    if metres < 1000:
        return f"{fr.integer(metres)} m"
    return f"{fr.decimal(metres / 1000, 1)} km"


def _join(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " et " + names[-1]


def _level_history(db: sqlite_utils.Database, event: Event) -> tuple[tuple[str, int], ...]:
    history: list[tuple[str, int]] = []
    for r in rows(
        db,
        "SELECT at, action, details FROM audit_log WHERE event_id = ?"
        " AND action IN ('event.declared', 'event.level_changed') ORDER BY seq",
        [event.id],
    ):
        details = json.loads(r["details"] or "{}")
        level = details.get("level") if r["action"] == "event.declared" else details.get("to")
        if isinstance(level, int):
            history.append((r["at"], level))
    if not history:
        history.append((event.declared_at, event.level))
    return tuple(history)


def _restricted(db: sqlite_utils.Database, event_id: int) -> bool:
    """Whether restricted data entered the event (the reports' one rule: a grant was ever
    active, or a report is DIFFUSION RESTREINTE)."""
    return reports.restricted_entered(db, event_id)


def _zones(
    db: sqlite_utils.Database, event: Event, index: Any
) -> tuple[tuple[ZoneFacts, ...], int | None, str | None]:
    latest = latest_zones(db, event.id)
    if latest is None:
        return (), None, None
    impact = None
    try:
        if index is None:
            index = index_cache.index_for(db)
        impact = situation.event_impact(db, index, event, latest)
    except (KeyError, ValueError) as exc:  # a layer missing: zones without communes
        log.warning("communes of event %s not found: %s", event.id, exc)
    out = []
    for feature in latest["geojson"].get("features", []):
        p = feature.get("properties") or {}
        communes: tuple[Commune, ...] = ()
        population = None
        if impact is not None:
            try:
                zi = impact.zone(p["id"])
            except KeyError:
                zi = None
            if zi is not None:
                communes = tuple(
                    sorted(
                        (Commune(str(c["insee"]), str(c["name"])) for c in zi.communes),
                        key=lambda c: c.name,
                    )
                )
                if zi.population:
                    population = int(zi.population.get("rounded") or 0)
        out.append(
            ZoneFacts(
                id=str(p.get("id", "")),
                label=str(p.get("label", "Zone")),
                level=str(p.get("level", "")),
                threshold=str(p.get("threshold", "")),
                distance_m=p.get("distance_m"),
                geometry=feature["geometry"],
                communes=communes,
                population=population,
                distance_source=str(p.get("distance_source") or "playbook"),
            )
        )
    return tuple(out), latest["version"], latest["computed_at"]


def load_facts(
    db: sqlite_utils.Database,
    now: datetime,
    event: Event,
    playbook: Playbook | None = None,
    *,
    index: Any = None,
) -> EventFacts:
    """Read the facts of ``event`` that messages need (``index``: the spatial index to use)."""
    zones, version, computed_at = _zones(db, event, index)
    casualties = row(
        db, "SELECT * FROM casualty_reports WHERE event_id = ? ORDER BY id DESC LIMIT 1", [event.id]
    )
    # Evacuation figures: the reception centres of the event (app.pcs.centres), when one opened.
    evacuation = centres.evacuation_figures(db, event.id)
    return EventFacts(
        event=event,
        now=now,
        playbook_id=event.kind,
        playbook_title=playbook.title if playbook else event.kind,
        hazard=playbook.hazard if playbook else "",
        zones=zones,
        zones_version=version,
        zones_computed_at=computed_at,
        level_history=_level_history(db, event),
        casualties=casualties,
        evacuated=evacuation[0] if evacuation else None,
        displaced=evacuation[1] if evacuation else None,
        restricted=_restricted(db, event.id),
        params_text=tuple(
            events.describe_params(
                playbook, {k: v for k, v in event.params.items() if v not in (None, "")}
            )
        ),
        templates={str(k): v for k, v in playbook.messages.items()} if playbook else {},
    )


def paris_offset_time(when: datetime | str) -> str:
    """ISO-8601 with the Paris offset written out (``2026-11-23T14:00:00+01:00``), as CAP and
    EMSI partners read it."""
    from ..clock import PARIS

    if isinstance(when, str):
        when = parse_iso(when)
    return when.astimezone(PARIS).isoformat(timespec="seconds")
