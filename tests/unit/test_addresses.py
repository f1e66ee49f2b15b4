"""Addresses: BAN CSV import (one transaction, faults named), offline normalised search, API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import addresses
from app.db import connect, scalar
from tests.conftest import Runner

HEADER = ";".join(addresses.BAN_COLUMNS) + "\n"


def ban_row(**over: Any) -> str:
    row = {c: "" for c in addresses.BAN_COLUMNS}
    row.update(
        id="76384_0042_00012",
        numero="12",
        nom_voie="Rue des Essais",
        code_postal="76170",
        code_insee="76384",
        nom_commune="Lillebonne",
        lon="0.5355",
        lat="49.5216",
        type_position="entrée",
    )
    row.update({k: str(v) for k, v in over.items()})
    return ";".join(row[c] for c in addresses.BAN_COLUMNS) + "\n"


@pytest.fixture
def tdb(territory_app: Flask) -> Any:
    database = connect(territory_app.config["CRISIS_DB"])
    yield database
    database.conn.close()


@pytest.fixture
def trunner(territory_app: Flask) -> Runner:
    return Runner({"CRISIS_DB": territory_app.config["CRISIS_DB"], "CRISIS_SECRET_KEY": "t"})


def state(db: Any) -> tuple[Any, ...]:
    return (
        scalar(db, "SELECT count(*) FROM addresses"),
        scalar(db, "SELECT group_concat(id) FROM addresses WHERE code_insee = '76384'"),
        scalar(db, "SELECT count(*) FROM audit_log"),
    )


def test_the_demo_ships_labelled_synthetic_addresses(tdb: Any) -> None:
    assert addresses.count(tdb) > 400
    sources = {r[0] for r in tdb.execute("SELECT DISTINCT source FROM addresses")}
    assert sources == {"synthetic"}
    assert scalar(tdb, "SELECT count(*) FROM addresses WHERE id NOT LIKE 'DEMO-%'") == 0


@pytest.mark.parametrize(
    "query,expected",
    [
        ("Rue Victor Hugo, Lillebonne", "Rue Victor Hugo, 76170 Lillebonne"),
        ("r victor hugo lillebonne", "Rue Victor Hugo, 76170 Lillebonne"),
        ("RUE DE L'EGLISE BOLBEC", "Rue de l'Église, 76210 Bolbec"),
        ("av jean jaur", "Avenue Jean Jaurès"),
        ("8 mai 1945 bolbec", "Rue du 8 Mai 1945, 76210 Bolbec"),
        ("rue pasteur port jerome", "Rue Pasteur, 76170 Port-Jérôme-sur-Seine"),
    ],
)
def test_search_is_normalised_and_accent_insensitive(tdb: Any, query: str, expected: str) -> None:
    found = addresses.search(tdb, query, 5)
    assert found, query
    assert expected in found[0].label


def test_the_number_asked_comes_first_else_the_nearest(tdb: Any, trunner: Runner, tmp_path: Path):
    path = tmp_path / "adresses-76.csv"
    path.write_text(
        HEADER
        + ban_row()
        + ban_row(id="76384_0042_00010", numero=10)
        + ban_row(id="76384_0042_00120", numero=120),
        "utf-8",
    )
    assert trunner("addresses", "import", str(path)).exit_code == 0
    first = addresses.search(tdb, "12 rue des essais, Lillebonne")[0]
    assert first.label == "12 Rue des Essais, 76170 Lillebonne"
    nearest = addresses.search(tdb, "13 rue des essais lillebonne")
    assert [a.numero for a in nearest][:2] == [12, 10]


def test_import_replaces_the_communes_it_covers_and_is_audited(
    tdb: Any, trunner: Runner, tmp_path: Path
) -> None:
    bolbec = scalar(tdb, "SELECT count(*) FROM addresses WHERE code_insee = '76114'")
    path = tmp_path / "adresses-76.csv"
    path.write_text(HEADER + ban_row() + ban_row(id="76000_X", lon="2.35", lat="48.85"), "utf-8")
    result = trunner("addresses", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "1 hors du territoire" in result.output
    assert scalar(tdb, "SELECT group_concat(id) FROM addresses WHERE code_insee = '76384'") == (
        "76384_0042_00012"
    )
    assert scalar(tdb, "SELECT count(*) FROM addresses WHERE code_insee = '76114'") == bolbec
    record = tdb.execute(
        "SELECT action, details FROM audit_log ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    assert record[0] == "addresses.import"
    assert json.loads(record[1])["communes"] == ["76384"]
    assert addresses.search(tdb, "12 rue des essais")[0].source == addresses.DEFAULT_SOURCE


BAD = [
    ("numero", ban_row(numero="douze"), ["ligne 3", "« numero »", "douze"]),
    ("lat", ban_row(lat="nan"), ["ligne 3", "« lat »", "fini"]),
    ("lon", ban_row(lon=""), ["ligne 3", "« lon »"]),
    ("voie", ban_row(nom_voie=""), ["ligne 3", "« nom_voie »", "obligatoire"]),
    ("nul", ban_row(nom_voie="Rue\x00X"), ["ligne 3", "NUL"]),
    ("dup", ban_row() + ban_row(), ["ligne 4", "double"]),
]


@pytest.mark.parametrize("name,rows,words", BAD, ids=[b[0] for b in BAD])
def test_bad_ban_files_write_nothing(
    tdb: Any, trunner: Runner, tmp_path: Path, name: str, rows: str, words: list[str]
) -> None:
    path = tmp_path / f"adresses-{name}.csv"
    path.write_text(HEADER + ban_row(id="76384_OK", numero=1) + rows, "utf-8")
    before = state(tdb)
    result = trunner("addresses", "import", str(path))
    assert result.exit_code == 2, result.output
    for word in [path.name, *words]:
        assert word in result.output, (word, result.output)
    assert state(tdb) == before


def test_a_file_without_the_ban_columns_is_refused(tdb: Any, trunner: Runner, tmp_path: Path):
    path = tmp_path / "autre.csv"
    path.write_text("a;b\n1;2\n", "utf-8")
    before = state(tdb)
    result = trunner("addresses", "import", str(path))
    assert result.exit_code == 2 and "colonnes de la Base Adresse Nationale" in result.output
    assert state(tdb) == before


def test_api_and_active_search(territory_app: Flask) -> None:
    client = territory_app.test_client()
    assert client.get("/api/v1/addresses?q=pasteur").status_code in (302, 401)
    client.login("liaison")
    data = client.get("/api/v1/addresses?q=rue+pasteur+bolbec&limit=3").get_json()
    assert data["count"] == 3 and data["addresses"][0]["commune"] == "Bolbec"
    first = data["addresses"][0]
    assert {"label", "lon", "lat", "insee", "source"} <= set(first)
    assert first["source"] == "synthetic"
    assert client.get("/api/v1/addresses?q=").status_code == 400
    assert client.get("/api/v1/addresses?q=x&limit=0").status_code == 400
    assert client.get("/api/v1/addresses?q=x&limit=2.5").status_code == 400
    assert client.get("/api/v1/addresses?q=" + "a" * 201).status_code == 400
    fragment = client.get(
        "/addresses/search?q=victor+hugo+lillebonne&target=map", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert 'id="address-results-map"' in fragment and "data-lon=" in fragment
    assert "<html" not in fragment
    page = client.get("/addresses/search?q=victor+hugo").get_data(as_text=True)
    assert "Déclarer un événement ici" in page


def test_the_search_field_is_on_the_declare_form_and_the_map(territory_app: Flask) -> None:
    client = territory_app.test_client()
    client.login("director")
    declare = client.get("/events/new").get_data(as_text=True)
    assert 'data-address-search="declare"' in declare
    the_map = client.get("/map").get_data(as_text=True)
    assert 'data-address-search="map"' in the_map
