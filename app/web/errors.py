"""Error pages in the console's style, for pages, htmx requests and the JSON API."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any, NoReturn

from flask import Flask, current_app, jsonify, make_response, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, default_exceptions

from ..errors import DomainError
from .htmx import htmx
from .rules import API_PATHS

log = logging.getLogger(__name__)

MESSAGES: dict[int, tuple[str, str]] = {
    400: ("Requête invalide", "La requête n'a pas pu être traitée."),
    403: ("Accès refusé", "Vos rôles ne permettent pas d'ouvrir cette page."),
    404: ("Page introuvable", "Cette page n'existe pas ou plus."),
    405: ("Méthode non autorisée", "Cette action n'est pas possible ici."),
    413: ("Fichier trop volumineux", "Le fichier dépasse la taille maximale acceptée."),
    422: ("Données invalides", "Les données envoyées ne sont pas valides."),
    429: ("Trop de tentatives", "Trop de requêtes en peu de temps : patientez avant de réessayer."),
    500: ("Erreur interne", "Une erreur inattendue s'est produite ; elle a été journalisée."),
    503: ("Service indisponible", "Le service est momentanément indisponible."),
    507: (
        "Espace disque plein",
        "Le serveur n'a plus d'espace disque : rien n'a été enregistré. "
        "Prévenez l'administrateur ; "
        "la consultation reste possible.",
    ),
}

STORAGE_READONLY = (
    "La base de données est en lecture seule ou inaccessible : rien n'a été enregistré. "
    "Prévenez l'administrateur ; "
    "la consultation reste possible."
)
STORAGE_IO = "Erreur d'accès au disque : rien n'a été enregistré. Prévenez l'administrateur."
STORAGE_BUSY = "La base de données est momentanément occupée : réessayez dans quelques secondes."


def error_response(
    code: int, detail: str | None = None, fields: dict[str, Any] | None = None
) -> Any:
    """Render an error as JSON for the API, as a fragment for htmx, as a page otherwise.

    ``fields`` are extra members of the JSON body (e.g. the field at fault)."""
    title, message = MESSAGES.get(code, ("Erreur", "Une erreur s'est produite."))
    if code == 413 and not detail:
        limit = current_app.config.get("CRISIS_MAX_UPLOAD_MB")
        message = f"Le fichier dépasse la taille maximale acceptée ({limit} Mo)."
    if detail:
        message = detail
    if request.path.startswith(API_PATHS):
        return jsonify(error=message, status=code, **(fields or {})), code
    if htmx:
        body = render_template("errors/_error.html", code=code, title=title, message=message)
        resp = (body, code, {"HX-Retarget": "#main", "HX-Reswap": "innerHTML"})
        return resp
    return render_template("errors/error.html", code=code, title=title, message=message), code


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(e: DomainError) -> Any:
        """The one handler of domain refusals: their status and French message, everywhere."""
        fields = e.api_fields()
        if fields.get("totp_required"):
            fields["enrol_url"] = url_for("access.totp")
        return error_response(e.status, e.message, fields)

    @app.errorhandler(CSRFError)
    def _csrf(e: CSRFError) -> Any:
        return error_response(
            400,
            "Le jeton de sécurité du formulaire est absent ou expiré. Rechargez la page puis "
            "recommencez.",
        )

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException) -> Any:
        detail = e.description if getattr(e, "crisis_detail", False) else None
        response = make_response(error_response(e.code or 500, detail))
        allowed = dict(e.get_headers()).get("Allow")
        if allowed:  # a 405 names the methods the URL takes (RFC 9110)
            response.headers["Allow"] = allowed
        return response

    @app.errorhandler(sqlite3.OperationalError)
    def _storage(e: sqlite3.OperationalError) -> Any:
        # The error name is reliable where the message is not (a full disk can surface as a
        # failed -shm resize, a read-only filesystem as "unable to open database file").
        name = getattr(e, "sqlite_errorname", "") or ""
        text = str(e).lower()
        log.error("storage error on %s %s: %s (%s)", request.method, request.path, e, name)
        if name in ("SQLITE_FULL", "SQLITE_IOERR_SHMSIZE") or "disk is full" in text:
            return error_response(507)
        if (
            name.startswith("SQLITE_READONLY")
            or name == "SQLITE_CANTOPEN"
            or "readonly" in text
            or "unable to open database file" in text
        ):
            return error_response(503, STORAGE_READONLY)
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text or "busy" in text:
            return error_response(503, STORAGE_BUSY)
        if name.startswith("SQLITE_IOERR"):
            return error_response(503, STORAGE_IO)
        log.exception("unexpected storage error")
        return error_response(500)

    @app.errorhandler(Exception)
    def _crash(e: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500)


def fail(code: int, message: str) -> NoReturn:
    """Abort with a French message shown to the user (and to API clients)."""
    exc = default_exceptions[code](description=message)
    exc.crisis_detail = True  # type: ignore[attr-defined]
    raise exc
