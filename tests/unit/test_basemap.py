"""The territory's raster basemap: declaration, MBTiles and PMTiles reading, the print mosaic."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shapely.geometry import Point

from app import basemap
from app.geo import proj, render
from tests.basemap_tiles import ATTRIBUTION, GREEN, make_mbtiles, tile_range

SPEC = {"name": "test", "file": "test.mbtiles", "attribution": ATTRIBUTION, "max_zoom": 12}


@pytest.fixture(scope="module")
def mbtiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("basemap") / "test.mbtiles"
    make_mbtiles(path)
    return path


def opened(path: Path, **extra) -> basemap.Basemap:
    specs = basemap.parse_basemaps({"basemaps": [{**SPEC, **extra}]}, path.parent)
    return basemap.open_basemap(specs[0])


def test_parse_basemaps(tmp_path: Path):
    (spec,) = basemap.parse_basemaps({"basemaps": [SPEC]}, tmp_path)
    assert spec.path == tmp_path / "test.mbtiles" and spec.format == "mbtiles"
    assert (spec.min_zoom, spec.max_zoom) == (0, 12)
    assert basemap.parse_basemaps({}, tmp_path) == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**SPEC, "name": "Plan IGN"}, "name : minuscules"),
        ({k: v for k, v in SPEC.items() if k != "attribution"}, "doit être citée"),
        ({**SPEC, "file": "plan.tif"}, "format : « tif » inconnu"),
        ({**SPEC, "min_zoom": 14}, "min_zoom dépasse max_zoom"),
        ({**SPEC, "max_zoom": 30}, "max_zoom : entier de 0 à 22"),
        ({**SPEC, "url": "https://tiles.example"}, "clé inconnue url"),
    ],
)
def test_parse_basemaps_refuses_with_the_entry(tmp_path: Path, entry, message):
    with pytest.raises(basemap.BasemapError, match=r"basemaps\[0\]") as err:
        basemap.parse_basemaps({"basemaps": [entry]}, tmp_path)
    assert message in str(err.value)


def test_mbtiles_tiles_are_read_with_the_tms_row_flipped(mbtiles: Path):
    b = opened(mbtiles)
    assert b.tile_type == "png" and b.mimetype == "image/png"
    xs, ys = tile_range(12)
    x, y = xs[2], ys[3]
    con = sqlite3.connect(mbtiles)
    expected = con.execute(
        "SELECT tile_data FROM tiles WHERE zoom_level = 12 AND tile_column = ? AND tile_row = ?",
        [x, (1 << 12) - 1 - y],
    ).fetchone()[0]
    con.close()
    data, etag = b.tile(12, x, y)
    assert data == expected and etag.startswith(b.version)
    assert b.tile(12, x, y) == (data, etag)  # from the cache, same ETag
    assert b.tile(12, 0, 0) is None  # outside the file
    assert b.tile(13, x * 2, y * 2) is None  # beyond max_zoom
    assert b.tile(12, -1, y) is None and b.tile(12, 1 << 12, y) is None


def test_pmtiles_give_the_same_tiles(mbtiles: Path, tmp_path: Path):
    from pmtiles.convert import mbtiles_to_pmtiles

    out = tmp_path / "test.pmtiles"
    mbtiles_to_pmtiles(str(mbtiles), str(out), 12)
    p = opened(out, file="test.pmtiles")
    m = opened(mbtiles)
    xs, ys = tile_range(11)
    assert p.tile_type == "png"
    assert p.tile(11, xs[1], ys[1])[0] == m.tile(11, xs[1], ys[1])[0]
    assert p.tile(11, 0, 0) is None
    assert p.bounds == pytest.approx((0.30, 49.35, 0.90, 49.75), abs=1e-6)


def test_unusable_files_are_named(tmp_path: Path):
    vector = tmp_path / "vector.mbtiles"
    con = sqlite3.connect(vector)
    con.executescript(
        "CREATE TABLE metadata (name, value); INSERT INTO metadata VALUES ('format', 'pbf');"
        "CREATE TABLE tiles (zoom_level, tile_column, tile_row, tile_data);"
    )
    con.close()
    with pytest.raises(basemap.BasemapError, match=r"vector\.mbtiles : tuiles « pbf »"):
        opened(vector, file="vector.mbtiles")
    (tmp_path / "junk.pmtiles").write_bytes(b"not a pmtiles archive" * 10)
    with pytest.raises(basemap.BasemapError, match=r"junk\.pmtiles : pas une archive PMTiles"):
        opened(tmp_path / "junk.pmtiles", file="junk.pmtiles")
    with pytest.raises(basemap.BasemapError, match="fichier introuvable"):
        opened(tmp_path / "absent.mbtiles", file="absent.mbtiles")
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(
        "basemaps:\n"
        "  - {name: a, file: absent.mbtiles, attribution: x}\n"
        "  - {name: b, file: junk.pmtiles, attribution: x}\n"
    )
    lib = basemap.load_library(catalogue)
    assert lib.basemaps == [] and lib.default is None
    assert len(lib.problems) == 2 and "absent.mbtiles" in lib.problems[0]


def test_underlay_mosaics_and_reprojects_to_lambert93(mbtiles: Path):
    b = opened(mbtiles)
    cx, cy = (float(v) for v in proj.lonlat_to_l93(0.535, 49.52))  # Lillebonne
    extent = (cx - 4000, cy - 3000, cx + 4000, cy + 3000)
    img = b.underlay(extent, 800, 600)  # 10 m per pixel
    assert img.size == (800, 600) and img.mode == "RGBA"
    assert b.zoom_for(10.0, 49.52) == 12  # clamped to the file's max zoom (its native 25 m)
    px = np.asarray(img)
    assert (px[..., 3] == 255).all()  # the file covers the whole extent
    near_green = np.abs(px[..., :3].astype(int) - np.array(GREEN)).sum(axis=2) < 12
    assert near_green.mean() > 0.8
    # Outside the file's coverage: transparent, and None when no tile at all.
    far = proj.lonlat_to_l93(2.35, 48.85)  # Paris
    assert b.underlay((far[0] - 1000, far[1] - 1000, far[0] + 1000, far[1] + 1000), 50, 50) is None


def test_extract_pdf_draws_the_basemap_under_the_map(mbtiles: Path, tmp_path: Path):
    b = opened(mbtiles)
    cx, cy = (float(v) for v in proj.lonlat_to_l93(0.535, 49.52))
    spec = render.MapSpec(
        title="Test du fond raster",
        extent=(cx - 3000, cy - 2000, cx + 3000, cy + 2000),
        source=Point(cx, cy),
        source_label="Point déclaré",
        underlay=b,
        attribution=f"Fond : {ATTRIBUTION}",
    )
    drawing = render.render_map(spec, 760, 520)
    assert any(isinstance(s, render.Image) for s in drawing.contents)
    pdf = render.map_extract_pdf(spec, "A4", "23/11/2026 14:00")
    out = tmp_path / "extract.pdf"
    out.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(out), str(tmp_path / "page")], check=True)
    page = Image.open(next(tmp_path.glob("page*.png"))).convert("RGB")
    px = np.asarray(page).astype(int)
    h, w, _ = px.shape
    middle = px[h // 3 : 2 * h // 3, w // 4 : 3 * w // 4]
    near_green = np.abs(middle - np.array(GREEN)).sum(axis=2) < 40
    assert near_green.mean() > 0.5
    # Without the basemap, no image: the frame keeps its pale background.
    plain = render.render_map(render.MapSpec(title="x", extent=spec.extent), 760, 520)
    assert not any(isinstance(s, render.Image) for s in plain.contents)
