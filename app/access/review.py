"""The owner review: every grant on an organisation's data for an event, and every read of it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlite_utils

from .. import audit, auth
from ..clock import iso
from ..db import row, rows
from ..records import (
    DATASET_SQL,
    EVENT_SQL,
    Dataset,
    Event,
    Grant,
    dataset_from_row,
    event_from_row,
)
from .checkpoints import CheckpointDelivery, held_checkpoint
from .grants import list_grants
from .policy import AccessDenied, NotFound, _event


@dataclass(frozen=True)
class Review:
    """Everything an owner needs to check an event against its agreements."""

    org: dict[str, Any]
    event: Event
    grants: list[Grant]
    reads: list[dict[str, Any]]
    refusals: list[dict[str, Any]]
    head_seq: int
    head_hash: str
    checkpoint: dict[str, Any] | None
    generated_at: str
    # What the cell recorded about the data's subjects (call campaign: listed, status,
    # assigned), each naming the dataset: the owner reviews it with the reads.
    changes: list[dict[str, Any]] = field(default_factory=list)
    # Every audit record of the event naming one of the organisation's datasets (grants, reads,
    # refusals, changes): what the review covers, to check against the checkpoints held.
    audit_seqs: list[int] = field(default_factory=list)
    # The organisation's datasets (slug -> title, sensitivity) and the signed checkpoints that
    # cover the first of those records or later (the ones delivered to the owner).
    datasets: dict[str, dict[str, str]] = field(default_factory=dict)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    held: CheckpointDelivery | None = None  # the newest checkpoint the owner was given


def owner_review(db: sqlite_utils.Database, now: datetime, org_id: int, event_id: int) -> Review:
    """Every grant on the organisation's data for the event, and every read of it."""
    org = row(db, "SELECT * FROM organisations WHERE id = ?", [org_id])
    if org is None:
        raise NotFound("Organisation inconnue.")
    event = _event(db, event_id)
    owned = rows(
        db,
        "SELECT slug, title, sensitivity FROM datasets WHERE owner_org_id = ? ORDER BY title",
        [org_id],
    )
    slugs = [r["slug"] for r in owned]
    grants = list_grants(db, event_id=event_id, org_id=org_id)
    reads: list[dict[str, Any]] = []
    refusals: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    if slugs:
        marks = ",".join("?" * len(slugs))
        for r in rows(
            db,
            "SELECT seq, at, actor, action, details FROM audit_log WHERE event_id = ?"
            " AND (action IN ('data.read','data.denied','grant.refused') OR action LIKE 'call.%')"
            f" AND json_extract(details, '$.dataset') IN ({marks}) ORDER BY seq",
            [event_id, *slugs],
        ):
            r["details"] = json.loads(r["details"])
            if r["action"].startswith("call."):
                changes.append(r)
            else:
                (reads if r["action"] == "data.read" else refusals).append(r)
    seqs: list[int] = []
    if slugs:
        marks = ",".join("?" * len(slugs))
        seqs = [
            r["seq"]
            for r in rows(
                db,
                "SELECT seq FROM audit_log WHERE event_id = ?"
                f" AND json_extract(details, '$.dataset') IN ({marks}) ORDER BY seq",
                [event_id, *slugs],
            )
        ]
    seq, digest = audit.head(db)
    return Review(
        org=org,
        event=event,
        grants=grants,
        reads=reads,
        refusals=refusals,
        head_seq=seq,
        head_hash=digest,
        checkpoint=audit.last_checkpoint(db),
        generated_at=iso(now),
        changes=changes,
        audit_seqs=seqs,
        datasets={r["slug"]: {"title": r["title"], "sensitivity": r["sensitivity"]} for r in owned},
        checkpoints=checkpoints_from(db, seqs[0]) if seqs else [],
        held=held_checkpoint(db, org_id),
    )


def checkpoints_from(db: sqlite_utils.Database, seq: int) -> list[dict[str, Any]]:
    """The signed checkpoints covering audit record ``seq`` (their size is at least ``seq``),
    oldest first: each witnesses the records up to it."""
    return rows(
        db,
        "SELECT id, seq, hash, signed_at, reason, key_id FROM audit_checkpoints WHERE seq >= ?"
        " ORDER BY id",
        [seq],
    )


def review_events(db: sqlite_utils.Database, org_id: int | None) -> list[Event]:
    """Events with at least one grant on the organisation's data (all events if org is None)."""
    sql = EVENT_SQL
    params: list[Any] = []
    if org_id is not None:
        sql += (
            " WHERE e.id IN (SELECT g.event_id FROM grants g JOIN datasets d"
            " ON d.id = g.dataset_id WHERE d.owner_org_id = ?)"
        )
        params.append(org_id)
    return [event_from_row(r) for r in rows(db, sql + " ORDER BY e.id DESC", params)]


def organisations(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every organisation (slug, name), by name."""
    return rows(db, "SELECT id, slug, name FROM organisations ORDER BY name")


def reviewable_org(db: sqlite_utils.Database, user: auth.User, org_slug: str) -> dict[str, Any]:
    """The organisation whose accesses ``user`` may review: their own, or any for a director."""
    org = row(db, "SELECT * FROM organisations WHERE slug = ?", [org_slug])
    if org is None:
        raise NotFound("Organisation inconnue.")
    if not user.has("director") and org["id"] != user.org_id:
        raise AccessDenied("Vous ne pouvez revoir que les accès aux données de votre organisation.")
    return org


def owned_restricted_datasets(db: sqlite_utils.Database, org_id: int) -> list[Dataset]:
    """The organisation's non-public datasets (a steward's agreements page), by title."""
    found = rows(
        db,
        DATASET_SQL + " WHERE d.owner_org_id = ? AND d.sensitivity != 'public' ORDER BY d.title",
        [org_id],
    )
    return [dataset_from_row(r) for r in found]
