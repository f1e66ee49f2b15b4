"""Sign-in, sign-out and a refused page in a real browser, at desk and tablet sizes."""

from __future__ import annotations

import pytest

from tests.browser.conftest import DESK, TABLET, Page

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("size, viewport", [("desk", DESK), ("tablet", TABLET)])
def test_sign_in_home_refused_sign_out(browser, live_server, size, viewport):
    p = Page(browser, live_server.url, viewport)
    try:
        p.page.goto("/")
        assert p.page.url.startswith(live_server.url + "/login")
        p.shot(f"shell-login-{size}")
        p.login("cell")
        assert p.page.locator("h1").inner_text().startswith("Bonjour")
        assert p.page.locator("nav.mainnav").is_visible()
        assert p.page.get_by_role("link", name="Administration").count() == 0
        # Touch targets: the menu links and buttons are at least 44 px tall.
        for box in [el.bounding_box() for el in p.page.locator("nav.mainnav a").all()]:
            assert box and box["height"] >= 44
        p.shot(f"shell-home-{size}")
        response = p.page.goto("/admin/users")
        assert response.status == 403
        assert "Accès refusé" in p.page.content()
        p.shot(f"shell-403-{size}")
        p.page.goto("/")
        p.page.get_by_role("button", name="Se déconnecter").click()
        p.page.wait_for_load_state("networkidle")
        assert p.page.url.startswith(live_server.url + "/login")
        p.page.goto("/")
        assert p.page.url.startswith(live_server.url + "/login")
        assert p.external == []
    finally:
        p.close()


def test_wrong_password_message_and_htmx_loaded(desk):
    desk.page.goto("/login")
    desk.page.fill("#login", "director")
    desk.page.fill("#password", "mauvais mot de passe")
    desk.page.click("button[type=submit]")
    assert "Identifiant ou mot de passe incorrect" in desk.page.inner_text("main")
    desk.login("admin")
    assert desk.page.evaluate("typeof window.htmx") == "object"
    assert desk.page.locator("nav.mainnav").get_by_role("link", name="Administration").count() == 1
    desk.page.goto("/admin/users")
    desk.shot("shell-admin-users-desk")
