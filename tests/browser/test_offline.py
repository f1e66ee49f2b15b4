"""The liaison's tablet survives a dropped network (issue 19, item 1), in Debian's chromium.

The liaison view loads (service worker installed and controlling), the console stops, the page
still shows the last situation with its age (reloaded from the tablet's copy); two entries and a
checklist tick made offline reach the main courante exactly once, in order, with their fact
times, when the console comes back on the same port, even though the answer to the first one
was lost; a gas network opened by a grant before the cut is not readable offline (Cache Storage
and IndexedDB inspected); a refusal is listed with its reason; signing out clears the tablet.
Screenshots at 820×1180: the offline banner with the queue, the list of refusals.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from app.db import connect, rows
from tests.browser.conftest import SCREENSHOTS, TABLET, Page, RestartableServer
from tests.conftest import T0
from tests.unit.test_access_support import JUSTIFICATION
from tests.web.test_events import declare

pytestmark = pytest.mark.browser

# Everything the tablet holds: every Cache Storage entry (URL + body) and every IndexedDB record.
DUMP_TABLET = """async () => {
  const out = {caches: [], idb: {}};
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      const response = await cache.match(request);
      out.caches.push({url: request.url, body: await response.text()});
    }
  }
  for (const info of await indexedDB.databases()) {
    const db = await new Promise((ok, ko) => {
      const r = indexedDB.open(info.name); r.onsuccess = () => ok(r.result); r.onerror = ko;
    });
    for (const store of db.objectStoreNames) {
      out.idb[info.name + '/' + store] = await new Promise((ok) => {
        const r = db.transaction(store).objectStore(store).getAll();
        r.onsuccess = () => ok(r.result);
      });
    }
    db.close();
  }
  return out;
}"""


class LoseFirstAnswer:
    """WSGI middleware: the first log write is done by the console, then its answer is lost
    (a proxy timing out: 504). The tablet must resend it with the same key."""

    def __init__(self, app: Any):
        self.app = app
        self.armed = True
        self.keys: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        is_log_write = environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"].endswith("/log")
        if is_log_write:
            self.keys.append(environ.get("HTTP_IDEMPOTENCY_KEY", ""))
        if not (is_log_write and self.armed):
            return self.app(environ, start_response)
        self.armed = False
        done: list[str] = []
        body = b"".join(self.app(environ, lambda status, headers, *a: done.append(status)))
        assert done and done[0].startswith("201"), (done, body)
        start_response("504 Gateway Timeout", [("Content-Type", "text/plain")])
        return [b"timeout"]


@pytest.fixture
def tablet_offline(
    browser: Any, restartable_territory_server: RestartableServer
) -> Iterator[tuple[Page, RestartableServer]]:
    page = Page(browser, restartable_territory_server.url, TABLET)
    yield page, restartable_territory_server
    page.close()


def _grant_gas(app: Flask, event_id: int) -> list[str]:
    """The liaison breaks glass on the gas network; returns the ids of the features it opens."""
    client = app.test_client()
    client.login("liaison")
    r = client.post(
        f"/api/v1/events/{event_id}/grants",
        json={
            "dataset": "gas-network",
            "reason_code": "intervention_reseau",
            "justification": JUSTIFICATION,
            "duration_min": 120,
        },
    )
    assert r.status_code == 201 and r.get_json()["status"] == "active", r.get_json()
    features = client.get(f"/api/v1/events/{event_id}/datasets/gas-network/features").get_json()
    ids = [f["id"] for f in features["features"]]
    assert ids
    return ids


def _shot(page: Any, name: str) -> None:
    """What the tablet's screen shows from the top (the banner and the queue come first)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def _log(app: Flask, event_id: int) -> list[dict[str, Any]]:
    db = connect(app.config["CRISIS_DB"])
    try:
        return rows(db, "SELECT * FROM log_entries WHERE event_id = ? ORDER BY id", [event_id])
    finally:
        db.conn.close()


def test_tablet_survives_a_dropped_network(
    territory_app: Flask, tablet_offline: tuple[Page, RestartableServer]
) -> None:
    app = territory_app
    tablet, server = tablet_offline
    page = tablet.page
    clock = app.config["CLOCK"]
    event = declare(app, title="Fuite toxique FICTIF Chimie")
    director = app.test_client()
    director.login("director")
    assert director.post(f"/events/{event.id}/reports").status_code == 302  # PS n°1, plain
    gas_ids = _grant_gas(app, event.id)
    lose = LoseFirstAnswer(app.wsgi_app)
    app.wsgi_app = lose  # type: ignore[method-assign]
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))

    # The tablet's clock says when a fact happened; the console's says when it was recorded.
    page.clock.set_fixed_time(T0 + timedelta(minutes=2))
    tablet.login("liaison")
    page.goto(f"/events/{event.id}/liaison")
    page.wait_for_selector("html[data-offline-ready='1']", timeout=30000)
    assert page.evaluate("() => navigator.serviceWorker.controller !== null")
    page.wait_for_selector("#event-impact .impact-summary", timeout=30000)
    page.wait_for_selector("#event-map[data-loaded='1']", timeout=30000)
    # Online, the grant shows the gas network in full: restricted data on screen.
    assert "DIFFUSION RESTREINTE" in page.locator("#event-impact").inner_text()
    assert page.locator("#connection-banner").is_hidden()

    # --- the console stops: the tablet keeps the last situation, with its age ------------------
    server.stop()
    page.reload()
    page.wait_for_selector("#event-impact .impact-summary", timeout=15000)
    page.wait_for_selector("#event-map[data-loaded='1']", timeout=15000)
    banner = page.locator("#connection-banner")
    banner.wait_for(state="visible", timeout=15000)
    assert banner.get_attribute("data-state") == "offline"
    assert banner.inner_text().startswith("Connexion perdue — données de 14:00")
    assert page.locator("#event-log .log-entry").count() == 2
    assert "PS n°1" in page.locator(".liaison-facts").inner_text()
    # The copy kept offline is the unrestricted view: counts only, nothing opened by the grant.
    figures = page.locator("#event-impact").inner_text()
    assert "DIFFUSION RESTREINTE" not in figures and "Réseau" in figures

    # --- two entries and a tick made offline, queued on the tablet -----------------------------
    typed = [(10, "Nuage visible depuis le pont de Tancarville"), (12, "Le COD confirme la zone")]
    for queued, (minute, text) in enumerate(typed, start=1):
        page.clock.set_fixed_time(T0 + timedelta(minutes=minute))
        page.fill("#text-c", text)
        page.click("#log-form button[type=submit]")
        page.wait_for_selector(f"#offline-queue[data-pending='{queued}']", state="attached")
    page.clock.set_fixed_time(T0 + timedelta(minutes=13))
    tick = page.locator("li.check-item", has_text="Établir la liaison avec le COD")
    tick.locator("button", has_text="Fait").click()
    page.wait_for_selector("#offline-queue[data-pending='3']", state="attached")
    assert page.locator("#text-c").input_value() == ""
    pending = page.locator(".offline-pending-list li")
    assert [pending.nth(i).locator(".offline-time").inner_text() for i in range(3)] == [
        "14:10",
        "14:12",
        "14:13",
    ]
    assert "3 saisies en attente" in banner.inner_text()
    _shot(page, "offline-liaison-tablet")

    # The tablet holds no restricted data: not in Cache Storage, not in IndexedDB.
    held = page.evaluate(DUMP_TABLET)
    urls = [c["url"] for c in held["caches"]]
    assert any(u.endswith(f"/events/{event.id}/liaison") for u in urls)
    assert any(u.endswith(f"/events/{event.id}/impact") for u in urls)
    assert any(u.endswith("/map-features") for u in urls)
    assert any("/reports/" in u for u in urls)
    assert not any("gas-network" in u or "unrestricted" in u for u in urls)
    # Data, not code (the map's script knows the words "DIFFUSION RESTREINTE").
    data = [c for c in held["caches"] if "/static/" not in c["url"] and "/vendor/" not in c["url"]]
    everything = json.dumps([data, held["idb"]], ensure_ascii=False)
    assert not any(fid in everything for fid in gas_ids)
    assert "DIFFUSION RESTREINTE" not in everything
    points = next(c for c in held["caches"] if c["url"].endswith("/map-features"))
    assert json.loads(points["body"])["opened"] == []
    outbox = held["idb"]["crisis-offline/outbox"]
    assert [item["body"].get("text") for item in outbox[:2]] == [
        "Nuage visible depuis le pont de Tancarville",
        "Le COD confirme la zone",
    ]
    assert len({item["key"] for item in outbox}) == 3
    # Reading the gas network offline fails: it was never kept.
    failed = page.evaluate(
        "(u) => fetch(u).then(r => r.status, () => 'network error')",
        f"/api/v1/events/{event.id}/datasets/gas-network/features",
    )
    assert failed == "network error"

    # Opening the app offline (its start page was never kept): the situations the tablet holds.
    page.goto("/")
    kept = page.locator("#offline-situations a")
    kept.first.wait_for(timeout=10000)
    assert kept.first.inner_text() == "Fuite toxique FICTIF Chimie"
    assert "situation de 14:00" in page.locator("#offline-situations").inner_text()
    assert page.locator("#connection-banner").inner_text() == (
        "Hors ligne — cette page n'est pas conservée sur la tablette · 3 saisies en attente"
    )
    assert page.locator("#offline-queue[data-pending='3']").count() == 1
    _shot(page, "offline-start-tablet")
    kept.first.click()
    page.wait_for_selector("#event-impact .impact-summary", timeout=15000)

    # --- the console comes back on the same port: sent once, in order, with the fact times ------
    clock.set(T0 + timedelta(minutes=20))
    server.start()
    page.wait_for_selector("#offline-queue[data-pending='0']", state="attached", timeout=40000)
    assert banner.get_attribute("data-state") == "restored"
    assert "Connexion rétablie" in banner.inner_text()
    entries = [e for e in _log(app, event.id) if not e["is_system"]]
    assert [(e["text"], e["fact_at"], e["recorded_at"]) for e in entries] == [
        (
            "Nuage visible depuis le pont de Tancarville",
            "2026-11-23T13:10:00Z",
            "2026-11-23T13:20:00Z",
        ),
        ("Le COD confirme la zone", "2026-11-23T13:12:00Z", "2026-11-23T13:20:00Z"),
    ]
    assert all(e["author_name"] == "Sophie Bernard (démo)" for e in entries)
    # The first answer was lost (504) after the console recorded it: resent under its key.
    assert lose.keys[0] == lose.keys[1] == outbox[0]["key"]
    ticked = [e for e in _log(app, event.id) if e["text"].startswith("Action réalisée : Établir")]
    assert len(ticked) == 1 and ticked[0]["fact_at"] == "2026-11-23T13:13:00Z"
    page.locator("#event-log .log-entry", has_text="Le COD confirme la zone").wait_for(
        timeout=15000
    )
    assert page.locator("#event-log .log-entry", has_text="Nuage visible").count() == 1
    page.locator("#event-checklist li.done", has_text="Établir la liaison").wait_for(timeout=15000)
    # Online, the form goes through the same queue and is in the log at once.
    page.clock.set_fixed_time(T0 + timedelta(minutes=19))
    page.fill("#text-c", "Retour du réseau au PC de liaison")
    page.click("#log-form button[type=submit]")
    page.locator("#event-log .log-entry", has_text="Retour du réseau").wait_for(timeout=10000)

    # --- a refusal is shown, never dropped: the event closed while the form was open -----------
    assert director.post(f"/events/{event.id}/close", data={"statement": "Fin"}).status_code == 302
    page.clock.set_fixed_time(T0 + timedelta(minutes=21))
    page.fill("#text-c", "Message du maire de Lillebonne")
    page.click("#log-form button[type=submit]")
    refused = page.locator(".offline-conflict-list li")
    refused.first.wait_for(timeout=15000)
    text = refused.first.inner_text()
    assert "Message du maire de Lillebonne" in text and "Refusé (409)" in text and "clos" in text
    assert page.locator("#offline-queue[data-pending='0'][data-refused='1']").count() == 1
    _shot(page, "offline-refused-tablet")

    # --- signing out warns about what is not recorded, then clears the tablet -----------------
    dialogs: list[str] = []
    page.once("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.click("text=Se déconnecter")
    page.wait_for_url("**/login**")
    assert dialogs and "Message du maire de Lillebonne" in dialogs[0]
    left = page.evaluate(
        """async () => ({caches: await caches.keys(),
        dbs: (await indexedDB.databases()).map(d => d.name),
        workers: (await navigator.serviceWorker.getRegistrations()).length})"""
    )
    assert left == {"caches": [], "dbs": [], "workers": 0}
    assert problems == [] and tablet.external == []
