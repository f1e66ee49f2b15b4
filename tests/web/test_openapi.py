"""The API is described from the code: every /api/v1/ route declares its operation, the
document is OpenAPI 3.1 with the shared error schema and the security of each rule, requests
are checked against the declared models, and /api/docs shows the document to signed-in users."""

from __future__ import annotations

import json

from app.web.openapi import API_PREFIX, operation_of


def api_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith((API_PREFIX, "/cap/")):
            yield rule


def test_every_api_route_is_described(app):
    missing = [
        f"{sorted(rule.methods - {'HEAD', 'OPTIONS'})} {rule.rule} ({rule.endpoint})"
        for rule in api_routes(app)
        if operation_of(app, rule.endpoint) is None
    ]
    assert not missing, (
        "These API routes are not described in /api/v1/openapi.json. Add under the route's "
        "@allow(...) a @describe(summary, tag=..., body=<request model>, response=<answer "
        "model>, errors=(...)) from app.web.openapi, with the pydantic models in "
        "app/web/api_models.py:\n  " + "\n  ".join(missing)
    )


def test_the_document_is_openapi_3_1_generated_from_the_routes(app):
    client = app.test_client()
    client.login("cell")
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"] == "3.1.0"
    assert doc["jsonSchemaDialect"] == "https://json-schema.org/draft/2020-12/schema"
    ops = {(path, method) for path, item in doc["paths"].items() for method in item}
    described = {
        (path, method.lower())
        for rule in api_routes(app)
        for method in rule.methods - {"HEAD", "OPTIONS"}
        for path in [rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")]
    }
    assert ops == described
    for contract in (
        ("/api/v1/events/{event_id}/level", "post"),
        ("/api/v1/events/{event_id}/params", "post"),
        ("/api/v1/events/{event_id}/close", "post"),
        ("/api/v1/events/{event_id}/messages", "post"),
        ("/api/v1/messages/{message_id}/validate", "post"),
        ("/api/v1/messages/{message_id}/send", "post"),
        ("/api/v1/messages/{message_id}", "get"),
        ("/api/v1/messages/{message_id}/content", "get"),
        ("/api/v1/events/{event_id}/emsi", "get"),
        ("/cap/feed.atom", "get"),
        ("/cap/alerts/{identifier}.xml", "get"),
    ):
        assert contract in ops, contract
    schemas = doc["components"]["schemas"]
    assert schemas["Error"]["required"] == ["error", "status"]
    level = doc["paths"]["/api/v1/events/{event_id}/level"]["post"]
    body = level["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert set(schemas[body]["required"]) == {"level", "reason"}
    assert schemas[body]["additionalProperties"] is False
    assert level["security"] == [{"bearer": []}, {"session": [], "csrf": []}]
    for code in ("400", "401", "403", "404", "422"):
        assert level["responses"][code]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    feed = doc["paths"]["/cap/feed.atom"]["get"]
    assert {"feedToken": []} in feed["security"]
    assert "application/atom+xml" in feed["responses"]["200"]["content"]
    content = doc["paths"]["/api/v1/messages/{message_id}/content"]["get"]
    assert "application/cap+xml" in content["responses"]["200"]["content"]
    json.dumps(doc)  # plain JSON all through


def test_requests_are_checked_against_the_declared_models(app):
    client = app.test_client()
    client.login("director")
    bad = [
        ({"level": "3", "reason": "x"}, "level", "nombre entier attendu"),
        ({"level": 9, "reason": "x"}, "level", "au plus 5"),
        ({"level": 3}, "reason", "valeur obligatoire"),
        ({"level": 3, "reason": "x", "niveau": 2}, "niveau", "champ inconnu"),
    ]
    for body, field, words in bad:
        response = client.post("/api/v1/events/1/level", json=body)
        assert response.status_code == (400 if field == "niveau" else 422), body
        error = response.get_json()
        assert error["field"] == field and words in error["error"]
        assert error["status"] == response.status_code
    response = client.post("/api/v1/events/1/level", data="[1]", content_type="application/json")
    assert response.status_code == 400 and "objet" in response.get_json()["error"]
    response = client.get("/api/v1/events?status=ouvert")  # a malformed query string: 400
    assert response.status_code == 400 and response.get_json()["field"] == "status"
    # a well-formed request reaches the domain: no such event
    response = client.post("/api/v1/events/999/level", json={"level": 3, "reason": "x"})
    assert response.status_code == 404 and response.get_json()["error"]


def test_refusals_are_json_errors_with_a_french_message(app):
    client = app.test_client()
    response = client.get("/api/v1/events")
    assert response.status_code == 401
    error = response.get_json()
    assert error["status"] == 401 and "authentification" in error["error"].lower()
    response = client.get("/api/v1/events", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    client.login("steward")
    response = client.get("/api/v1/events")
    assert response.status_code == 403 and response.get_json()["error"]
    client.login("director")
    response = client.get("/api/v1/events/99999999999999999999999")
    assert response.status_code == 404 and response.get_json()["status"] == 404
    response = client.delete("/api/v1/events")
    assert response.status_code == 405 and "GET" in response.headers["Allow"]


def test_docs_page_for_signed_in_users_only(app):
    client = app.test_client()
    assert client.get("/api/docs").status_code == 302
    client.login("liaison")
    page = client.get("/api/docs").get_data(as_text=True)
    assert "/api/v1/events/{event_id}/level" in page and "Changer le niveau" in page
    assert "cdn" not in page.lower() and '<script src="http' not in page
