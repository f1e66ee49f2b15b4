"""Helpers for the access tests (no tests here): a tiny world of datasets, features and events.

Around a point in Lillebonne: a gas network (GRDF, restricted) and a register of vulnerable
persons (CCAS, personal), each with features inside the event's zone and far outside it, and an
open toxic-release event whose zone is a small square around the point.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import access, audit, auth
from app.clock import iso
from app.db import scalar, transaction

LON, LAT = 0.535, 49.520
D = 0.01  # half-size of the zone square, in degrees (~700 m x 1.1 km)
MARKER = "VALEUR-SECRETE-HORS-LISTE"  # a property value no agreement ever whitelists

GAS_FIELDS = ["id", "pressure", "diameter_mm", "material", "note"]
VP_FIELDS = ["id", "name", "address", "needs", "phone", "birth_year"]


@dataclass
class World:
    event_id: int
    drill_id: int
    gas_inside: list[str]
    gas_outside: list[str]
    vp_inside: list[str]
    vp_outside: list[str]


def add_dataset(
    db: Any, now: datetime, slug: str, org: str, sensitivity: str, geometry: str, fields: list[str]
) -> int:
    org_id = scalar(db, "SELECT id FROM organisations WHERE slug = ?", [org])
    with transaction(db):
        cur = db.execute(
            "INSERT INTO datasets (slug, title, owner_org_id, theme, geometry_type, sensitivity,"
            " id_field, fields, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                slug,
                f"Jeu {slug}",
                org_id,
                "network" if geometry == "LineString" else "population",
                geometry,
                sensitivity,
                "id",
                json.dumps([{"name": f, "type": "str"} for f in fields]),
                iso(now),
                iso(now),
            ],
        )
    return int(cur.lastrowid)


def add_feature(db: Any, dataset_id: int, fid: str, geometry: dict, props: dict) -> None:
    coords = geometry["coordinates"]
    pts = [coords] if geometry["type"] == "Point" else coords
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    with transaction(db):
        db.execute(
            "INSERT INTO features (dataset_id, fid, geometry, properties, minx, miny, maxx, maxy)"
            " VALUES (?,?,?,?,?,?,?,?)",
            [
                dataset_id,
                fid,
                json.dumps(geometry),
                json.dumps(props),
                min(xs),
                min(ys),
                max(xs),
                max(ys),
            ],
        )


def add_event(
    db: Any,
    now: datetime,
    *,
    kind: str = "toxic-release",
    drill: bool = False,
    zone: bool = True,
    lon: float = LON,
    lat: float = LAT,
) -> int:
    director = scalar(db, "SELECT id FROM users WHERE login = 'director'")
    with transaction(db):
        cur = db.execute(
            "INSERT INTO events (kind, title, is_drill, status, declared_by, declared_at, lon, lat)"
            " VALUES (?,?,?,'open',?,?,?,?)",
            [kind, f"Événement {kind}", 1 if drill else 0, director, iso(now), lon, lat],
        )
        event_id = int(cur.lastrowid)
        if zone:
            square = [
                [lon - D, lat - D],
                [lon + D, lat - D],
                [lon + D, lat + D],
                [lon - D, lat + D],
                [lon - D, lat - D],
            ]
            fc = {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "id": "z1",
                        "geometry": {"type": "Polygon", "coordinates": [square]},
                        "properties": {"id": "z1"},
                    }
                ],
            }
            db.execute(
                "INSERT INTO event_zones (event_id, version, computed_at, params, geojson)"
                " VALUES (?,?,?,?,?)",
                [event_id, 1, iso(now), "{}", json.dumps(fc)],
            )
    return event_id


def close_event(db: Any, now: datetime, event_id: int, revoke: bool = True) -> None:
    with transaction(db):
        db.execute(
            "UPDATE events SET status = 'closed', closed_at = ? WHERE id = ?", [iso(now), event_id]
        )
        if revoke:
            access.revoke_for_event(db, now, event_id, user(db, "director"))
        # A state change and its audit record in one transaction (the record seals the event).
        audit.append(db, now, "event.closed", object_type="event", object_id=event_id,
                     event_id=event_id)  # fmt: skip


def build_world(db: Any, now: datetime) -> World:
    gas = add_dataset(db, now, "gas-network", "grdf", "restricted", "LineString", GAS_FIELDS)
    vp = add_dataset(
        db, now, "vulnerable-persons", "ccas-lillebonne", "personal", "Point", VP_FIELDS
    )
    gas_inside, gas_outside, vp_inside, vp_outside = [], [], [], []
    for i in range(3):
        fid = f"DEMO-GAS-IN-{i}"
        line = {
            "type": "LineString",
            "coordinates": [[LON - 0.004 + i * 0.002, LAT], [LON + i * 0.002, LAT + 0.003]],
        }
        add_feature(
            db,
            gas,
            fid,
            line,
            {"id": fid, "pressure": "MPB", "diameter_mm": 110, "material": "PE", "note": MARKER},
        )
        gas_inside.append(fid)
    for i in range(2):
        fid = f"DEMO-GAS-OUT-{i}"
        line = {
            "type": "LineString",
            "coordinates": [[LON + 0.1, LAT + 0.05 * i], [LON + 0.11, LAT + 0.05 * i]],
        }
        add_feature(
            db,
            gas,
            fid,
            line,
            {"id": fid, "pressure": "BP", "diameter_mm": 63, "material": "acier", "note": MARKER},
        )
        gas_outside.append(fid)
    for i in range(2):
        fid = f"DEMO-VP-IN-{i}"
        pt = {"type": "Point", "coordinates": [LON + 0.001 * i, LAT - 0.002]}
        add_feature(
            db,
            vp,
            fid,
            pt,
            {
                "id": fid,
                "name": f"FICTIF — Personne {i}",
                "address": "1 rue Fictive",
                "needs": "oxygène",
                "phone": "0600000000",
                "birth_year": 1930,
            },
        )
        vp_inside.append(fid)
    fid = "DEMO-VP-OUT-0"
    add_feature(
        db,
        vp,
        fid,
        {"type": "Point", "coordinates": [LON + 0.2, LAT + 0.1]},
        {
            "id": fid,
            "name": "FICTIF — Loin",
            "address": "x",
            "needs": "y",
            "phone": "0600000001",
            "birth_year": 1940,
        },
    )
    vp_outside.append(fid)
    event_id = add_event(db, now)
    drill_id = add_event(db, now, drill=True)
    return World(event_id, drill_id, gas_inside, gas_outside, vp_inside, vp_outside)


def user(db: Any, login: str) -> auth.User:
    found = auth.get_user_by_login(db, login)
    assert found is not None
    return found


def sign_gas(db: Any, now: datetime, **terms: Any) -> access.Agreement:
    base: dict[str, Any] = {
        "roles": ["liaison", "cell"],
        "event_kinds": ["toxic-release", "gas-pipeline-leak"],
        "drills_allowed": False,
        "max_duration_min": 120,
        "approval": "none",
        "scope": "zone",
        "margin_m": 0,
        "fields": ["pressure", "diameter_mm", "material"],
    }
    base.update(terms)
    return access.sign_agreement(db, now, user(db, "steward"), "gas-network", **base)


def sign_vp(db: Any, now: datetime, **terms: Any) -> access.Agreement:
    base: dict[str, Any] = {
        "roles": ["cell", "director"],
        "event_kinds": ["*"],
        "drills_allowed": True,
        "max_duration_min": 240,
        "approval": "second_person",
        "scope": "zone",
        "fields": ["name", "address", "needs", "phone"],
    }
    base.update(terms)
    return access.sign_agreement(db, now, user(db, "steward-ccas"), "vulnerable-persons", **base)


JUSTIFICATION = "Fuite suspectée sur le réseau, repérage des vannes pour les pompiers."
