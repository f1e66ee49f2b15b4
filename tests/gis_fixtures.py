"""Builders of small GIS files for the import tests (written with pyogrio, read back by hand)."""

from __future__ import annotations

import sqlite3
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyogrio import raw
from pyproj import Transformer

TO_L93 = Transformer.from_crs(4326, 2154, always_xy=True)
TO_WGS = Transformer.from_crs(2154, 4326, always_xy=True)


def write_layer(
    path: Path,
    geoms: list[Any],
    props: dict[str, list[Any]],
    *,
    layer: str | None = None,
    crs: str = "EPSG:4326",
    driver: str | None = None,
    encoding: str | None = None,
    geometry_type: str | None = None,
    append: bool = False,
) -> Path:
    """One layer: shapely geometries and columns of values."""
    fields = list(props)
    data = [
        np.array(v, dtype=object) if isinstance(v[0], str) else np.array(v) for v in props.values()
    ]
    raw.write(
        str(path),
        shapely.to_wkb(np.array(geoms, dtype=object)),
        geometry_type=geometry_type
        or shapely.get_type_id(geoms[0])
        and geoms[0].geom_type
        or "Point",
        field_data=data,
        fields=fields,
        crs=crs,
        layer=layer,
        driver=driver,
        encoding=encoding,
        append=append,
    )
    return path


def zip_shapefile(folder: Path, stem: str, out: Path, skip: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for f in sorted(folder.glob(stem + ".*")):
            if f.suffix.lower() not in skip:
                zf.write(f, f.name)
    return out


def read_dbf(path: Path, encoding: str) -> list[dict[str, str]]:
    """A DBF's records as text, decoded with ``encoding`` (an independent reader: struct only)."""
    data = path.read_bytes()
    count, header_len, record_len = struct.unpack("<IHH", data[4:12])
    fields = []
    pos = 32
    while data[pos] != 0x0D:
        name = data[pos : pos + 11].split(b"\0")[0].decode("ascii")
        fields.append((name, data[pos + 16]))
        pos += 32
    out = []
    for i in range(count):
        rec = data[header_len + i * record_len : header_len + (i + 1) * record_len]
        offset = 1
        row = {}
        for name, length in fields:
            row[name] = rec[offset : offset + length].decode(encoding).strip()
            offset += length
        out.append(row)
    return out


def read_shp_lines(path: Path) -> list[list[tuple[float, float]]]:
    """The vertices of a polyline .shp, part by part flattened (struct only)."""
    data = path.read_bytes()
    pos = 100
    out = []
    while pos < len(data):
        _, length = struct.unpack(">ii", data[pos : pos + 8])
        content = data[pos + 8 : pos + 8 + 2 * length]
        (shape_type,) = struct.unpack("<i", content[:4])
        assert shape_type == 3, shape_type
        parts, points = struct.unpack("<ii", content[36:44])
        base = 44 + 4 * parts
        out.append(
            [
                struct.unpack("<dd", content[base + 16 * k : base + 16 * k + 16])
                for k in range(points)
            ]
        )
        pos += 8 + 2 * length
    return out


def read_gpkg(path: Path, table: str) -> list[dict[str, Any]]:
    """A GeoPackage table through sqlite3: columns, and the geometry from the GPKG blob."""
    con = sqlite3.connect(path)
    try:
        geom_col = con.execute(
            "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", [table]
        ).fetchone()[0]
        cur = con.execute(f'SELECT * FROM "{table}"')
        names = [d[0] for d in cur.description]
        rows = []
        for r in cur.fetchall():
            row = dict(zip(names, r, strict=True))
            blob = row.pop(geom_col)
            flags = blob[3]
            envelope = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[(flags >> 1) & 0x07]
            row["geometry"] = shapely.from_wkb(bytes(blob[8 + envelope :]))
            rows.append(row)
        return rows
    finally:
        con.close()
