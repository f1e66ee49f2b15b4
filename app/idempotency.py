"""Idempotency keys: a write sent twice (a tablet resending after a dropped network) is done once.

A client names each write with a key of its own (``Idempotency-Key``, e.g. a UUID made on the
tablet). The first request with a key does the work and remembers, in the same transaction, a
fingerprint of what was asked and the object it made. The same key again, by the same user,
with the same request answers that object and changes nothing; with a different request it is
refused (the caller raises its 422). Keys are per user: two users cannot collide or probe each
other's keys.

This module never imports Flask: functions take the database (inside the caller's unit of work).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from .clock import iso
from .db import row

KEY_MAX = 128
_KEY = re.compile(rf"[A-Za-z0-9_.:\-]{{1,{KEY_MAX}}}")
HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class Remembered:
    """What a key already did: the request's fingerprint and the object it made."""

    fingerprint: str
    object_type: str
    object_id: int


def valid_key(key: Any) -> bool:
    """1 to 128 characters among letters, digits and ``- _ . :`` (a UUID fits)."""
    return isinstance(key, str) and _KEY.fullmatch(key) is not None


def fingerprint(operation: str, arguments: Mapping[str, Any]) -> str:
    """A stable digest of an operation and its arguments as the client sent them."""
    text = json.dumps(
        {"operation": operation, "arguments": dict(arguments)},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recall(db: sqlite_utils.Database, user_id: int, key: str) -> Remembered | None:
    """What the user's key did, or None for a new key. Call inside the write transaction."""
    r = row(
        db,
        "SELECT fingerprint, object_type, object_id FROM idempotency_keys"
        " WHERE user_id = ? AND key = ?",
        [user_id, key],
    )
    if r is None:
        return None
    return Remembered(r["fingerprint"], r["object_type"], int(r["object_id"]))


def remember(
    db: sqlite_utils.Database,
    now: datetime,
    user_id: int,
    key: str,
    digest: str,
    object_type: str,
    object_id: int,
) -> None:
    """Record what a new key made, in the transaction that made it (the primary key is the last
    guard against two writers)."""
    db.execute(
        "INSERT INTO idempotency_keys (user_id, key, fingerprint, object_type, object_id,"
        " created_at) VALUES (?,?,?,?,?,?)",
        [user_id, key, digest, object_type, object_id, iso(now)],
    )
