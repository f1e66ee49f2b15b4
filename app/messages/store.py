"""Reading messages and their frozen content (no writes): shared by ``service`` and ``mail``."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from ..db import row, rows
from .records import EMITTED, Content, Message, Recipient

_MESSAGE_SQL = (
    "SELECT m.*, a.name AS author_name, v.name AS validated_by_name, s.name AS emitted_by_name"
    " FROM messages m JOIN users a ON a.id = m.author_id"
    " LEFT JOIN users v ON v.id = m.validated_by LEFT JOIN users s ON s.id = m.emitted_by"
)
_CONTENT_COLUMNS = (
    "message_id, created_at, msg_type, identifier, refs, sent, zones_version, level, media_type,"
    " filename, sha256, length(body) AS size, recipients"
)


def _content(r: dict[str, Any]) -> Content:
    return Content(
        message_id=r["message_id"],
        created_at=r["created_at"],
        msg_type=r["msg_type"],
        identifier=r["identifier"],
        references=tuple(json.loads(r["refs"])),
        sent=r["sent"],
        zones_version=r["zones_version"],
        level=r["level"],
        media_type=r["media_type"],
        filename=r["filename"],
        sha256=r["sha256"],
        size=r["size"],
        recipients=tuple(Recipient.from_dict(d) for d in json.loads(r["recipients"])),
    )


def _message(db: sqlite_utils.Database, r: dict[str, Any]) -> Message:
    c = row(db, f"SELECT {_CONTENT_COLUMNS} FROM message_contents WHERE message_id = ?", [r["id"]])
    return Message(
        id=r["id"],
        event_id=r["event_id"],
        kind=r["kind"],
        template=r["template"],
        status=r["status"],
        is_drill=bool(r["is_drill"]),
        subject=r["subject"],
        fields=json.loads(r["fields"]),
        recipient_ids=tuple(json.loads(r["recipients"])),
        report_id=r["report_id"],
        author_id=r["author_id"],
        author_name=r["author_name"],
        editors=tuple(json.loads(r["editors"])),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        validated_by=r["validated_by"],
        validated_by_name=r["validated_by_name"],
        validated_at=r["validated_at"],
        emitted_by=r["emitted_by"],
        emitted_by_name=r["emitted_by_name"],
        emitted_at=r["emitted_at"],
        cancelled_by=r["cancelled_by"],
        cancelled_at=r["cancelled_at"],
        cancel_reason=r["cancel_reason"],
        content=_content(c) if c else None,
    )


def get_message(db: sqlite_utils.Database, message_id: int) -> Message | None:
    """A message by id, with its frozen content's metadata (not the bytes)."""
    r = row(db, _MESSAGE_SQL + " WHERE m.id = ?", [message_id])
    return _message(db, r) if r else None


def list_messages(
    db: sqlite_utils.Database, event_id: int, *, status: str | None = None
) -> list[Message]:
    """The event's messages, newest first."""
    sql = _MESSAGE_SQL + " WHERE m.event_id = ?"
    params: list[Any] = [event_id]
    if status:
        sql += " AND m.status = ?"
        params.append(status)
    return [_message(db, r) for r in rows(db, sql + " ORDER BY m.id DESC", params)]


def content(db: sqlite_utils.Database, message_id: int) -> tuple[Content, bytes] | None:
    """The exact bytes of a validated or emitted message, with their metadata."""
    r = row(
        db,
        f"SELECT {_CONTENT_COLUMNS}, body FROM message_contents WHERE message_id = ?",
        [message_id],
    )
    if r is None:
        return None
    return _content(r), bytes(r["body"])


def emitted(db: sqlite_utils.Database, event_id: int, kind: str) -> list[Message]:
    """The event's emitted messages of a kind, in emission order."""
    found = rows(
        db,
        _MESSAGE_SQL + " WHERE m.event_id = ? AND m.kind = ? AND m.status = ?"
        " ORDER BY m.emitted_at, m.id",
        [event_id, kind, EMITTED],
    )
    return [_message(db, r) for r in found]
