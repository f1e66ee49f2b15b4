"""The demo territory's agreements (synthetic, for the fictitious operators' restricted data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlite_utils

from .. import auth
from ..db import scalar
from ..records import Agreement
from .agreements import list_agreements, sign_agreement
from .policy import dataset

DEMO_AGREEMENTS: tuple[dict[str, Any], ...] = (
    {
        "steward": "steward",
        "dataset": "gas-network",
        "roles": ["liaison", "cell", "director"],
        "event_kinds": ["toxic-release", "gas-pipeline-leak", "explosion", "seine-flood"],
        "drills_allowed": True,
        "max_duration_min": 120,
        "approval": "none",
        "scope": "zone",
        "margin_m": 200.0,
        "fields": ["id", "pressure", "diameter_mm", "material"],
    },
    {
        "steward": "steward",
        "dataset": "gas-assets",
        "roles": ["liaison", "cell", "director"],
        "event_kinds": ["toxic-release", "gas-pipeline-leak", "explosion", "seine-flood"],
        "drills_allowed": True,
        "max_duration_min": 120,
        "approval": "none",
        "scope": "zone",
        "margin_m": 200.0,
        "fields": ["id", "type", "name"],
    },
    {
        "steward": "steward-grtgaz",
        "dataset": "gas-transport",
        "roles": ["cell", "director"],
        "event_kinds": ["gas-pipeline-leak", "explosion"],
        "drills_allowed": True,
        "max_duration_min": 180,
        "approval": "none",
        "scope": "zone",
        "margin_m": 500.0,
        "fields": ["id", "name", "diameter_mm", "pressure_bar"],
    },
    {
        "steward": "steward-enedis",
        "dataset": "power-network",
        "roles": ["liaison", "cell", "director"],
        "event_kinds": ["seine-flood", "explosion", "gas-pipeline-leak"],
        "drills_allowed": True,
        "max_duration_min": 240,
        "approval": "none",
        "scope": "zone",
        "margin_m": 200.0,
        "fields": ["id", "voltage", "underground"],
    },
    {
        "steward": "steward-enedis",
        "dataset": "power-assets",
        "roles": ["liaison", "cell", "director"],
        "event_kinds": ["seine-flood", "explosion"],
        "drills_allowed": True,
        "max_duration_min": 240,
        "approval": "none",
        "scope": "zone",
        "margin_m": 200.0,
        "fields": ["id", "type", "name"],
    },
    {
        "steward": "steward-eau",
        "dataset": "water-network",
        "roles": ["liaison", "cell", "director"],
        "event_kinds": ["seine-flood", "industrial-fire"],
        "drills_allowed": True,
        "max_duration_min": 240,
        "approval": "none",
        "scope": "zone",
        "margin_m": 200.0,
        "fields": ["id", "diameter_mm", "material"],
    },
    {
        "steward": "steward-eau",
        "dataset": "water-assets",
        "roles": ["liaison", "cell", "director"],
        "event_kinds": ["seine-flood", "industrial-fire"],
        "drills_allowed": True,
        "max_duration_min": 240,
        "approval": "none",
        "scope": "zone",
        "margin_m": 200.0,
        "fields": ["id", "type", "name"],
    },
    {
        "steward": "steward-ccas",
        "dataset": "vulnerable-persons",
        "roles": ["cell", "director"],
        "event_kinds": ["*"],
        "drills_allowed": True,
        "max_duration_min": 240,
        "approval": "second_person",
        "scope": "zone",
        "margin_m": 0.0,
        "fields": ["id", "name", "address", "needs", "phone"],
    },
    {
        "steward": "steward-chimie",
        "dataset": "plant-inventory",
        "roles": ["cell", "director"],
        "event_kinds": ["toxic-release", "industrial-fire", "explosion"],
        "drills_allowed": True,
        "max_duration_min": 240,
        "approval": "none",
        "scope": "territory",
        "margin_m": 0.0,
        "fields": ["id", "site_id", "name", "substance", "quantity_t", "storage"],
    },
)


def demo_agreements(db: sqlite_utils.Database, now: datetime) -> list[Agreement]:
    """Sign the demo agreements where the dataset and steward exist and none is signed yet."""
    out = []
    for spec in DEMO_AGREEMENTS:
        steward = auth.get_user_by_login(db, spec["steward"])
        if steward is None or not scalar(
            db, "SELECT 1 FROM datasets WHERE slug = ?", [spec["dataset"]]
        ):
            continue
        if list_agreements(db, dataset_slug=spec["dataset"]):
            continue
        terms = {k: v for k, v in spec.items() if k not in ("steward", "dataset")}
        known = dataset(db, spec["dataset"]).field_names
        if known:
            terms["fields"] = [f for f in terms["fields"] if f in known]
        out.append(sign_agreement(db, now, steward, spec["dataset"], **terms))
    return out
