"""A passive scan in the spirit of ZAP's baseline, over every route of the URL map, signed out
and signed in as each role: headers, cookies, content types, banners, error bodies."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask

from tests.conftest import Client, demo_password

ROLES = ("director", "cell", "liaison", "steward", "exercise", "admin")
STRICT_CSP = (
    "default-src 'self'",
    "script-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
)
LEAKS = re.compile(r"Traceback \(most recent call last\)|File \"/|sqlite3\.|Werkzeug Debugger")


def _urls(app: Flask) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint == "auth.logout":
            continue
        values = {}
        for name, converter in rule._converters.items():
            numeric = type(converter).__name__ in ("IntegerConverter", "NumberConverter")
            values[name] = 1 if numeric else ("htmx.min.js" if name == "name" else "x")
        url = rule.build(values, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, url))
    return found


def check(method: str, url: str, response: Any) -> None:
    h = response.headers
    where = (method, url, response.status_code)
    csp = h.get("Content-Security-Policy", "")
    for directive in STRICT_CSP:
        assert directive in csp, (where, directive)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert h.get("X-Content-Type-Options") == "nosniff", where
    assert h.get("X-Frame-Options") == "DENY", where
    assert h.get("Referrer-Policy") in ("same-origin", "no-referrer", "strict-origin"), where
    server = h.get("Server", "") + h.get("X-Powered-By", "")
    assert not re.search(r"\d", server), (where, server)  # no version banner
    if not url.startswith(("/vendor/", "/static/")):
        assert "no-store" in h.get("Cache-Control", ""), where
    for cookie in h.getlist("Set-Cookie"):
        assert "HttpOnly" in cookie and "SameSite=" in cookie, (where, cookie)
    body = response.get_data(as_text=True) if response.mimetype.startswith(("text", "app")) else ""
    assert not LEAKS.search(body), (where, body[:500])
    ctype = h.get("Content-Type", "")
    if url.startswith("/api/v1/") and response.status_code != 204:
        assert ctype.startswith(("application/json", "application/geo+json")), (where, ctype)
        json.loads(response.get_data())
    elif ctype.startswith("application/json"):
        json.loads(response.get_data())
    if response.status_code >= 500:
        raise AssertionError(where)


def test_signed_out_scan(app: Flask) -> None:
    client: Client = app.test_client()  # type: ignore[assignment]
    for method, url in _urls(app):
        with client.open(url, method=method, csrf=False) as response:
            check(method, url, response)


@pytest.mark.parametrize("role", ROLES)
def test_signed_in_scan(app: Flask, role: str) -> None:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(role)
    checked = 0
    for method, url in _urls(app):
        with client.open(url, method=method) as response:  # closes file responses
            check(method, url, response)
        checked += 1
    assert checked > 60


def test_secure_cookies_and_hsts_under_https(app: Flask) -> None:
    client: Client = app.test_client()  # type: ignore[assignment]
    base = "https://console.test"
    page = client.get("/login", base_url=base)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post(
        "/login",
        base_url=base,
        data={"login": "director", "password": demo_password("director")},
        headers={"X-CSRFToken": token, "Referer": base + "/login"},
    )
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie") + page.headers.getlist("Set-Cookie")
    assert cookies
    for cookie in cookies:
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie
    for url in ("/", "/api/v1/whoami", "/events/", "/nope"):
        r = client.get(url, base_url=base)
        assert "max-age=" in r.headers.get("Strict-Transport-Security", ""), url
        check("GET", url, r)


def test_errors_carry_no_stack_trace(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import events

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail /work/main/app/events.py")

    monkeypatch.setattr(events, "list_events", boom)
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login("cell")
    for url in ("/events/", "/api/v1/events"):
        r = client.get(url)
        assert r.status_code == 500
        body = r.get_data(as_text=True)
        assert "secret internal detail" not in body and "Traceback" not in body, body[:500]
        check("GET", url, _as_ok(r))
    assert client.get("/api/v1/events").headers["Content-Type"].startswith("application/json")


def _as_ok(response: Any) -> Any:
    response.status_code = 200  # check() refuses 5xx: here the 500 is the point of the test
    return response
