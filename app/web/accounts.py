"""Four eyes on accounts: a director confirms (or refuses) what the administration asked — a role
that can hold grants, a director's new password. Until then the role grants nothing anywhere and
the password is not in use (app.auth)."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from werkzeug.wrappers import Response

from .. import auth
from .context import get_db, now, require_user
from .htmx import render
from .notices import done, refused
from .security import allow

bp = Blueprint("accounts", __name__, url_prefix="/comptes")


@bp.get("/demandes")
@allow("director")
def list_requests() -> Response:
    """The requests this director may confirm, and the latest decided ones."""
    user = require_user()
    db = get_db()
    decided = [r for r in auth.list_requests(db, status=None) if r.status != "pending"]
    return render(
        "accounts/requests.html",
        to_confirm=auth.requests_to_confirm(db, user),
        others=[r for r in auth.list_requests(db) if not auth.may_confirm(user, r)],
        decided=list(reversed(decided))[:20],
    )


def _next() -> str:
    return request.form.get("next") or url_for("accounts.list_requests")


@bp.post("/demandes/<int:request_id>/confirmer")
@allow("director")
def confirm_request(request_id: int) -> Response:
    try:
        found = auth.confirm_request(get_db(), now(), require_user(), request_id)
    except auth.AuthError as exc:
        if exc.status in (403, 404):
            raise  # a refusal of policy is an error page, not a message
        return refused(exc.message, _next())
    what = "Rôle confirmé" if found.kind == "role" else "Nouveau mot de passe confirmé"
    return done(f"{what} : {found.label}. Il prend effet maintenant.", _next())


@bp.post("/demandes/<int:request_id>/refuser")
@allow("director")
def refuse_request(request_id: int) -> Response:
    try:
        found = auth.refuse_request(
            get_db(), now(), require_user(), request_id, request.form.get("reason", "")
        )
    except auth.AuthError as exc:
        if exc.status in (403, 404):
            raise  # a refusal of policy is an error page, not a message
        return refused(exc.message, _next())
    return done(f"Demande refusée : {found.label}. Rien n'a changé pour ce compte.", _next())
