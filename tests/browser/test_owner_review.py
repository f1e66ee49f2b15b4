"""Acceptance of the owner's side in a browser (issue 20): the review of the demo's
vulnerable-persons grant as its steward reads it (desk and tablet, and its PDF), contested by the
steward, on the director's home page until answered, and the answer back on the review."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.db import connect
from tests.browser.conftest import DESK, SCREENSHOTS, TABLET, Page
from tests.builders import open_register

pytestmark = pytest.mark.browser


def _pdf_pages(pdf: bytes, name: str) -> list[Path]:
    """The PDF rendered as PNGs the way the brief asks (pdftoppm -png -r 60)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(path), str(SCREENSHOTS / name)],
                   check=True)  # fmt: skip
    return sorted(SCREENSHOTS.glob(f"{name}-*.png"))


def test_review_contest_and_answer(browser, territory_app, live_territory_server):
    app = territory_app
    clock = app.config["CLOCK"]
    event_id = open_register(app, app.test_client, holders=("director",))
    director = app.test_client()
    director.login("director")
    # The director works with the register: the list, the call campaign, the map.
    assert director.get(f"/events/{event_id}/datasets/vulnerable-persons").status_code == 200
    clock.advance(minutes=5)
    assert director.get(f"/events/{event_id}/calls").status_code == 200
    clock.advance(minutes=3)
    assert director.get(f"/api/v1/events/{event_id}/map-features").status_code == 200
    clock.advance(minutes=30)
    r = director.post(f"/events/{event_id}/close", data={"statement": "Fin de l'exercice."})
    assert r.status_code == 302

    p = Page(browser, live_territory_server.url, DESK)
    try:
        p.login("steward-ccas")
        p.page.goto("/")
        p.page.wait_for_selector("#owner-events")
        home = p.page.inner_text("#owner-dashboard")
        assert "EXERCICE — fuite toxique FICTIF-1" in home and "à signer" in home
        p.shot("owner-home-desk")
        p.page.goto(f"/acces/revue?event={event_id}")
        summary = p.page.inner_text("#review-summary")
        assert "1 accès demandé" in summary and "0 lecture hors de la zone" in summary
        grant = p.page.inner_text("#review-grants")
        # Names and functions, usages and states in words: no login, no internal code.
        assert "Claire Morel (démo), Directeur des opérations" in grant
        assert "Anne Lemaire (démo)" in grant  # the second director who approved
        assert "révoqué à la clôture de l'événement" in grant
        assert "consultation de la liste" in grant and "campagne d'appels" in grant
        assert "event_closed" not in grant and "(view)" not in grant
        p.shot("owner-review-desk")
        p.context.close()
        p = Page(browser, live_territory_server.url, TABLET)
        p.login("steward-ccas")
        p.page.goto(f"/acces/revue?event={event_id}")
        p.shot("owner-review-tablet")
        # The steward contests, naming the grant.
        p.page.check("input[name=verdict][value=contestee]")
        p.page.check("#review-verdict-form input[name=grants]")
        p.page.fill(
            "#rv-comment",
            "La carte a été ouverte sans appel en cours : cette lecture n'était pas justifiée.",
        )
        p.page.click("#review-verdict-form button[type=submit]")
        p.page.wait_for_selector(".review-contestee")
        assert "contestée" in p.page.inner_text("#review-status")
        p.shot("owner-review-contested-tablet")
    finally:
        p.close()

    steward = app.test_client()
    steward.login("steward-ccas")
    pdf = steward.get(f"/acces/revue.pdf?event={event_id}")
    assert pdf.status_code == 200
    shots = _pdf_pages(pdf.data, "owner-review-pdf")
    assert shots

    # The contest waits on the director's home page until a director answers.
    p = Page(browser, live_territory_server.url, DESK)
    try:
        p.login("director2")
        p.page.goto("/")
        p.page.wait_for_selector("#inbox .inbox-contested")
        waiting = p.page.inner_text("#inbox")
        assert "CCAS de Lillebonne conteste la revue" in waiting
        p.shot("director-home-contested-desk")
        p.page.click("#inbox .inbox-contested a.btn-primary")
        p.page.fill(
            "#rv-answer",
            "La carte était ouverte pour préparer l'évacuation du secteur nord : vérifié.",
        )
        p.page.click("#review-answer-form button[type=submit]")
        p.page.wait_for_selector("#review-status blockquote >> nth=1")
        assert "Réponse de Anne Lemaire (démo)" in p.page.inner_text("#review-status")
        p.page.goto("/")
        p.page.wait_for_selector("#inbox")
        assert "conteste la revue" not in p.page.inner_text("#inbox")
        assert p.external == []
    finally:
        p.close()

    db = connect(app.config["CRISIS_DB"])
    try:
        actions = [r[0] for r in db.execute("SELECT action FROM audit_log ORDER BY seq")]
        agreement = db.execute(
            "SELECT a.id FROM agreements a JOIN datasets d ON d.id = a.dataset_id"
            " WHERE d.slug = 'vulnerable-persons' AND a.status = 'active'"
        ).fetchone()[0]
    finally:
        db.conn.close()
    assert "review.verdict" in actions and "review.answered" in actions

    # The steward renews the agreement: a new version, and what changed, in words.
    p = Page(browser, live_territory_server.url, DESK)
    try:
        p.login("steward-ccas")
        p.page.goto(f"/acces/conventions/{agreement}/edit")
        p.page.fill("#ag-max", "180")
        p.page.fill("#ag-review", "2027-06-30")
        p.page.click("#agreement-form button[type=submit]")
        p.page.wait_for_url("**/acces/conventions")
        p.shot("owner-agreements-desk")
        p.page.goto(f"/acces/conventions/{agreement}/versions")
        changes = p.page.inner_text("#version-2")
        assert "240 min" in changes and "180 min" in changes and "30/06/2027" in changes
        p.shot("owner-agreement-versions-desk")
    finally:
        p.close()
