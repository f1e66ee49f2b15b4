"""The audit log: append-only, hash-chained, verifiable.

``hash_n = sha256(bytes(hash_{n-1}) || 0x00 || canonical_json(record_n))``; the genesis
``prev_hash`` is 64 zeros. Triggers refuse UPDATE and DELETE (they stop bugs, not attackers);
signed checkpoints kept outside the database catch a rewrite or a truncated tail.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from .clock import iso

GENESIS = "0" * 64

RECORD_FIELDS = ("seq", "at", "actor", "action", "object_type", "object_id", "event_id", "details")


def canonical(record: dict[str, Any]) -> bytes:
    """Canonical JSON of a record: sorted keys, no spaces, UTF-8."""
    body = {k: record[k] for k in RECORD_FIELDS}
    if isinstance(body["details"], str):
        body["details"] = json.loads(body["details"])
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, record: dict[str, Any]) -> str:
    """The hash of a record chained to its predecessor's hash."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + b"\x00" + canonical(record)).hexdigest()


def head(db: sqlite_utils.Database) -> tuple[int, str]:
    """The last record's sequence number and hash ((0, GENESIS) when empty)."""
    cur = db.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    return (cur[0], cur[1]) if cur else (0, GENESIS)


def append(
    db: sqlite_utils.Database,
    now: datetime,
    action: str,
    *,
    actor: str | None = None,
    object_type: str | None = None,
    object_id: Any = None,
    event_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Append one record; must run inside the transaction of the change it records."""
    if not db.conn.in_transaction:
        raise RuntimeError("audit.append must run inside the transaction of the change")
    seq, prev = head(db)
    record = {
        "seq": seq + 1,
        "at": iso(now),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "event_id": event_id,
        "details": details or {},
    }
    digest = chain_hash(prev, record)
    db.execute(
        "INSERT INTO audit_log (seq, at, actor, action, object_type, object_id, event_id,"
        " details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            record["seq"],
            record["at"],
            actor,
            action,
            object_type,
            record["object_id"],
            event_id,
            json.dumps(record["details"], sort_keys=True, ensure_ascii=False),
            prev,
            digest,
        ),
    )
    return int(record["seq"])


@dataclass(frozen=True)
class Verification:
    """The outcome of recomputing the chain."""

    ok: bool
    count: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str = ""


def verify(db: sqlite_utils.Database) -> Verification:
    """Recompute the whole chain and name the first record that does not fit."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    for rec in db.query("SELECT * FROM audit_log ORDER BY rowid"):
        count += 1
        if rec["seq"] != expected_seq:
            return Verification(
                False,
                count,
                expected_seq - 1,
                prev,
                expected_seq,
                f"record {expected_seq} missing or out of order (found seq {rec['seq']})",
            )
        if rec["prev_hash"] != prev:
            return Verification(
                False, count, rec["seq"] - 1, prev, rec["seq"], "prev_hash does not match"
            )
        try:
            digest = chain_hash(prev, rec)
        except (ValueError, TypeError) as exc:
            return Verification(False, count, rec["seq"] - 1, prev, rec["seq"], str(exc))
        if digest != rec["hash"]:
            return Verification(
                False, count, rec["seq"] - 1, prev, rec["seq"], "content does not match its hash"
            )
        prev = rec["hash"]
        expected_seq += 1
    return Verification(True, count, expected_seq - 1, prev)
