"""Nothing typed is lost (issue 13, item 8): a main-courante entry and a break-glass
justification typed when the session has just ended are kept in the tab and sent after signing
in again; another user signing in on the same tab never sees them."""

from __future__ import annotations

import pytest

from app import auth
from app.db import connect
from tests.browser.conftest import DESK, Page
from tests.conftest import T0

pytestmark = pytest.mark.browser

ENTRY = "Le SDIS confirme l'odeur d'ammoniac rue Victor-Hugo, périmètre à élargir."
REASON = "Repérer les conduites de gaz à couper avant l'arrivée des pompiers sur le site."


def end_sessions(app, login: str) -> None:
    db = connect(app.config["CRISIS_DB"])
    auth.end_all_sessions(db, T0, login, actor="test")
    db.conn.close()


def declare(app) -> int:
    client = app.test_client()
    client.login("director")
    r = client.post(
        "/api/v1/events",
        json={
            "playbook": "toxic-release",
            "title": "Fuite d'ammoniac",
            "site": "FICTIF-1",
            "params": {"wind_from_deg": 240, "wind_speed_ms": 4},
        },
    )
    assert r.status_code == 201
    return int(r.get_json()["id"])


def test_a_log_entry_typed_after_the_session_ended_is_sent_after_signing_in(
    browser, territory_app, live_territory_server
):
    """Guards the main courante form: on the main of before the text was lost at the redirect
    to the sign-in page."""
    event_id = declare(territory_app)
    p = Page(browser, live_territory_server.url, DESK)
    try:
        p.login("cell")
        p.page.goto(f"/events/{event_id}")
        # The page's own regions are loaded (the figures load themselves): a region asked for
        # after the session ended would take the page to the sign-in page before the send.
        p.page.wait_for_selector("#event-impact .impact-summary", timeout=20000)
        p.page.fill("#log-form textarea[name=text]", ENTRY)
        end_sessions(territory_app, "cell")  # idle timeout, or an administrator ended it
        p.page.click("#log-form button[type=submit]")
        p.page.wait_for_url("**/login**")
        assert p.page.is_visible("#draft-waiting")
        p.page.fill("#login", "cell")
        p.page.fill("#password", "cell-caux-seine")
        p.page.click("button[type=submit]")
        p.page.wait_for_url(f"**/events/{event_id}")
        notice = p.page.wait_for_selector("#log-form .draft-notice")
        assert "n'a pas été enregistrée" in notice.inner_text()
        assert p.page.input_value("#log-form textarea[name=text]") == ENTRY
        p.shot("draft-restored-desk")
        p.page.click("#log-form .draft-notice button.btn-primary")
        p.page.locator("#event-log-entries", has_text=ENTRY).wait_for(timeout=10000)
        assert p.page.locator("#log-form .draft-notice").count() == 0
        assert p.page.input_value("#log-form textarea[name=text]") == ""
        # Sent once, and forgotten: a reload offers nothing.
        p.page.reload()
        p.page.wait_for_selector("#log-form textarea[name=text]")
        assert p.page.locator("#log-form .draft-notice").count() == 0
        assert p.external == []
    finally:
        p.close()
    db = connect(territory_app.config["CRISIS_DB"])
    rows = db.execute("SELECT count(*) FROM log_entries WHERE text = ?", [ENTRY]).fetchone()
    assert rows[0] == 1
    db.conn.close()


def test_a_justification_survives_the_session_end_and_is_not_shown_to_another_user(
    browser, territory_app, live_territory_server
):
    """Guards the break-glass form (a plain form posting elsewhere): the user comes back to the
    form, not to the address it posts to, with the justification; another user does not see
    it on the same tab."""
    event_id = declare(territory_app)
    form_url = f"/events/{event_id}/grants/new?dataset=gas-network"
    p = Page(browser, live_territory_server.url, DESK)
    try:
        p.login("cell")
        p.page.goto(form_url)
        p.page.select_option("#gr-reason", "intervention_reseau")
        p.page.fill("#gr-just", REASON)
        end_sessions(territory_app, "cell")
        p.page.click("#grant-form button[type=submit]")
        p.page.wait_for_url("**/login**")
        # Someone else takes the tablet: nothing of cell's draft for them.
        p.login("liaison")
        p.page.goto(form_url)
        assert p.page.input_value("#gr-just") == ""
        assert p.page.locator("#grant-form .draft-notice").count() == 0
        p.context.clear_cookies()  # the tab changes hands without signing out
        p.login("cell")
        p.page.goto(form_url)
        notice = p.page.wait_for_selector("#grant-form .draft-notice")
        assert p.page.input_value("#gr-just") == REASON
        assert p.page.input_value("#gr-reason") == "intervention_reseau"
        p.shot("draft-restored-grant")
        notice.query_selector("button.btn-primary").click()
        p.page.wait_for_url("**/acces?grant=*")
        assert "Accès n°" in p.page.inner_text("#grant-highlight")
        p.page.goto(form_url)  # accepted: forgotten
        p.page.wait_for_selector("#gr-just")
        assert p.page.input_value("#gr-just") == ""
    finally:
        p.close()
