"""The audit page and the audit head API.

Who sees what: directors see every record; stewards see the records about their organisation's
datasets (grants, reads, agreements); the admin sees the chain's health and the administrative
actions (users, sessions, tokens, organisations) but no access record.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, jsonify, redirect, request, url_for
from werkzeug.wrappers import Response

from .. import audit
from ..db import rows
from .context import get_db, now, require_user, signer
from .htmx import render
from .security import allow

bp = Blueprint("audit", __name__)

ADMIN_PREFIXES = ("user.", "session.", "token.", "org.", "audit.", "backup.")
PAGE = 200


def visible_records(limit: int = PAGE, before: int | None = None) -> list[dict[str, Any]]:
    """The newest audit records this user may see."""
    user = require_user()
    db = get_db()
    where: list[str] = []
    params: list[Any] = []
    if before:
        where.append("seq < ?")
        params.append(before)
    if user.has("director"):
        pass
    elif user.has("steward"):
        slugs = [
            r["slug"]
            for r in rows(db, "SELECT slug FROM datasets WHERE owner_org_id = ?", [user.org_id])
        ]
        if not slugs:
            return []
        marks = ",".join("?" * len(slugs))
        where.append(f"json_extract(details, '$.dataset') IN ({marks})")
        params.extend(slugs)
    else:  # admin
        where.append("(" + " OR ".join("action LIKE ?" for _ in ADMIN_PREFIXES) + ")")
        params.extend(p + "%" for p in ADMIN_PREFIXES)
    sql = "SELECT seq, at, actor, action, object_type, object_id, event_id, details, hash"
    sql += " FROM audit_log" + (" WHERE " + " AND ".join(where) if where else "")
    out = rows(db, sql + " ORDER BY seq DESC LIMIT ?", [*params, limit])
    for r in out:
        details = json.loads(r["details"])
        if isinstance(details.get("ids"), list) and len(details["ids"]) > 10:
            details["ids"] = details["ids"][:10] + [f"… (+{len(details['ids']) - 10})"]
        r["details"] = details
    return out


def _verification() -> tuple[audit.Verification, str | None]:
    path = signer().latest_file()
    cp = None
    if path is not None:
        try:
            cp = audit.Checkpoint.from_file(path)
        except (OSError, ValueError):
            cp = None
    return audit.verify(get_db(), cp, signer().public_key()), (path.name if path else None)


def _page(result: audit.Verification | None = None, checkpoint_file: str | None = None) -> Response:
    db = get_db()
    seq, digest = audit.head(db)
    return render(
        "audit/index.html",
        "audit/_verify.html" if result is not None else None,
        records=visible_records(before=request.args.get("before", type=int)),
        head_seq=seq,
        head_hash=digest,
        checkpoint=audit.last_checkpoint(db),
        result=result,
        checkpoint_file=checkpoint_file,
    )


@bp.get("/audit")
@allow("director", "steward", "admin")
def index() -> Response:
    return _page()


@bp.post("/audit/verify")
@allow("director", "admin")
def verify_chain() -> Response:
    result, name = _verification()
    return _page(result, name)


@bp.post("/audit/checkpoint")
@allow("director", "admin")
def sign_checkpoint() -> Response:
    signer().sign(get_db(), now(), f"manual:{require_user().login}")
    return redirect(url_for("audit.index"))


@bp.get("/api/v1/audit/head")
@allow()
def api_head() -> Response:
    seq, digest = audit.head(get_db())
    return jsonify(seq=seq, hash=digest)
