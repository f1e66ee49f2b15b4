"""Signed checkpoints that someone else holds: the data owners' copies.

A checkpoint kept only on the server cannot reveal a tail cut after it, nor a log re-chained
with the checkpoint files deleted. So each owner of restricted or personal data whose datasets
appear in the log since the last checkpoint it was given receives the newest signed checkpoint:
in its steward inbox (a notification with a download link), by e-mail too when the relay and
the partner directory say where (``app.messages.mail.mail_checkpoints``). The owner keeps the
file and checks the console with ``crisis-console audit verify --checkpoint FILE``; the owner
review shows the latest one the organisation holds.

A checkpoint covers everything before it, so only the newest is given; an owner with no new
record about its data gets nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from .. import audit
from ..clock import iso, local
from ..db import row, rows, scalar, transaction
from .grants import _notify
from .policy import NotFound


@dataclass(frozen=True)
class CheckpointDelivery:
    """A checkpoint given to an organisation: the exact file it holds."""

    id: int
    checkpoint_id: int
    org_id: int
    seq: int
    created_at: str
    body: str

    @property
    def checkpoint(self) -> audit.Checkpoint:
        return audit.Checkpoint.from_json(self.body)

    @property
    def filename(self) -> str:
        stamp = self.checkpoint.signed_at.replace(":", "").replace("-", "")
        return f"point-de-controle-{self.seq:09d}-{stamp}.json"


def _delivery(r: dict[str, Any]) -> CheckpointDelivery:
    return CheckpointDelivery(
        r["id"], r["checkpoint_id"], r["org_id"], r["seq"], r["created_at"], r["body"]
    )


def get_checkpoint_delivery(db: sqlite_utils.Database, delivery_id: int) -> CheckpointDelivery:
    r = row(db, "SELECT * FROM checkpoint_deliveries WHERE id = ?", [delivery_id])
    if r is None:
        raise NotFound("Point de contrôle introuvable.")
    return _delivery(r)


def held_checkpoint(db: sqlite_utils.Database, org_id: int) -> CheckpointDelivery | None:
    """The newest checkpoint the organisation was given, if any."""
    r = row(
        db,
        "SELECT * FROM checkpoint_deliveries WHERE org_id = ? ORDER BY seq DESC, id DESC LIMIT 1",
        [org_id],
    )
    return _delivery(r) if r else None


def _owners(db: sqlite_utils.Database) -> dict[int, list[str]]:
    """Organisations owning restricted or personal data, with their dataset slugs."""
    out: dict[int, list[str]] = {}
    for r in rows(
        db,
        "SELECT owner_org_id, slug FROM datasets WHERE sensitivity != 'public'"
        " ORDER BY owner_org_id, slug",
    ):
        out.setdefault(r["owner_org_id"], []).append(r["slug"])
    return out


def _file(cp: dict[str, Any], signer: audit.Signer) -> str | None:
    """The checkpoint file of a stored checkpoint (None when signed by another key)."""
    found = audit.stored_checkpoint(cp, signer.public_key())
    return found.to_json() if found is not None else None


def deliver_to_owners(
    db: sqlite_utils.Database, now: datetime, signer: audit.Signer
) -> list[CheckpointDelivery]:
    """Give the newest signed checkpoint to each owner whose data the log mentions since the
    checkpoint it holds (idempotent: a second run gives nothing more). Returns what was given."""
    latest = row(db, "SELECT * FROM audit_checkpoints ORDER BY seq DESC, id DESC LIMIT 1")
    if latest is None:
        return []
    body = _file(latest, signer)
    if body is None:
        return []
    given = []
    for org_id, slugs in _owners(db).items():
        with transaction(db):
            last = int(
                scalar(db, "SELECT max(seq) FROM checkpoint_deliveries WHERE org_id = ?", [org_id])
                or 0
            )
            if latest["seq"] <= last:
                continue
            marks = ",".join("?" * len(slugs))
            about = scalar(
                db,
                "SELECT 1 FROM audit_log WHERE seq > ? AND seq <= ?"
                f" AND json_extract(details, '$.dataset') IN ({marks}) LIMIT 1",
                [last, latest["seq"], *slugs],
            )
            if not about:
                continue
            cur = db.execute(
                "INSERT INTO checkpoint_deliveries (checkpoint_id, org_id, seq, created_at, body)"
                " VALUES (?,?,?,?,?)",
                [latest["id"], org_id, latest["seq"], iso(now), body],
            )
            delivery_id = int(cur.lastrowid or 0)
            _notify(
                db,
                now,
                org_id,
                "checkpoint",
                None,
                None,
                f"Point de contrôle signé n° {latest['seq']} du journal d'audit"
                f" ({local(latest['signed_at'])}) : téléchargez-le et conservez-le hors de la"
                " console ; il permet de vérifier plus tard que le journal des accès à vos"
                " données n'a été ni coupé ni réécrit (crisis-console audit verify"
                " --checkpoint FICHIER).",
                checkpoint_delivery_id=delivery_id,
            )
            audit.append(
                db,
                now,
                "audit.checkpoint_delivered",
                actor="system",
                object_type="checkpoint_delivery",
                object_id=delivery_id,
                details={"org_id": org_id, "seq": latest["seq"], "datasets": slugs},
            )
        given.append(get_checkpoint_delivery(db, delivery_id))
    return given
