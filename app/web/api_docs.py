"""The API's description: ``/api/v1/openapi.json`` (OpenAPI 3.1, generated from the views'
``@describe`` declarations by ``app.web.openapi``) and ``/api/docs``, a readable page of the same
document rendered by our own template (served offline, no script)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from werkzeug.wrappers import Response

from . import api_models as m
from .htmx import render
from .openapi import describe, document
from .security import allow

bp = Blueprint("api_docs", __name__)

METHOD_ORDER = ("get", "post", "put", "patch", "delete")


def openapi_document() -> dict[str, Any]:
    """The app's document, built once (the routes do not change after start-up)."""
    found: dict[str, Any] | None = current_app.extensions.get("openapi")
    if found is None:
        found = document(current_app)
        current_app.extensions["openapi"] = found
    return found


@bp.get("/api/v1/openapi.json")
@allow()
@describe("Ce document (OpenAPI 3.1)", tag="Session", response=m.OpenApiDocument)
def openapi_json() -> Response:
    """Generated from the code's declarations; ``/api/docs`` shows it as a page."""
    return jsonify(openapi_document())


def _operations(doc: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(tag, operations) in the document's order, each operation with its path and method."""
    by_tag: dict[str, list[dict[str, Any]]] = {t["name"]: [] for t in doc.get("tags", [])}
    for path, item in doc["paths"].items():
        for method in METHOD_ORDER:
            if method in item:
                op = item[method]
                by_tag.setdefault(op["tags"][0], []).append(
                    {**op, "path": path, "method": method.upper()}
                )
    return [(tag, ops) for tag, ops in by_tag.items() if ops]


@bp.get("/api/docs")
@allow()
def show_docs() -> Response:
    doc = openapi_document()
    return render(
        "api/docs.html",
        doc=doc,
        groups=_operations(doc),
        schemas=doc["components"]["schemas"],
        security=doc["components"]["securitySchemes"],
    )
