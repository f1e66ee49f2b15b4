"""Every registered route has an access rule, and every role gets what the rule says.

Walks the URL map: each route, each method, signed out and signed in as each demo role. A new
route without an ``@allow`` rule fails here.
"""

from __future__ import annotations

import pytest

from app.web.security import rule_for
from tests.conftest import Client

ROLES = ("director", "cell", "liaison", "steward", "exercise", "admin")


def placeholder_url(rule) -> str:
    values = {}
    for name, converter in rule._converters.items():
        kind = type(converter).__name__
        values[name] = 999999 if kind in ("IntegerConverter", "NumberConverter") else "nope"
    return rule.build(values, append_unknown=False)[1]


def routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_declares_a_rule(app):
    missing = [r.endpoint for r, _ in routes(app) if rule_for(app, r.endpoint) is None]
    assert missing == []


def test_walk_every_route_signed_out(app):
    client: Client = app.test_client()
    for rule, method in routes(app):
        access = rule_for(app, rule.endpoint)
        if access.public:
            continue
        url = placeholder_url(rule)
        response = client.open(url, method=method)
        if rule.rule.startswith(("/api/v1/", "/cap/")):
            assert response.status_code == 401, (method, url, response.status_code)
        elif method == "GET":
            assert response.status_code == 302, (method, url, response.status_code)
            assert response.headers["Location"].startswith("/login"), url
        else:
            assert response.status_code in (302, 400), (method, url, response.status_code)


@pytest.mark.parametrize("role", ROLES)
def test_walk_every_route_as(app, role):
    client: Client = app.test_client()
    client.login(role)
    checked = 0
    for rule, method in routes(app):
        access = rule_for(app, rule.endpoint)
        if access.public or rule.endpoint == "auth.logout":
            continue
        url = placeholder_url(rule)
        response = client.open(url, method=method)
        status = response.status_code
        assert status != 500, (role, method, url)
        if access.roles is not None and role not in access.roles:
            assert status == 403, (role, method, url, status)
        else:
            assert status != 401, (role, method, url)
            assert not response.headers.get("Location", "").startswith("/login"), (role, url)
        checked += 1
    assert checked > 0
