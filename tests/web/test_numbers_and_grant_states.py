"""Numbers at every entry point and grant states from the clock (issue 13, items 5 and 10)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app import numbers
from app.clock import parse_iso
from app.db import connect
from tests.conftest import T0
from tests.unit.test_access_support import JUSTIFICATION, build_world, sign_gas


@pytest.fixture
def world(app):
    db = connect(app.config["CRISIS_DB"])
    w = build_world(db, T0)
    sign_gas(db, T0, max_duration_min=90)
    db.conn.close()
    return w


def ask(client, world, **kw):
    data = {
        "dataset": "gas-network",
        "reason_code": "intervention_reseau",
        "justification": JUSTIFICATION,
    }
    data.update(kw)
    return client.post(f"/api/v1/events/{world.event_id}/grants", json=data)


@pytest.mark.parametrize(
    "value, message",
    [
        ("nan", "n'est pas un nombre"),
        ("inf", "n'est pas un nombre"),
        ("1e999", "hors limites"),
        ("1_000", "n'est pas un nombre"),
        (True, "un nombre est attendu"),
        (float("nan"), "hors limites"),
        (12.5, "entier"),
        ("12,5", "entier"),
        (0, "entre 1 et 1440"),
    ],
)
def test_the_one_number_check(value, message):
    """Guards the helper every entry point uses: finite, whole where it must be, in range."""
    with pytest.raises(numbers.NumberError, match=message):
        numbers.number(value, "Durée", integer=True, minimum=1, maximum=1440)
    assert numbers.number(" 12,5 ", "x") == 12.5 and numbers.number("30", "x", integer=True) == 30
    assert numbers.number(30.0, "x", integer=True) == 30


def test_fractional_or_non_finite_durations_are_refused(client, world):
    """Guards item 10: a fractional `duration_min` was accepted (truncated) on the main of
    before; NaN and booleans must not pass either."""
    client.login("liaison")
    for bad in (12.5, "12.5", "nan", True, 0, 100000):
        r = ask(client, world, duration_min=bad)
        assert r.status_code == 422, (bad, r.json)
        assert "Durée demandée" in r.json["error"]
    form = client.post(
        f"/events/{world.event_id}/grants",
        data={"dataset": "gas-network", "reason_code": "autre", "justification": JUSTIFICATION,
              "duration_min": "7.5"},
    )  # fmt: skip
    assert form.status_code == 422 and "nombre entier" in form.get_data(as_text=True)


def test_duration_is_optional_and_defaults_to_the_agreement_maximum(client, world):
    """Guards item 5: without `duration_min` the grant runs for the agreement's maximum, and
    the answer and the page say so."""
    client.login("liaison")
    page = client.get(f"/events/{world.event_id}/grants/new?dataset=gas-network")
    text = page.get_data(as_text=True)
    assert 'name="duration_min"' in text and "durée maximale de la convention, 90" in text
    r = ask(client, world)
    assert r.status_code == 201, r.json
    grant = r.json
    assert grant["duration_min"] == 90 and grant["max_duration_min"] == 90
    assert parse_iso(grant["expires_at"]) == T0 + timedelta(minutes=90)
    assert "maximum de la convention (90 min)" in grant["clamp_reason"]
    index = client.get(f"/acces?grant={grant['id']}").get_data(as_text=True)
    assert "durée maximale de la convention, 90 min" in index


def test_an_expired_grant_reads_expired_the_moment_it_expires(client, clock, world):
    """Guards item 5: the API and the pages showed `active` until a sweep ran."""
    client.login("liaison")
    grant = ask(client, world, duration_min=30).json
    assert grant["status"] == "active"
    clock.set(parse_iso(grant["expires_at"]) + timedelta(seconds=1))  # no sweep
    listed = client.get("/api/v1/grants").json["grants"]
    assert [g["status"] for g in listed if g["id"] == grant["id"]] == ["expired"]
    page = client.get(f"/acces?grant={grant['id']}").get_data(as_text=True)
    assert 'data-status="expired"' in page and "ouvert jusqu" not in page


def test_bbox_numbers_are_checked_and_the_world_is_a_valid_box(client, world):
    """Guards item 10: `bbox=nan,nan,nan,nan` answered 500 and the whole world answered no
    feature at all on the main of before."""
    client.login("liaison")
    assert ask(client, world, duration_min=30).status_code == 201
    url = f"/api/v1/events/{world.event_id}/datasets/gas-network/features"
    everything = client.get(url).json["features"]
    assert everything
    world_box = client.get(url + "?bbox=-180,-90,180,90")
    assert world_box.status_code == 200
    assert sorted(f["id"] for f in world_box.json["features"]) == sorted(
        f["id"] for f in everything
    )
    for bad in ("nan,nan,nan,nan", "0,0,inf,1", "1,2,3", "0,49,-1,50", "0,95,1,96", "a,b,c,d"):
        r = client.get(url + f"?bbox={bad}")
        assert r.status_code == 400, (bad, r.status_code)
        assert "bbox" in r.json["error"]


def test_public_features_check_their_bbox_too(territory_app):
    """Guards item 10 on the public layers' API (same helper)."""
    client = territory_app.test_client()
    client.login("cell")
    url = "/api/v1/datasets/schools/features"
    assert client.get(url + "?bbox=nan,nan,nan,nan").status_code == 400
    everything = client.get(url).get_json()["features"]
    world = client.get(url + "?bbox=-180,-90,180,90").get_json()["features"]
    assert len(world) == len(everything) > 0


@pytest.mark.parametrize(
    "url",
    [
        "/events/{e}/log?since=1.5",
        "/events/{e}/log?before=nan",
        "/api/v1/events/{e}/log?since=-1",
        "/api/v1/events/{e}/log?since=abc",
        "/acces?grant=2.5",
        "/audit?before=x",
    ],
)
def test_integer_query_parameters_are_checked(client, world, url):
    """Guards item 10: whole-number parameters were silently ignored when malformed."""
    client.login("director")
    r = client.get(url.format(e=world.event_id))
    assert r.status_code == 400, r.status_code
