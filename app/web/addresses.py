"""Address search (local Base Adresse Nationale table): the htmx active search and the JSON API."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from werkzeug.wrappers import Response

from .. import addresses
from . import api_models as m
from .context import get_db
from .errors import fail
from .htmx import render
from .openapi import describe, query
from .security import allow

bp = Blueprint("addresses", __name__)

TARGETS = ("declare", "map")


def _query() -> str:
    q = request.args.get("q", "")
    if len(q) > addresses.MAX_QUERY:
        fail(400, f"Recherche trop longue ({addresses.MAX_QUERY} caractères au plus).")
    if "\x00" in q:
        fail(400, "Caractère NUL refusé dans la recherche.")
    return q.strip()


def _limit(default: int) -> int:
    text = request.args.get("limit", "").strip()
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= 50:
        fail(400, "limit : entier de 1 à 50 attendu.")
    return int(text)


@bp.get("/addresses/search")
@allow()
def search_addresses() -> Response:
    q = _query()
    target = request.args.get("target", "declare")
    if target not in TARGETS:
        target = "declare"
    found = addresses.search(get_db(), q, _limit(8)) if q else []
    return render(
        "addresses/search.html",
        "addresses/_results.html",
        q=q,
        results=found,
        target=target,
        searched=bool(q),
    )


@bp.get("/api/v1/addresses")
@allow()
@describe(
    "Chercher une adresse",
    tag="Données",
    query=m.AddressQuery,
    response=m.AddressList,
    errors=(400,),
)
def api_addresses() -> Response:
    q = _query()
    if not q:
        fail(400, "Paramètre q attendu (ex. « 12 rue Victor Hugo, Lillebonne »).")
    found = addresses.search(get_db(), q, query().limit or 10)  # checked by AddressQuery
    return jsonify(
        query=q,
        count=len(found),
        addresses=[a.as_json() for a in found],
    )
