"""The API described from the code: ``@describe(...)`` on each view, the OpenAPI 3.1 document
generated from the URL map and the pydantic 2 models, and the requests checked against them.

A view of ``/api/v1/`` (or of the partners' CAP URLs, ``/cap/``) declares its operation::

    @bp.post("/api/v1/events/<int:event_id>/level")
    @allow(*events.COMMAND_ROLES)
    @describe("Changer le niveau", tag="Événements", body=LevelIn, response=EventOut,
              errors=(409,))
    def api_change_level(event_id): ...

The declaration is the truth twice: :func:`document` writes it into ``/api/v1/openapi.json``
(paths and path parameters from the URL rule, bodies and answers from the models' JSON Schema
2020-12, the security of the rule, the shared error answers), and the decorated view refuses a
request its declaration does not allow — the JSON body and the query string are validated by
the models before the view runs, with a French message naming the field (422 for a body's
values; 400 for a malformed query string, an unknown field or a body that is not a JSON
object). The view reads the parsed values with
:func:`body` and :func:`query`. ``tests/web/test_openapi.py`` fails for a route of
``/api/v1/`` without a declaration, naming what to add.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, g, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from .. import __version__, fr
from ..errors import DomainError
from .rules import rule_for

F = TypeVar("F", bound=Callable[..., Any])

API_PREFIX = "/api/v1/"
DESCRIBED_PREFIXES: tuple[str, ...] = (API_PREFIX, "/cap/")
INT_MAX = 2**63 - 1  # SQLite's largest integer (the int converter is bounded to it too)
VARIABLE = re.compile(r"<(?:[a-zA-Z_]+(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# HTTP answers every operation may give, with their French titles (app.web.errors).
ERROR_TITLES: dict[int, str] = {
    400: "Requête invalide (corps JSON absent ou illisible, jeton CSRF absent)",
    401: "Authentification requise (jeton Bearer ou session)",
    403: "Vos rôles ne permettent pas cette opération",
    404: "Introuvable",
    409: "Conflit avec l'état de l'objet",
    413: "Corps trop volumineux",
    422: "Données refusées (le champ en faute est nommé)",
    503: "Service momentanément indisponible (base occupée ou en lecture seule)",
}


class RequestError(DomainError):
    """A request refused by its declaration (body or query), with the field at fault."""

    def api_fields(self) -> dict[str, Any]:
        return {"field": self.field} if self.field else {}


@dataclass(frozen=True)
class Operation:
    """What a view declares: what it does, takes and answers."""

    summary: str
    tag: str
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None  # a JSON answer
    media: tuple[str, ...] = ("application/json",)  # other media: the bytes as they are
    status: int = 200
    errors: tuple[int, ...] = ()
    idempotent: bool = False  # honours an Idempotency-Key header
    description: str = ""


def describe(
    summary: str,
    *,
    tag: str,
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    media: str | Iterable[str] = "application/json",
    status: int = 200,
    errors: Iterable[int] = (),
    idempotent: bool = False,
    notes: str = "",
) -> Callable[[F], F]:
    """Declare the operation of an API view (see the module's docstring); ``notes``: what a
    client should know, in French (the page is read by the partners' developers)."""
    medias = (media,) if isinstance(media, str) else tuple(media)

    def mark(view: F) -> F:
        op = Operation(
            summary=summary,
            tag=tag,
            body=body,
            body_required=body_required,
            query=query,
            response=response,
            media=medias,
            status=status,
            errors=tuple(errors),
            idempotent=idempotent,
            description=" ".join(notes.split()),
        )

        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if op.query is not None:
                g.api_query = _validate(op.query, request.args.to_dict(), where="query")
            if op.body is not None and request.method in WRITE_METHODS:
                g.api_body = _validate(op.body, _json_object(op.body_required), where="body")
            return view(*args, **kwargs)

        checked.openapi = op  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return mark


def operation_of(app: Flask, endpoint: str) -> Operation | None:
    """The declaration of an endpoint, or None."""
    view = app.view_functions.get(endpoint)
    found = getattr(view, "openapi", None)
    return found if isinstance(found, Operation) else None


def body() -> Any:
    """The request's JSON body as the view's declared model (validated)."""
    return g.api_body


def query() -> Any:
    """The request's query string as the view's declared model (validated)."""
    return g.api_query


# --- checking requests --------------------------------------------------------------------------


def _json_object(required: bool) -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise RequestError("Corps JSON attendu (un objet).", status=400, field="body")
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise RequestError(
            "Corps JSON attendu (un objet), envoyé avec Content-Type: application/json.",
            status=400,
            field="body",
        )
    return data


def _validate(model: type[BaseModel], data: Any, *, where: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in error["loc"]) or where
        # As the API always did: a malformed query string or an unknown field is a bad request
        # (400); a body of the right form whose values are refused is 422.
        status = 400 if where == "query" or error["type"] == "extra_forbidden" else 422
        raise RequestError(f"« {field} » : {french(error)}", status=status, field=field) from None


def french(error: Any) -> str:
    """A pydantic error as a French sentence (the field is named by the caller)."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "valeur obligatoire."
    if kind == "extra_forbidden":
        return "champ inconnu."
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "nombre entier attendu."
    if kind in ("float_type", "float_parsing"):
        return "nombre attendu."
    if kind == "finite_number":
        return "nombre fini attendu."
    if kind in ("string_type", "string_unicode"):
        return "texte attendu."
    if kind in ("bool_type", "bool_parsing"):
        return "true ou false attendu."
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "objet attendu."
    if kind in ("list_type", "tuple_type"):
        return "liste attendue."
    if kind == "string_too_short":
        n = int(ctx.get("min_length", 1))
        return (
            "valeur obligatoire."
            if n <= 1
            else f"au moins {fr.count(n, 'caractère', 'caractères')}."
        )
    if kind == "string_too_long":
        return f"au plus {fr.count(int(ctx.get('max_length', 0)), 'caractère', 'caractères')}."
    if kind == "too_short":
        return f"au moins {fr.count(int(ctx.get('min_length', 1)), 'élément', 'éléments')}."
    if kind == "too_long":
        return f"au plus {fr.count(int(ctx.get('max_length', 0)), 'élément', 'éléments')}."
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        word = "au moins" if kind == "greater_than_equal" else "strictement plus de"
        return f"{word} {fr.number(bound, 3)}."
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        word = "au plus" if kind == "less_than_equal" else "strictement moins de"
        return f"{word} {fr.number(bound, 3)}."
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace("' or '", "' ou '")
        return f"valeur parmi {expected}."
    if kind == "string_pattern_mismatch":
        return "format non reconnu."
    if kind == "value_error":
        return str(ctx.get("error") or "valeur refusée.")
    return "valeur refusée."


# --- the document -------------------------------------------------------------------------------


def _path(rule: Any) -> tuple[str, list[dict[str, Any]]]:
    """The OpenAPI path of a Werkzeug rule and its path parameters."""
    params: list[dict[str, Any]] = []

    def placeholder(match: re.Match[str]) -> str:
        name = match.group(1)
        kind = type(rule._converters[name]).__name__
        schema: dict[str, Any] = (
            {"type": "integer", "minimum": 0, "maximum": INT_MAX}
            if "Integer" in kind
            else {"type": "string", "minLength": 1}
        )
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return VARIABLE.sub(placeholder, rule.rule), params


def _error(status: int) -> dict[str, Any]:
    return {
        "description": ERROR_TITLES.get(status, "Erreur"),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _security(app: Flask, endpoint: str, writes: bool, feed: bool) -> list[dict[str, list[str]]]:
    rule = rule_for(app, endpoint)
    if rule is not None and rule.public:
        return []
    session = {"session": [], "csrf": []} if writes else {"session": []}
    found: list[dict[str, list[str]]] = [{"bearer": []}, session]
    if feed:
        found.append({"feedToken": []})
    return found


def _roles_text(app: Flask, endpoint: str) -> str:
    rule = rule_for(app, endpoint)
    if rule is None or rule.public:
        return "Sans authentification."
    if rule.roles is None:
        return "Tout utilisateur connecté."
    return "Rôles : " + ", ".join(sorted(rule.roles)) + "."


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the app's described routes."""
    operations: list[tuple[str, str, str, Operation, list[dict[str, Any]]]] = []
    models: dict[type[BaseModel], str] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(DESCRIBED_PREFIXES):
            continue
        op = operation_of(app, rule.endpoint)
        if op is None:
            continue
        path, params = _path(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operations.append((path, method.lower(), rule.endpoint, op, params))
            for model, mode in ((op.body, "validation"), (op.query, "validation")):
                if model is not None:
                    models.setdefault(model, mode)
            if op.response is not None:
                models.setdefault(op.response, "serialization")
    refs, schemas = _schemas(models)
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, None] = {}
    for path, method, endpoint, op, params in operations:
        tags.setdefault(op.tag)
        writes = method.upper() in WRITE_METHODS
        rule = rule_for(app, endpoint)
        feed = bool(rule is not None and getattr(rule, "feed", False))
        parameters = list(params)
        if op.query is not None:
            parameters.extend(_query_parameters(op.query, schemas))
        if op.idempotent:
            parameters.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "Nom de l'écriture donné par le client : renvoyée avec la "
                    "même clé, elle est répondue, pas refaite.",
                    "schema": {"type": "string"},
                }
            )
        ok: dict[str, Any] = {"description": "Succès"}
        if op.response is not None:
            ok["content"] = {m: {"schema": refs[op.response]} for m in op.media}
        elif op.media:
            ok["content"] = {m: {"schema": {"type": "string"}} for m in op.media}
        responses: dict[str, Any] = {str(op.status): ok}
        codes = {401, 403, 503, *op.errors}
        if writes:
            codes |= {400, 413, 422}
        if params:
            codes.add(404)
        if op.query is not None:
            codes.add(400)
        if rule is not None and rule.public:
            codes -= {401, 403}
        for code in sorted(codes):
            responses[str(code)] = _error(code)
        entry: dict[str, Any] = {
            "operationId": endpoint.replace(".", "_"),
            "summary": op.summary,
            "description": (op.description + "\n\n" if op.description else "")
            + _roles_text(app, endpoint),
            "tags": [op.tag],
            "parameters": parameters,
            "responses": responses,
            "security": _security(app, endpoint, writes, feed),
        }
        if op.body is not None:
            entry["requestBody"] = {
                "required": op.body_required,
                "content": {"application/json": {"schema": refs[op.body]}},
            }
        paths.setdefault(path, {})[method] = entry
    schemas["Error"] = ERROR_SCHEMA
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Console de crise — Caux Seine Agglomération",
            "version": __version__,
            "description": INTRODUCTION,
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": t} for t in tags],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }


def _schemas(
    models: dict[type[BaseModel], str],
) -> tuple[dict[type[BaseModel], dict[str, str]], dict[str, Any]]:
    """JSON Schemas of the models, as components, and each model's reference."""
    if not models:
        return {}, {}
    keys, definitions = models_json_schema(
        [(model, mode) for model, mode in models.items()],  # type: ignore[misc]
        ref_template="#/components/schemas/{model}",
    )
    refs = {model: keys[(model, mode)] for model, mode in models.items()}  # type: ignore[index]
    return refs, dict(definitions.get("$defs", {}))


def _query_parameters(model: type[BaseModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.get("$defs", {}))
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {k: v for k, v in prop.items() if k not in ("title", "description")},
        }
        if prop.get("description"):
            param["description"] = prop["description"]
        out.append(param)
    return out


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Toute réponse d'erreur de l'API : le message en français et le statut HTTP, "
    "le champ en faute quand il est connu.",
    "properties": {
        "error": {"type": "string", "description": "Le message, en français."},
        "status": {"type": "integer", "description": "Le statut HTTP de la réponse."},
        "field": {
            "type": ["string", "null"],
            "description": "Le champ en faute, quand il est connu.",
        },
    },
    "required": ["error", "status"],
}

SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "Jeton d'API d'un utilisateur (`crisis-console token create LOGIN`), "
        "avec les rôles de cet utilisateur.",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "cc_session",
        "description": "La session de la console (après connexion sur /login).",
    },
    "csrf": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRFToken",
        "description": "Avec la session, toute écriture porte le jeton CSRF donné par "
        "/api/v1/whoami.",
    },
    "feedToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "Jeton de flux d'un partenaire de l'annuaire : lit le flux CAP et les "
        "alertes (réelles, ou d'exercice pour un partenaire d'exercice), rien d'autre.",
    },
}

INTRODUCTION = (
    "L'API JSON de la console de crise, avec les mêmes règles d'accès que les pages. "
    "Authentification : un jeton Bearer (`crisis-console token create LOGIN`) ou la session "
    "de la console, dont chaque écriture porte l'en-tête `X-CSRFToken`. Toute erreur est un "
    'objet JSON `{"error": message en français, "status": code}` (avec `field` quand un '
    "champ est en faute). Les heures sont en UTC (ISO 8601, suffixe Z) sauf dans les messages "
    "CAP et EMSI (heure de Paris avec son décalage). Les flux CAP des partenaires "
    "(`/cap/feed.atom`, `/cap/alerts/{identifiant}.xml`) acceptent aussi un jeton de flux."
)
