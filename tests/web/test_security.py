"""Sign-in, sessions, CSRF, lock-out, headers, tokens: the security baseline of issue 2."""

from __future__ import annotations

import re

from app.web.security import SESSION_COOKIE
from tests.conftest import demo_password


def test_signed_out_pages_redirect_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/")


def test_sign_in_and_out(client):
    client.login("cell")
    assert client.get("/").status_code == 200
    response = client.post("/logout")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_in_french(client):
    client.refresh_csrf()
    response = client.post("/login", data={"login": "cell", "password": "not the password"})
    assert response.status_code == 401
    assert "Identifiant ou mot de passe incorrect" in response.get_data(as_text=True)


def test_session_id_is_regenerated_at_sign_in(client):
    client.login("cell")
    first = client.get_cookie(SESSION_COOKIE).value
    client.login("cell")
    assert client.get_cookie(SESSION_COOKIE).value != first


def test_cookie_copied_before_sign_out_is_refused_after(app, client):
    client.login("director")
    stolen = client.get_cookie(SESSION_COOKIE).value
    client.post("/logout")
    thief = app.test_client()
    thief.set_cookie(SESSION_COOKIE, stolen)
    assert thief.get("/").status_code == 302


def test_disabling_a_user_kills_live_sessions(app, client, runner):
    client.login("liaison")
    assert client.get("/").status_code == 200
    assert runner("user", "disable", "liaison").exit_code == 0
    assert client.get("/").status_code == 302


def test_post_without_csrf_token_gets_400_and_changes_nothing(app, client, db):
    client.login("admin")
    before = db.execute("SELECT count(*) FROM users").fetchone()[0]
    response = client.post(
        "/admin/users",
        data={
            "login": "eve",
            "name": "Eve",
            "org": "caux-seine",
            "roles": "cell",
            "password": "a long enough passphrase",
        },
        csrf=False,
    )
    assert response.status_code == 400
    assert "jeton de sécurité" in response.get_data(as_text=True)
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == before


def test_csrf_failure_for_htmx_is_a_clear_fragment(client):
    client.login("admin")
    response = client.post("/logout", csrf=False, headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#main"
    assert "jeton de sécurité" in response.get_data(as_text=True)


def test_security_headers_on_pages(client):
    client.login("cell")
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP here


def test_hsts_and_secure_cookies_over_tls(app):
    client = app.test_client()
    page = client.get("/login", base_url="https://console.test")
    assert "max-age" in page.headers["Strict-Transport-Security"]
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post(
        "/login",
        base_url="https://console.test",
        data={"login": "cell", "password": demo_password("cell")},
        headers={"X-CSRFToken": token, "Referer": "https://console.test/login"},
    )
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie
    assert "SameSite=Lax" in session_cookie


def test_no_inline_script_or_style_in_pages(client):
    client.login("admin")
    for url in ("/", "/admin/users", "/login"):
        html = client.get(url).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert "<style" not in html and " style=" not in html, url
        assert "onclick=" not in html and "javascript:" not in html, url


def test_htmx_is_configured_for_the_csp(client):
    html = client.get("/login").get_data(as_text=True)
    config = re.search(r'name="htmx-config" content=\'([^\']+)\'', html).group(1)
    import json

    cfg = json.loads(config)
    assert cfg["historyCacheSize"] == 0
    assert cfg["allowEval"] is False and cfg["allowScriptTags"] is False
    assert cfg["selfRequestsOnly"] is True and cfg["includeIndicatorStyles"] is False
    assert 'hx-history="false"' in html


def test_repeated_wrong_passwords_lock_then_unlock(app, client, clock):
    client.refresh_csrf()
    for _ in range(5):
        r = client.post("/login", data={"login": "cell", "password": "wrong wrong wrong"})
        assert r.status_code == 401
    r = client.post("/login", data={"login": "cell", "password": demo_password("cell")})
    assert r.status_code == 429
    assert "verrouillé" in r.get_data(as_text=True)
    clock.advance(minutes=16)
    r = client.post("/login", data={"login": "cell", "password": demo_password("cell")})
    assert r.status_code == 302


def test_open_redirect_after_sign_in_is_refused(client):
    client.refresh_csrf()
    r = client.post(
        "/login?next=https://evil.example/",
        data={"login": "cell", "password": demo_password("cell"), "next": "//evil.example/x"},
    )
    assert r.headers["Location"] == "/"


def test_vendor_assets_come_from_installed_packages(client):
    with client.get("/vendor/htmx/htmx.min.js") as htmx:
        assert htmx.status_code == 200 and b"htmx" in htmx.data[:2000]
    with client.get("/vendor/leaflet/leaflet.js") as leaflet:
        assert leaflet.status_code == 200 and b"Leaflet" in leaflet.data[:3000]
    assert client.get("/vendor/leaflet/../../../etc/passwd").status_code == 404


def test_error_pages_are_styled_in_french(client):
    client.login("cell")
    r = client.get("/no/such/page")
    assert r.status_code == 404 and "Page introuvable" in r.get_data(as_text=True)
    r = client.get("/admin/users")
    assert r.status_code == 403 and "Accès refusé" in r.get_data(as_text=True)


def test_full_disk_and_readonly_database_give_clear_pages(app, client, monkeypatch):
    import sqlite3

    from app import auth as auth_module

    client.login("admin")

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(auth_module, "add_user", full)
    form = {
        "login": "zed",
        "name": "Zed",
        "org": "caux-seine",
        "roles": ["cell"],
        "password": "une phrase de passe",
    }
    r = client.post("/admin/users", data=form)
    assert r.status_code == 507 and "Espace disque plein" in r.get_data(as_text=True)

    def readonly(*args, **kwargs):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(auth_module, "add_user", readonly)
    r = client.post("/admin/users", data=form)
    assert r.status_code == 503 and "lecture seule" in r.get_data(as_text=True)


def test_head_on_sign_in_page_is_not_a_failed_attempt(client, db):
    assert client.head("/login").status_code == 200
    assert db.execute("SELECT count(*) FROM login_failures").fetchone()[0] == 0


def test_menu_marks_only_the_current_section(client):
    client.login("cell")
    html = client.get("/map").get_data(as_text=True)
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', html)
    assert current == ["/map"]
    html = client.get("/catalogue").get_data(as_text=True)
    assert re.findall(r'<a href="([^"]+)" aria-current="page">', html) == ["/catalogue"]


def test_an_ended_session_says_so_and_returns_to_the_page_not_the_fragment(app, client, runner):
    client.login("cell")
    runner("user", "end-sessions", "cell")
    poll = client.get(
        "/admin/users?x=1",
        headers={
            "HX-Request": "true",
            "HX-Current-URL": "http://localhost/catalogue?theme=network",
        },
    )
    assert poll.status_code == 204
    target = poll.headers["HX-Redirect"]
    assert "expired=1" in target and "next=/catalogue?theme%3Dnetwork" in target
    page = client.get(target)
    assert "Votre session a expiré" in page.get_data(as_text=True)
    fresh = app.test_client()
    assert "expired=1" not in fresh.get("/").headers["Location"]
