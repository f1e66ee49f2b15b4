"""Administration: users and organisations. The admin role reads no restricted data."""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response

from .. import auth
from .context import get_db, now, require_user
from .htmx import render
from .security import allow

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _page(
    form_error: str | None = None, form: dict[str, object] | None = None, status: int = 200
) -> Response:
    return render(
        "admin/users.html",
        "admin/_user_form.html",
        status=status,
        users=auth.list_users(get_db()),
        orgs=auth.list_organisations(get_db()),
        roles=auth.ROLES,
        form_error=form_error,
        form=form or {},
    )


@bp.get("/users")
@allow("admin")
def list_users() -> Response:
    return _page()


@bp.post("/users")
@allow("admin")
def add_user() -> Response:
    actor = require_user().login
    form = {
        "login": request.form.get("login", ""),
        "name": request.form.get("name", ""),
        "org": request.form.get("org", ""),
        "roles": request.form.getlist("roles"),
    }
    try:
        auth.add_user(
            get_db(),
            now(),
            str(form["login"]),
            name=str(form["name"]),
            org_slug=str(form["org"]),
            roles=list(form["roles"]),
            password=request.form.get("password", ""),
            actor=actor,
        )
    except auth.AuthError as exc:
        return _page(str(exc), form, status=422)
    return redirect(url_for("admin.list_users"))


@bp.post("/users/<login>/password")
@allow("admin")
def change_password(login: str) -> Response:
    auth.set_password(
        get_db(), now(), login, request.form.get("password", ""), actor=require_user().login
    )
    return redirect(url_for("admin.list_users"))


@bp.post("/users/<login>/disable")
@allow("admin")
def disable_user(login: str) -> Response:
    if login == require_user().login:
        raise auth.AuthError("Vous ne pouvez pas désactiver votre propre compte.")
    disabled = request.form.get("disabled", "1") == "1"
    auth.set_disabled(get_db(), now(), login, disabled, actor=require_user().login)
    return redirect(url_for("admin.list_users"))
