"""The memoised analysis: one per (event, zones version, dataset revisions, opened datasets).

Each key part is changed in turn and must give a new analysis; what is not part of the key (a
main-courante entry, a read) must not. The API pages its item lists; a request reads the
catalogue's revisions once, on its own connection.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from app import access, catalogue, events, situation
from app.db import connect
from app.playbooks import load_playbooks
from app.web.geoindex import get_index
from tests.builders import declare_with_grant
from tests.conftest import PROJECT, T0
from tests.web.test_impact import declare, login


@pytest.fixture(scope="module")
def playbooks() -> dict[str, Any]:
    found, errors = load_playbooks(PROJECT / "playbooks")
    assert not errors, errors
    return found


@pytest.fixture
def toxic(territory_app: Flask, playbooks: dict[str, Any]) -> events.Event:
    return declare(
        territory_app,
        playbooks,
        "toxic-release",
        site="FICTIF-1",
        params={"wind_from_deg": 240, "wind_speed_ms": 4},
    )


@pytest.fixture
def analyses(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every analysis run, with its options (``outer_only`` for what maps ask)."""
    runs: list[dict[str, Any]] = []
    real = situation.analyse

    def counting(*args: Any, **kwargs: Any) -> Any:
        runs.append({"specs": [s.slug for s in args[2]], **kwargs})
        return real(*args, **kwargs)

    monkeypatch.setattr(situation, "analyse", counting)
    return runs


def impact_of(client: Any, event_id: int, query: str = "") -> dict[str, Any]:
    r = client.get(f"/api/v1/events/{event_id}/impact{query}")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_json()  # type: ignore[no-any-return]


def test_an_unchanged_event_answers_from_the_memo(territory_app: Flask, toxic, analyses):
    client = login(territory_app, "liaison")
    first = client.get(f"/api/v1/events/{toxic.id}/impact")
    builds = get_index(territory_app).builds
    second = client.get(f"/api/v1/events/{toxic.id}/impact")
    assert first.get_data() == second.get_data()
    assert len(analyses) == 1 and get_index(territory_app).builds == builds
    # Other users without grants share the analysis; a log entry is not part of the key.
    cell = login(territory_app, "cell")
    assert cell.post(f"/api/v1/events/{toxic.id}/log", json={"text": "RAS."}).status_code == 201
    assert impact_of(cell, toxic.id) == first.get_json()
    assert len(analyses) == 1


def test_new_zones_are_a_new_analysis(territory_app: Flask, toxic, playbooks, analyses):
    client = login(territory_app)
    before = impact_of(client, toxic.id)
    db = connect(territory_app.config["CRISIS_DB"])
    director = db.execute("SELECT id FROM users WHERE login = 'director'").fetchone()[0]
    from app.auth import get_user

    events.change_params(
        db,
        T0,
        toxic.id,
        playbooks["toxic-release"],
        {"wind_from_deg": 60},
        actor=get_user(db, director),
    )
    after = impact_of(client, toxic.id)
    assert after["zones_version"] == before["zones_version"] + 1
    assert len(analyses) == 2
    assert after["outer"]["population"]["total"] != before["outer"]["population"]["total"]


def test_a_new_dataset_revision_is_a_new_analysis(territory_app: Flask, toxic, analyses):
    client = login(territory_app)
    before = impact_of(client, toxic.id)
    db = connect(territory_app.config["CRISIS_DB"])
    src = (toxic.lon, toxic.lat)
    school = catalogue.PreparedFeature(
        "DEMO-new-school",
        {"type": "Point", "coordinates": [src[0] + 0.001, src[1] + 0.001]},
        {"name": "FICTIF — École nouvelle", "type": "ecole", "capacity": 99},
        (src[0] + 0.001, src[1] + 0.001, src[0] + 0.001, src[1] + 0.001),
    )
    catalogue.write_features(db, T0, "schools", [school], actor="t", file_name="x.geojson")
    after = impact_of(client, toxic.id)
    assert len(analyses) == 2
    names = {i["name"] for i in after["outer"]["establishments"]["items"]}
    assert "FICTIF — École nouvelle" in names
    assert after["outer"]["establishments"]["items_total"] == (
        before["outer"]["establishments"]["items_total"] + 1
    )
    # The layer was rebuilt once, at the revision the request read.
    index = get_index(territory_app)
    assert index.cached("schools").revision == catalogue.require_dataset(db, "schools").revision


def test_a_grant_opening_then_closing_changes_the_analysis(territory_app: Flask, analyses):
    event_id = declare_with_grant(territory_app.test_client)  # the liaison opens gas-network
    holder = login(territory_app, "liaison")
    other = login(territory_app, "cell")
    opened = impact_of(holder, event_id)
    closed = impact_of(other, event_id)
    assert len(analyses) == 2  # two keys: gas-network open, and not
    nets = {n["dataset"]: n for n in opened["outer"]["networks"]}
    assert nets["gas-network"]["items"] and nets["gas-network"]["items_total"] > 0
    assert "gas-network" in {r["dataset"] for r in closed["outer"]["restricted"]}
    grant = access.list_grants(connect(territory_app.config["CRISIS_DB"]), event_id=event_id)[0]
    allowed = set(grant.fields) | {"id", "length_m"}
    assert all(set(i) <= allowed for i in nets["gas-network"]["items"])
    db = connect(territory_app.config["CRISIS_DB"])
    from app.auth import get_user_by_login

    access.revoke_grant(db, T0, get_user_by_login(db, "director"), grant.id, "fin")
    again = impact_of(holder, event_id)
    assert again == closed and len(analyses) == 2  # the same key as the one without the grant


def test_item_lists_are_paged_with_their_totals(territory_app: Flask, toxic):
    client = login(territory_app)
    full = impact_of(client, toxic.id)
    page = impact_of(client, toxic.id, "?limit=2&offset=1")
    assert page["page"] == {"offset": 1, "limit": 2} and "page" not in full
    pairs = zip([*full["zones"], full["outer"]], [*page["zones"], page["outer"]], strict=True)
    for whole, part in pairs:
        est, est_page = whole["establishments"], part["establishments"]
        assert est_page["items"] == est["items"][1:3]
        assert est_page["items_total"] == est["items_total"] == len(est["items"])
        assert est_page["by_type"] == est["by_type"]
        for key in ("networks", "other"):
            for g, g_page in zip(whole[key], part[key], strict=True):
                assert g_page.get("items", [])[:2] == g.get("items", [])[1:3]
    assert (
        impact_of(client, toxic.id, "?offset=2")["outer"]["establishments"]["items"]
        == (full["outer"]["establishments"]["items"][2:])
    )
    assert impact_of(client, toxic.id, "?limit=0")["outer"]["establishments"]["items"] == []


@pytest.mark.parametrize("query", ["?limit=-1", "?limit=abc", "?offset=x", "?limit=1000001"])
def test_bad_paging_is_refused_in_french(territory_app: Flask, toxic, query):
    r = login(territory_app).get(f"/api/v1/events/{toxic.id}/impact{query}")
    assert r.status_code == 400
    assert "nombre entier attendu" in r.get_data(as_text=True)


def test_the_outer_zone_equal_to_a_zone_says_so(territory_app: Flask, toxic):
    data = impact_of(login(territory_app), toxic.id)
    same = data["outer"].get("same_as")
    assert same == data["zones"][-1]["id"]  # nested plumes: the outer zone is the widest
    widest = data["zones"][-1]
    assert data["outer"]["establishments"]["items"] == widest["establishments"]["items"]
    assert data["outer"]["population"] == widest["population"]


def test_maps_ask_only_for_what_they_draw(territory_app: Flask, toxic, analyses):
    client = login(territory_app)
    assert client.get(f"/api/v1/events/{toxic.id}/map-features").status_code == 200
    assert client.get(f"/events/{toxic.id}/map.svg").status_code == 200
    assert len(analyses) == 1 and analyses[0].get("outer_only") is True
    asked = set(analyses[0]["specs"])
    assert "roads" in asked and "population-grid" not in asked and "schools" not in asked
    assert "gas-network" in asked  # not open: counted for the map's note
    # Once the full analysis is memoised, the maps use it.
    impact_of(client, toxic.id)
    get_index(territory_app).memo.clear()
    impact_of(client, toxic.id)
    client.get(f"/api/v1/events/{toxic.id}/map-features")
    assert [a.get("outer_only", False) for a in analyses] == [True, False, False]


def test_one_catalogue_read_per_request_on_its_connection(
    territory_app: Flask, toxic, monkeypatch: pytest.MonkeyPatch
):
    from app import db as db_module
    from app.web import context

    client = login(territory_app)
    index = get_index(territory_app)

    def no_own_connection(slug: str) -> int:
        raise AssertionError(f"the index asked the revision of {slug} itself")

    monkeypatch.setattr(index, "_revision_of", no_own_connection)
    statements: list[str] = []
    real_connect = db_module.connect

    def traced(path: Any, **kwargs: Any) -> Any:
        db = real_connect(path, **kwargs)
        db.conn.set_trace_callback(statements.append)
        return db

    monkeypatch.setattr(db_module, "connect", traced)
    with territory_app.app_context():
        context.pool().close()  # the requests below open traced connections
    for path in (
        f"/api/v1/events/{toxic.id}/impact",
        f"/events/{toxic.id}/impact",
        f"/api/v1/events/{toxic.id}/map-features",
        f"/events/{toxic.id}/map.svg",
    ):
        statements.clear()
        assert client.get(path).status_code == 200, path
        catalogue_reads = [s for s in statements if "FROM datasets" in s]
        assert len(catalogue_reads) == 1, (path, catalogue_reads)


def test_the_figures_fragment_uses_the_memo(territory_app: Flask, toxic, analyses):
    client = login(territory_app)
    a = client.get(f"/events/{toxic.id}/impact?sort=name")
    b = client.get(f"/events/{toxic.id}/impact?sort=capacity&zone=outer")
    assert a.status_code == b.status_code == 200
    assert len(analyses) == 1
    assert "Établissements recevant du public" in a.get_data(as_text=True)


def test_the_index_builds_in_the_background_and_the_console_answers_meanwhile(
    territory_app: Flask, toxic, monkeypatch: pytest.MonkeyPatch
):
    import threading

    from app import index_cache

    path = territory_app.config["CRISIS_DB"]
    index = get_index(territory_app)
    index.invalidate()
    gate = threading.Event()
    real = index._loader

    def slow_grid(slug: str) -> Any:
        if slug == "population-grid":
            assert gate.wait(20)
        return real(slug)

    monkeypatch.setattr(index, "_loader", slow_grid)
    db = connect(path)
    layers = situation.read_layers(db)
    order = [("population-grid", layers.revision("population-grid"))]
    thread = index_cache.warm(path, order)
    client = login(territory_app)
    # The grid is being built: pages and APIs that do not need it answer meanwhile.
    assert client.get(f"/api/v1/events/{toxic.id}/log").status_code == 200
    assert client.get(f"/events/{toxic.id}").status_code == 200
    assert client.get(f"/api/v1/events/{toxic.id}/map-features").status_code == 200
    assert index.building == {"population-grid"}
    gate.set()
    thread.join(20)
    assert index.cached("population-grid") is not None
    assert impact_of(client, toxic.id)["outer"]["population"]["total"] > 0


def test_serve_starts_the_background_build_in_the_worker(
    territory_app: Flask, monkeypatch: pytest.MonkeyPatch
):
    from app import server
    from app.web import geoindex

    captured: dict[str, Any] = {}

    class FakeGunicorn:
        def __init__(self, app: Any, options: dict[str, Any]) -> None:
            captured.update(options)

        def run(self) -> None:
            pass

    monkeypatch.setattr(server, "_Gunicorn", FakeGunicorn)
    started: list[Any] = []
    server.run_gunicorn(territory_app, "127.0.0.1", 0, 2, lambda: started.append(1))
    captured["post_worker_init"](object())  # gunicorn calls it in the worker, after the fork
    assert started == [1]
    # What the worker builds: the layers the analysis and the maps read, smallest first.
    index = get_index(territory_app)
    index.invalidate()
    thread = geoindex.warm(territory_app)
    assert thread is not None
    thread.join(60)
    db = connect(territory_app.config["CRISIS_DB"])
    expected = {s.slug for s in situation.read_layers(db).specs}
    expected |= {"territory", "seine", "flood-extents"}  # drawn under the maps
    assert set(index.slugs()) == expected and "ppi" not in expected
    order = situation.index_warm_order(db)
    counts = [catalogue.require_dataset(db, slug).feature_count for slug, _ in order]
    assert counts == sorted(counts)


def test_the_maps_build_no_item_list(territory_app: Flask, toxic, monkeypatch: pytest.MonkeyPatch):
    """The SVG map and the printable extract draw no list of items: their notes come from the
    zones' own fields, so their cost does not grow with the layers inside the zones."""
    from app.geo import impact as impact_module

    client = login(territory_app)
    assert client.get(f"/api/v1/events/{toxic.id}/impact").status_code == 200  # memoised

    def no_list(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("a map built an item list")

    monkeypatch.setattr(impact_module._Items, "to_list", no_list)
    for path in (f"/events/{toxic.id}/map.svg", f"/events/{toxic.id}/extract.pdf"):
        assert client.get(path).status_code == 200, path
