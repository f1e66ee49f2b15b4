"""The audit page and the audit head API (who sees which records: ``audit.visible_records``)."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, url_for
from werkzeug.wrappers import Response

from .. import access, audit
from . import api_models as m
from .context import get_db, now, require_user, signer
from .htmx import render
from .openapi import describe
from .params import int_arg
from .security import allow

bp = Blueprint("audit", __name__)

PAGE = 200


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
        records=audit.visible_records(db, require_user(), PAGE, before=int_arg("before", "before")),
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
    access.deliver_to_owners(get_db(), now(), signer())  # the owners' copies (e-mail: scheduler)
    return redirect(url_for("audit.index"))


@bp.get("/api/v1/audit/head")
@allow()
@describe("La tête de la chaîne d'audit", tag="Audit", response=m.AuditHead)
def api_head() -> Response:
    seq, digest = audit.head(get_db())
    return jsonify(seq=seq, hash=digest)
