"""A small synthetic raster basemap for the tests: Pillow draws the tiles, stored as MBTiles.

Each tile is a flat pale green with a darker grid line and its own z/x/y written on it, so a
screenshot or a rendered PDF shows at once whether the basemap is drawn, where and at which
zoom. Bounds cover Caux Seine; zooms 8 to 12 (about a hundred tiles).
"""

from __future__ import annotations

import io
import math
import sqlite3
from pathlib import Path

from PIL import Image, ImageDraw

PROJECT = Path(__file__).resolve().parent.parent
BOUNDS = (0.30, 49.35, 0.90, 49.75)
GREEN = (186, 224, 176)
LINE = (90, 140, 80)
ATTRIBUTION = "Fond de test (tuiles synthétiques)"


def tile_range(z: int, bounds: tuple[float, float, float, float] = BOUNDS):
    def tx(lon: float) -> int:
        return int((lon + 180.0) / 360.0 * (1 << z))

    def ty(lat: float) -> int:
        r = math.radians(lat)
        return int((1.0 - math.asinh(math.tan(r)) / math.pi) / 2.0 * (1 << z))

    return range(tx(bounds[0]), tx(bounds[2]) + 1), range(ty(bounds[3]), ty(bounds[1]) + 1)


def draw_tile(z: int, x: int, y: int, fmt: str = "PNG") -> bytes:
    img = Image.new("RGB", (256, 256), GREEN)
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, 255, 255), outline=LINE, width=2)
    d.line((0, 128, 255, 128), fill=(160, 200, 150))
    d.line((128, 0, 128, 255), fill=(160, 200, 150))
    d.text((12, 12), f"TEST {z}/{x}/{y}", fill=(30, 60, 30))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def make_mbtiles(path: Path, zooms: range = range(8, 13), fmt: str = "png") -> int:
    """Write the test basemap as an MBTiles file (TMS rows); return the number of tiles."""
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE metadata (name TEXT, value TEXT);"
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER,"
        " tile_data BLOB);"
        "CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);"
    )
    con.executemany(
        "INSERT INTO metadata VALUES (?, ?)",
        [
            ("name", "Fond de test"),
            ("format", fmt),
            ("bounds", ",".join(str(v) for v in BOUNDS)),
            ("minzoom", str(zooms.start)),
            ("maxzoom", str(zooms.stop - 1)),
            ("attribution", ATTRIBUTION),
            ("type", "baselayer"),
        ],
    )
    n = 0
    for z in zooms:
        xs, ys = tile_range(z)
        for x in xs:
            for y in ys:
                data = draw_tile(z, x, y, "JPEG" if fmt == "jpg" else "PNG")
                con.execute("INSERT INTO tiles VALUES (?,?,?,?)", [z, x, (1 << z) - 1 - y, data])
                n += 1
    con.commit()
    con.close()
    return n


def data_dir_with_basemap(tmp: Path, entry: str | None = None) -> Path:
    """A CRISIS_DATA directory: the demo catalogue plus a `basemaps:` list naming the file."""
    tmp.mkdir(parents=True, exist_ok=True)
    if entry is None:
        make_mbtiles(tmp / "test.mbtiles")
        entry = (
            "  - {name: test, title: Fond de test, file: test.mbtiles,"
            f' attribution: "{ATTRIBUTION}", min_zoom: 8, max_zoom: 12}}\n'
        )
    text = (PROJECT / "data" / "catalogue.yaml").read_text("utf-8")
    (tmp / "catalogue.yaml").write_text(text + "\nbasemaps:\n" + entry, "utf-8")
    return tmp
