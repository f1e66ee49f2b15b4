"""Figures that say what they do not count (issue 13, items 3 and 4).

Item 3: a zone leaving the data's coverage (the estuary, the Eure bank) says which share of it is
not covered and which layers stop at the edge — on screen (desk and tablet), in the impact API, in
the report PDF and in the map extract (PDF and SVG). Item 4: a zone drawn with a playbook's
generic distances (a real site without published effect distances) says so in the report PDF,
the map extract, the SVG, the tablet view, the impact API and the CAP export.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import shapely
from flask import Flask
from shapely.geometry import shape

from app import events, reports
from app.db import connect
from tests.conftest import T0
from tests.messages_support import cap_schema, playbooks, user

COVERAGE = "hors du territoire couvert"
GENERIC = "distance générique du guide"


def flat(text: str) -> str:
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True)
    return flat(out.stdout)


def declare(app: Flask, site: str, wind_from: float) -> events.Event:
    db = connect(app.config["CRISIS_DB"])
    try:
        return events.declare(
            db,
            T0,
            playbooks()["toxic-release"],
            actor=user(db, "cell"),
            title="Rejet toxique",
            params={"wind_from_deg": wind_from, "wind_speed_ms": 4, "substance": "Ammoniac"},
            site=site,
        )
    finally:
        db.conn.close()


@pytest.fixture
def estuary(territory_app: Flask) -> events.Event:
    """The acceptance case: a toxic release at FICTIF-1, wind from 90° (towards the estuary)."""
    return declare(territory_app, "FICTIF-1", 90)


def test_the_api_gives_each_zone_its_uncovered_share(territory_app: Flask, estuary: Any) -> None:
    """Guards `uncovered_share` (0 to 1) on each zone of /impact, checked against the zone and
    the territory outline computed here independently."""
    client = territory_app.test_client()
    client.login("cell")
    data = client.get(f"/api/v1/events/{estuary.id}/impact").get_json()
    zones = client.get(f"/api/v1/events/{estuary.id}/zones").get_json()["features"]
    territory = shapely.union_all(
        [shape(f["geometry"]) for f in client.get("/api/v1/datasets/territory/features")
         .get_json()["features"]]
    )  # fmt: skip
    for z, feature in zip(data["zones"], zones, strict=True):
        geom = shape(feature["geometry"])
        expected = geom.difference(territory).area / geom.area  # in degrees²: a ratio is a ratio
        assert 0 <= z["uncovered_share"] <= 1
        assert z["uncovered_share"] == pytest.approx(expected, abs=0.01)
    worst = max(data["zones"], key=lambda z: z["uncovered_share"])
    assert worst["uncovered_share"] > 0.3
    note = flat(worst["coverage"]["note"])
    assert COVERAGE in note and "population" in note and "établissements" in note
    assert note.startswith(f"{round(worst['uncovered_share'] * 100)} % de la zone")
    assert data["outer"]["uncovered_share"] >= worst["uncovered_share"] - 1e-9


def test_the_desk_and_the_tablet_show_the_uncovered_share(
    territory_app: Flask, estuary: Any
) -> None:
    """Guards the screens: the figures (desk) and the liaison view (tablet) say it."""
    client = territory_app.test_client()
    client.login("liaison")
    figures = f"/events/{estuary.id}/impact"
    for view in (f"/events/{estuary.id}", f"/events/{estuary.id}/liaison"):
        page = client.get(view).get_data(as_text=True)
        assert f'hx-get="{figures}"' in page, view  # both load the one figures fragment
    fragment = flat(client.get(figures, headers={"HX-Request": "true"}).get_data(as_text=True))
    assert "Limites des chiffres" in fragment and COVERAGE in fragment
    offline = flat(client.get(figures + "?unrestricted=1").get_data(as_text=True))
    assert COVERAGE in offline  # the copy a tablet keeps offline says it too


def test_the_report_and_the_map_extract_show_the_uncovered_share(
    territory_app: Flask, estuary: Any, tmp_path: Path
) -> None:
    """Guards every PDF: the situation report and the printable extract, and the SVG."""
    db = connect(territory_app.config["CRISIS_DB"])
    report = reports.generate(db, T0, estuary, author="Claire Morel")
    assert report is not None
    pdf = reports.report_pdf(db, report.id)
    db.conn.close()
    text = pdf_text(pdf, tmp_path)
    assert "Limites des chiffres" in text and COVERAGE in text
    client = territory_app.test_client()
    client.login("cell")
    extract = client.get(f"/events/{estuary.id}/extract.pdf?paper=A4")
    assert COVERAGE in pdf_text(extract.data, tmp_path)
    svg = flat(client.get(f"/events/{estuary.id}/map.svg").get_data(as_text=True))
    assert COVERAGE in svg


def test_a_zone_inside_the_territory_says_nothing(territory_app: Flask) -> None:
    """Guards against false alarms: a zone inside the data has share 0 and no note."""
    event = declare(territory_app, "FICTIF-1", 180)  # towards the north, inland
    client = territory_app.test_client()
    client.login("cell")
    data = client.get(f"/api/v1/events/{event.id}/impact").get_json()
    first = data["zones"][0]
    assert first["uncovered_share"] == 0 and first["coverage"]["note"] == ""


@pytest.fixture
def generic(territory_app: Flask) -> events.Event:
    """A real site without published effect distances: the playbook's defaults are used."""
    return declare(territory_app, "SEVESO-CS-03", 200)


def test_generic_distances_are_flagged_in_the_api_and_the_tablet(
    territory_app: Flask, generic: Any
) -> None:
    """Guards item 4: the impact API and the tablet view said nothing on the main of before."""
    client = territory_app.test_client()
    client.login("liaison")
    data = client.get(f"/api/v1/events/{generic.id}/impact").get_json()
    assert all(z["generic_distance"] and z["distance_source"] == "playbook" for z in data["zones"])
    figures = f"/events/{generic.id}/impact"
    assert f'hx-get="{figures}"' in client.get(f"/events/{generic.id}/liaison").get_data(True)
    tablet = flat(client.get(figures, headers={"HX-Request": "true"}).get_data(as_text=True))
    assert "générique" in tablet and GENERIC in tablet.lower()


def test_generic_distances_are_flagged_in_the_report_the_extract_and_the_svg(
    territory_app: Flask, generic: Any, tmp_path: Path
) -> None:
    """Guards item 4 on paper: the report, the printable extract and the SVG."""
    db = connect(territory_app.config["CRISIS_DB"])
    report = reports.generate(db, T0, generic, author="Claire Morel")
    assert report is not None
    text = pdf_text(reports.report_pdf(db, report.id), tmp_path).lower()
    db.conn.close()
    assert GENERIC in text
    client = territory_app.test_client()
    client.login("cell")
    extract = pdf_text(client.get(f"/events/{generic.id}/extract.pdf").data, tmp_path).lower()
    assert GENERIC in extract
    svg = flat(client.get(f"/events/{generic.id}/map.svg").get_data(as_text=True)).lower()
    assert GENERIC in svg and "(distance générique)" in svg


def test_generic_distances_are_flagged_in_the_cap_export(
    territory_app: Flask, generic: Any
) -> None:
    """Guards item 4 in CAP: the info description says it and a parameter names the source."""
    client = territory_app.test_client()
    client.login("director")
    db = connect(territory_app.config["CRISIS_DB"])
    from app import messages

    body = messages.event_cap(db, T0, generic.id, playbooks()["toxic-release"])
    db.conn.close()
    cap_schema().validate(body)
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    info = ET.fromstring(body).find("cap:info", ns)
    assert info is not None
    assert "distances génériques du guide" in (info.findtext("cap:description", "", ns))
    params = {
        p.findtext("cap:valueName", "", ns): p.findtext("cap:value", "", ns)
        for p in info.findall("cap:parameter", ns)
    }
    assert params["caux-seine:distances"] == "génériques du guide"
    fictif = declare(territory_app, "FICTIF-1", 200)
    db = connect(territory_app.config["CRISIS_DB"])
    site = messages.event_cap(db, T0, fictif.id, playbooks()["toxic-release"])
    db.conn.close()
    assert b"distances g\xc3\xa9n\xc3\xa9riques" not in site
    assert "étude de dangers du site".encode() in site
