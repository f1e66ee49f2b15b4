"""The territory's raster basemap served by the console: tiles, caching, access, the PDF extract."""

from __future__ import annotations

import io
import json
import re
import subprocess

import numpy as np
import pytest
from PIL import Image

from app.db import connect
from tests.basemap_tiles import ATTRIBUTION, GREEN, data_dir_with_basemap, tile_range
from tests.conftest import make_app
from tests.unit.test_access_support import add_event


@pytest.fixture
def basemap_app(tmp_path, territory_template):
    data = data_dir_with_basemap(tmp_path / "data")
    return make_app(tmp_path, territory_template, CRISIS_DATA=str(data))


def rasters(client):
    page = client.get("/map").get_data(as_text=True)
    return json.loads(re.search(r"data-basemaps='([^']*)'", page).group(1))


def tile_url(client, z=12, xi=2, yi=2):
    template = rasters(client)[0]["url"]
    xs, ys = tile_range(z)
    return template.replace("{z}", str(z)).replace("{x}", str(xs[xi])).replace("{y}", str(ys[yi]))


def test_tiles_are_served_cached_and_only_to_signed_in_users(basemap_app):
    client = basemap_app.test_client()
    client.login("liaison")
    url = tile_url(client)
    assert re.fullmatch(r"/basemaps/test/12/\d+/\d+\.png\?v=[0-9a-f]+", url)
    r = client.get(url)
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert Image.open(io.BytesIO(r.data)).size == (256, 256)
    assert r.headers["Cache-Control"] == "private, max-age=604800"
    etag = r.headers["ETag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get("/basemaps/test/12/0/0.png").status_code == 404  # not in the file
    assert client.get("/basemaps/test/13/0/0.png").status_code == 404  # beyond its zooms
    assert client.get(url.replace(".png", ".jpg")).status_code == 404
    assert client.get("/basemaps/autre/12/0/0.png").status_code == 404
    anonymous = basemap_app.test_client()
    r = anonymous.get(url)
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")


def test_map_pages_draw_the_raster_basemap(basemap_app):
    client = basemap_app.test_client()
    client.login("cell")
    page = client.get("/map").get_data(as_text=True)
    assert "Fond de carte du territoire (Fond de test)" in page
    (raster,) = rasters(client)
    assert raster["attribution"] == ATTRIBUTION and raster["maxNativeZoom"] == 12


def test_extract_pdf_has_the_basemap_under_the_zones(basemap_app, tmp_path):
    db = connect(basemap_app.config["CRISIS_DB"])
    event_id = add_event(db, basemap_app.config["CLOCK"].now(), lon=0.535, lat=49.52, zone=False)
    db.conn.close()
    client = basemap_app.test_client()
    client.login("director")
    r = client.get(f"/events/{event_id}/extract.pdf?paper=A4")
    assert r.status_code == 200 and r.data.startswith(b"%PDF")
    (tmp_path / "extract.pdf").write_bytes(r.data)
    out = subprocess.run(
        ["pdftotext", str(tmp_path / "extract.pdf"), "-"], capture_output=True, text=True
    ).stdout
    assert f"Fond : {ATTRIBUTION}" in out
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", str(tmp_path / "extract.pdf"), str(tmp_path / "page")],
        check=True,
    )
    px = np.asarray(Image.open(next(tmp_path.glob("page*.png"))).convert("RGB")).astype(int)
    h, w, _ = px.shape
    frame = px[h // 6 : 5 * h // 6, w // 10 : 9 * w // 10]
    green = np.abs(frame - np.array(GREEN)).sum(axis=2) < 40
    assert green.mean() > 0.2  # the basemap shows between the zones and outlines


def test_a_broken_basemap_falls_back_to_the_outline_one(tmp_path, territory_template):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "bad.mbtiles").write_bytes(b"this is not sqlite" * 100)
    data = data_dir_with_basemap(
        tmp_path / "data", "  - {name: bad, file: bad.mbtiles, attribution: x}\n"
    )
    app = make_app(tmp_path, territory_template, CRISIS_DATA=str(data))
    client = app.test_client()
    client.login("cell")
    page = client.get("/map").get_data(as_text=True)
    assert "Fond de carte inutilisable" in page and "bad.mbtiles" in page
    assert "data-basemaps='[]'" in page
