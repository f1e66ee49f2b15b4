"""Catalogue pages, upload, exports, the map page and the datasets API: access and behaviour."""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask

from app import catalogue
from app.db import connect

PAGES = ["/catalogue", "/catalogue/communes", "/map", "/catalogue/communes/export.geojson"]
API = ["/api/v1/datasets", "/api/v1/datasets/communes/features"]


@pytest.fixture
def tclient(territory_app: Flask) -> Any:
    return territory_app.test_client()


def dataset(app: Flask, slug: str) -> catalogue.Dataset:
    db = connect(app.config["CRISIS_DB"])
    try:
        return catalogue.require_dataset(db, slug)
    finally:
        db.conn.close()


@pytest.mark.parametrize("url", PAGES)
def test_pages_redirect_when_signed_out(tclient: Any, url: str) -> None:
    response = tclient.get(url)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("url", API)
def test_api_needs_authentication(tclient: Any, url: str) -> None:
    assert tclient.get(url).status_code == 401


@pytest.mark.parametrize("login", ["cell", "liaison", "steward", "admin", "director"])
@pytest.mark.parametrize("url", PAGES + API)
def test_any_signed_in_user_reads_public_data(tclient: Any, login: str, url: str) -> None:
    tclient.login(login)
    assert tclient.get(url).status_code == 200


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self.attrs: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        d = dict(attrs)
        if tag == "a" and (d.get("href") or "").startswith("/catalogue/"):
            self.rows.append(d["href"] or "")
        if d.get("id"):
            self.attrs[d["id"] or ""] = d


def parse(html: str) -> _Links:
    p = _Links()
    p.feed(html)
    return p


def test_list_filters_and_htmx_fragment(tclient: Any) -> None:
    tclient.login("cell")
    page = parse(tclient.get("/catalogue").get_data(as_text=True))
    assert len(page.rows) == 20  # the demo catalogue (reception-centres included)
    filtered = parse(tclient.get("/catalogue?theme=network&owner=grdf").get_data(as_text=True))
    assert sorted(filtered.rows) == ["/catalogue/gas-assets", "/catalogue/gas-network"]
    frag = tclient.get("/catalogue?sensitivity=personal", headers={"HX-Request": "true"})
    html = frag.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="catalogue-results">')
    assert parse(html).rows == ["/catalogue/vulnerable-persons"]
    assert "HX-Request" in frag.headers["Vary"]


def test_restricted_dataset_shows_metadata_not_features(tclient: Any) -> None:
    tclient.login("cell")
    html = tclient.get("/catalogue/vulnerable-persons").get_data(as_text=True)
    assert "Registre des personnes vulnérables" in html and "bris de glace" in html
    assert "export.geojson" not in html
    for url in (
        "/catalogue/vulnerable-persons/export.geojson",
        "/catalogue/gas-network/export.csv",
    ):
        assert tclient.get(url).status_code == 403
    api = tclient.get("/api/v1/datasets/gas-network/features")
    assert api.status_code == 403 and "bris de glace" in api.get_json()["error"]
    meta = tclient.get("/api/v1/datasets").get_json()["datasets"]
    gas = next(d for d in meta if d["slug"] == "gas-network")
    assert gas["sensitivity"] == "restricted" and gas["feature_count"] > 0
    assert "features" not in gas


def test_dataset_page_shows_revision_times_in_local_time(tclient: Any) -> None:
    tclient.login("cell")
    html = tclient.get("/catalogue/communes").get_data(as_text=True)
    assert "Révision 1</strong> — " in html
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", html), "raw UTC timestamp shown"


def test_api_features_geojson_with_ids_and_bbox(tclient: Any) -> None:
    tclient.login("liaison")
    fc = json.loads(tclient.get("/api/v1/datasets/communes/features").get_data(as_text=True))
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 50
    assert sum(f["properties"]["population"] for f in fc["features"]) == 77990
    assert all(f["id"] == f["properties"]["insee"] for f in fc["features"])
    small = tclient.get("/api/v1/datasets/schools/features?bbox=0.5,49.5,0.6,49.6")
    assert 0 < len(json.loads(small.get_data(as_text=True))["features"]) < 115
    assert tclient.get("/api/v1/datasets/schools/features?bbox=1,2").status_code == 400
    assert tclient.get("/api/v1/datasets/nope/features").status_code == 404


def test_csv_export_download(tclient: Any) -> None:
    tclient.login("cell")
    response = tclient.get("/catalogue/schools/export.csv")
    assert response.headers["Content-Disposition"] == 'attachment; filename="schools.csv"'
    assert response.get_data(as_text=True).startswith("id,name,type")


def _upload(client: Any, slug: str, content: bytes, name: str = "f.geojson", **form: str) -> Any:
    data = {"file": (io.BytesIO(content), name), **form}
    return client.post(f"/catalogue/{slug}/import", data=data, content_type="multipart/form-data")


GAS_ASSET = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {
                "id": "DEMO-GAS-UP-1",
                "type": "valve",
                "name": "FICTIF — Robinet test",
                "commune": "Lillebonne",
                "commune_insee": "76384",
                "source": "synthetic",
            },
            "geometry": {"type": "Point", "coordinates": [0.55, 49.5]},
        }
    ],
}


def test_upload_form_only_for_stewards_of_the_owner(tclient: Any) -> None:
    tclient.login("steward")  # GRDF
    assert 'id="import-form"' in tclient.get("/catalogue/gas-assets").get_data(as_text=True)
    assert 'id="import-form"' not in tclient.get("/catalogue/communes").get_data(as_text=True)


def test_steward_upload_imports_and_redirects(territory_app: Flask, tclient: Any) -> None:
    before = dataset(territory_app, "gas-assets")
    tclient.login("steward")
    fields = {f.name for f in before.fields}
    props = GAS_ASSET["features"][0]["properties"]  # type: ignore[index]
    # The sample feature carries every required field: an upload that fails on it is a regression.
    assert all(f.name in props for f in before.fields if f.required)
    assert fields
    response = _upload(tclient, "gas-assets", json.dumps(GAS_ASSET).encode())
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    after = dataset(territory_app, "gas-assets")
    assert after.revision == before.revision + 1
    assert after.feature_count == before.feature_count + 1
    page = tclient.get(response.headers["Location"]).get_data(as_text=True)
    assert "Import enregistré" in page and "f.geojson" in page


def test_bad_upload_shows_the_problems_and_writes_nothing(
    territory_app: Flask, tclient: Any
) -> None:
    before = dataset(territory_app, "gas-assets")
    tclient.login("steward")
    bad = json.loads(json.dumps(GAS_ASSET))
    bad["features"][0]["geometry"]["coordinates"] = [49.5, 0.55]
    response = _upload(tclient, "gas-assets", json.dumps(bad).encode(), "bad.geojson")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "rien n" in html and "a été écrit" in html and "bad.geojson, entité 0" in html
    assert "inversées" in html
    frag = tclient.post(
        "/catalogue/gas-assets/import",
        data={"file": (io.BytesIO(b""), "empty.geojson")},
        content_type="multipart/form-data",
        headers={"HX-Request": "true"},
    )
    assert frag.status_code == 422
    assert (
        frag.get_data(as_text=True).lstrip().startswith('<section class="card" id="import-form">')
    )
    assert dataset(territory_app, "gas-assets") == before


def test_steward_of_another_org_cannot_upload(territory_app: Flask, tclient: Any) -> None:
    before = dataset(territory_app, "communes")
    tclient.login("steward")  # GRDF, not caux-seine
    assert _upload(tclient, "communes", b"{}").status_code == 403
    assert dataset(territory_app, "communes") == before


@pytest.mark.parametrize("login", ["cell", "director", "admin"])
def test_non_stewards_cannot_upload(tclient: Any, login: str) -> None:
    tclient.login(login)
    assert _upload(tclient, "gas-assets", b"{}").status_code == 403


def test_upload_signed_out_redirects(tclient: Any) -> None:
    tclient.refresh_csrf()
    response = _upload(tclient, "gas-assets", b"{}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_upload_too_large_gets_a_clear_413(territory_app: Flask, tclient: Any) -> None:
    tclient.login("steward")
    territory_app.config["MAX_CONTENT_LENGTH"] = 2000
    response = _upload(tclient, "gas-assets", b" " * 5000)
    assert response.status_code == 413
    body = response.get_data(as_text=True)
    assert "Fichier trop volumineux" in body
    limit = territory_app.config["CRISIS_MAX_UPLOAD_MB"]
    assert f"taille maximale acceptée ({limit} Mo)" in body


def test_map_page_passes_public_layers_only(tclient: Any) -> None:
    tclient.login("liaison")
    html = tclient.get("/map").get_data(as_text=True)
    page = parse(html)
    layers = json.loads(page.attrs["map"]["data-layers"] or "[]")
    slugs = [layer["slug"] for layer in layers]
    assert slugs[:4] == ["communes", "territory", "seine", "roads"]
    assert "gas-network" not in slugs and "vulnerable-persons" not in slugs
    assert all(layer["url"].startswith("/api/v1/datasets/") for layer in layers)
    assert "<script>" not in html and "style=" not in html  # strict CSP: no inline code
    assert "/vendor/leaflet/leaflet.js" in html and "/static/js/map.js" in html
