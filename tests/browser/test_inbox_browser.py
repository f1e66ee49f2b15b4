"""Nothing waits unseen, in a real browser: a request needing approval shows on the approver's
home page and menu badge within 5 s; approving and denying say so. Also the screenshots of the
home page, the confirmations, the "demander l'accès" page and the administration's pending
roles, at desk (1366×768) and tablet (820×1180) sizes (tests/screenshots/, git-ignored)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from app import access, auth
from app.db import connect, transaction
from tests.browser.conftest import Page
from tests.conftest import T0
from tests.unit.test_access_support import JUSTIFICATION, build_world, sign_gas, sign_vp

pytestmark = pytest.mark.browser


def _db(app: Flask) -> Any:
    return connect(app.config["CRISIS_DB"])


def _ask(app: Flask, login: str, event_id: int) -> int:
    db = _db(app)
    try:
        user = auth.get_user_by_login(db, login)
        assert user is not None
        g = access.request_grant(
            db,
            app.config["CLOCK"].now(),
            user,
            event_id,
            "gas-network",
            reason_code="intervention_reseau",
            justification=JUSTIFICATION,
            duration_min=60,
        )
        assert g.status == "pending"
        return g.id
    finally:
        db.conn.close()


def _paris_clock(p: Page, minutes: int) -> None:
    # The console runs on a fixed test clock: the page's countdowns must read the same time.
    p.page.clock.set_fixed_time(T0 + timedelta(minutes=minutes))


def test_a_request_shows_on_the_approvers_home_and_badge_within_5_s(
    app: Flask, desk: Page, tablet: Page
) -> None:
    db = _db(app)
    world = build_world(db, T0)
    sign_gas(db, T0, approval="second_person", roles=["cell", "director"])
    db.conn.close()
    for p in (desk, tablet):
        _paris_clock(p, 3)
    desk.login("director")
    desk.page.goto("/")
    badge = desk.page.locator("#inbox-badge")
    assert badge.is_hidden()
    assert "Rien ne vous attend" in desk.page.locator("#inbox").inner_text()

    started = time.monotonic()
    first = _ask(app, "cell", world.event_id)
    badge.wait_for(state="visible", timeout=5_000)
    item = desk.page.locator(f"#inbox-approval-{first}")
    item.wait_for(state="visible", timeout=5_000)
    assert time.monotonic() - started <= 5.5
    assert badge.inner_text() == "1"
    desk.page.wait_for_timeout(1_200)  # the countdown's tick, on the page's clock
    assert "expire dans 27 min" in item.inner_text()
    desk.shot("inbox-home-desk")

    tablet.login("director2")
    tablet.page.goto("/")
    tablet.page.locator(f"#inbox-approval-{first}").wait_for(state="visible")
    tablet.shot("inbox-home-tablet")

    # Approve from the home block (htmx): the confirmation shows, the item and badge go.
    item.get_by_role("button", name="Approuver").click()
    flash = desk.page.locator("#flash .flash-message")
    flash.wait_for(state="visible", timeout=5_000)
    assert "Accès approuvé" in flash.inner_text()
    desk.page.locator(f"#inbox-approval-{first}").wait_for(state="detached", timeout=5_000)
    badge.wait_for(state="hidden", timeout=5_000)
    desk.shot("inbox-approved-desk")

    # A new request reaches the tablet; deny it with a reason, plain form on the tablet.
    _withdraw(app, first)
    denied = _ask(app, "cell", world.event_id)
    row = tablet.page.locator(f"#inbox-approval-{denied}")
    row.wait_for(state="visible", timeout=5_000)
    row.get_by_text("Refuser…").click()
    row.locator("textarea").fill("Vannes déjà repérées par le SDIS")
    row.get_by_role("button", name="Refuser la demande").click()
    tablet.page.locator("#flash .flash-message").wait_for(state="visible", timeout=5_000)
    assert "Demande refusée" in tablet.page.locator("#flash").inner_text()
    tablet.page.locator("#inbox-badge").wait_for(state="hidden", timeout=5_000)
    tablet.shot("inbox-denied-tablet")
    assert desk.external == [] and tablet.external == []


def _withdraw(app: Flask, grant_id: int) -> None:
    """End the approved grant so that the cell may ask again."""
    db = _db(app)
    try:
        holder = auth.get_user_by_login(db, "cell")
        assert holder is not None
        access.revoke_grant(db, app.config["CLOCK"].now(), holder, grant_id, "fin")
    finally:
        db.conn.close()


def test_screens_of_demander_l_acces_and_pending_roles(
    app: Flask, desk: Page, tablet: Page
) -> None:
    db = _db(app)
    world = build_world(db, T0)
    with transaction(db):
        db.execute(
            "UPDATE datasets SET title = 'Registre des personnes vulnérables' WHERE slug = ?",
            ["vulnerable-persons"],
        )
    sign_vp(db, T0)
    auth.add_user(
        db,
        T0,
        "lea",
        name="Léa Martin",
        org_slug="prefecture-76",
        roles=["liaison"],
        password="une phrase de passe solide",
        actor="admin",
        four_eyes=True,
    )
    auth.set_password(db, T0, "director", "nouvelle phrase longue", "admin", True)
    db.conn.close()
    for p, size in ((desk, "desk"), (tablet, "tablet")):
        _paris_clock(p, 3)
        p.login("director")
        r = p.page.goto(f"/events/{world.event_id}/datasets/vulnerable-persons")
        assert r is not None and r.status == 403
        assert p.page.get_by_role("link", name="Demander l'accès").first.is_visible()
        p.shot(f"demander-acces-{size}")
        p.page.goto("/")
        assert "Rôle « Officier de liaison préfecture » pour Léa Martin" in p.page.inner_text(
            "#inbox"
        )
        p.shot(f"accounts-director-home-{size}")
        p.context.clear_cookies()
        p.login("admin")
        p.page.goto("/admin/users")
        assert p.page.locator("#pending-requests").is_visible()
        p.page.locator("#user-lea summary").click()
        p.shot(f"admin-pending-roles-{size}")
        p.context.clear_cookies()
    assert desk.external == [] and tablet.external == []
