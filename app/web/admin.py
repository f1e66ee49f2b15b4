"""Administration: users and organisations. The admin role reads no restricted data, and cannot
give itself the glass: a role that can hold grants, and a director's new password, wait for a
director's confirmation (four eyes, ``app.auth``; the director confirms in ``accounts``)."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from werkzeug.wrappers import Response

from .. import auth
from .context import get_db, now, require_user
from .htmx import render
from .notices import done, refused
from .security import allow

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _page(
    form_error: str | None = None, form: dict[str, object] | None = None, status: int = 200
) -> Response:
    db = get_db()
    pending = auth.list_requests(db)
    waiting: dict[int, list[auth.AccountRequest]] = {}
    for r in pending:
        waiting.setdefault(r.user_id, []).append(r)
    return render(
        "admin/users.html",
        "admin/_user_form.html",
        status=status,
        users=auth.list_users(db),
        orgs=auth.list_organisations(db),
        roles=auth.ROLES,
        grant_roles=auth.GRANT_HOLDING_ROLES,
        pending=pending,
        waiting=waiting,
        form_error=form_error,
        form=form or {},
    )


def _back() -> str:
    return url_for("admin.list_users")


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
        user = auth.add_user(
            get_db(),
            now(),
            str(form["login"]),
            name=str(form["name"]),
            org_slug=str(form["org"]),
            roles=list(form["roles"]),
            password=request.form.get("password", ""),
            actor=actor,
            four_eyes=True,
        )
    except auth.AuthError as exc:
        return _page(str(exc), form, status=422)
    waiting = auth.pending_roles(get_db(), user.id)
    message = f"Compte {user.login} créé."
    if waiting:
        labels = ", ".join(auth.ROLES[r] for r in waiting)
        message += f" En attente de la confirmation d'un directeur : {labels}."
    return done(message, _back(), level="warn" if waiting else "ok")


@bp.post("/users/<login>/password")
@allow("admin")
def change_password(login: str) -> Response:
    try:
        pending = auth.set_password(
            get_db(),
            now(),
            login,
            request.form.get("password", ""),
            actor=require_user().login,
            four_eyes=True,
        )
    except auth.AuthError as exc:
        if exc.status == 404:
            raise
        return refused(exc.message, _back())
    if pending is not None:
        return done(
            f"Nouveau mot de passe de {login} enregistré en attente : un directeur doit le"
            " confirmer ; l'ancien reste valable d'ici là.",
            _back(),
            level="warn",
        )
    return done(f"Mot de passe de {login} changé ; ses sessions sont fermées.", _back())


@bp.post("/users/<login>/roles")
@allow("admin")
def add_role(login: str) -> Response:
    role = request.form.get("role", "")
    try:
        pending = auth.add_role(
            get_db(), now(), login, role, actor=require_user().login, four_eyes=True
        )
    except auth.AuthError as exc:
        if exc.status == 404:
            raise
        return refused(exc.message, _back())
    label = auth.ROLES[role]
    if pending is not None:
        return done(
            f"Rôle « {label} » demandé pour {login} : il prendra effet quand un directeur l'aura"
            " confirmé.",
            _back(),
            level="warn",
        )
    return done(f"Rôle « {label} » donné à {login}.", _back())


@bp.post("/users/<login>/roles/<role>/remove")
@allow("admin")
def remove_role(login: str, role: str) -> Response:
    try:
        auth.remove_role(get_db(), now(), login, role, actor=require_user().login)
    except auth.AuthError as exc:
        if exc.status == 404:
            raise
        return refused(exc.message, _back())
    return done(f"Rôle « {auth.ROLES.get(role, role)} » retiré à {login}.", _back())


@bp.post("/requests/<int:request_id>/cancel")
@allow("admin")
def cancel_request(request_id: int) -> Response:
    try:
        found = auth.cancel_request(get_db(), now(), require_user().login, request_id)
    except auth.AuthError as exc:
        if exc.status == 404:
            raise
        return refused(exc.message, _back())
    return done(f"Demande retirée : {found.label}.", _back())


def _target(login: str) -> auth.User:
    user = auth.get_user_by_login(get_db(), login)
    if user is None:
        raise auth.UnknownUser(f"Utilisateur inconnu : {login}.")
    return user


@bp.get("/users/<login>/disable")
@allow("admin")
def confirm_disable(login: str) -> Response:
    """Disabling (or re-enabling) asks for confirmation first: this page."""
    return render("admin/disable.html", target=_target(login))


@bp.post("/users/<login>/disable")
@allow("admin")
def disable_user(login: str) -> Response:
    target = _target(login)
    if login == require_user().login:
        raise auth.AuthError("Vous ne pouvez pas désactiver votre propre compte.")
    disabled = request.form.get("disabled", "1") == "1"
    if request.form.get("confirmed") != "1":
        return render("admin/disable.html", target=target)
    auth.set_disabled(get_db(), now(), login, disabled, actor=require_user().login)
    if disabled:
        return done(
            f"Compte {login} désactivé : ses sessions et jetons d'API sont fermés.", _back()
        )
    return done(f"Compte {login} réactivé.", _back())
