"""A data owner's server for the tests: pygeoapi (OGC API – Features) serving a GeoPackage.

pygeoapi runs as a subprocess on 127.0.0.1 (random port) from its own virtual environment,
``.venv/owner-server`` (``make dev`` builds it with Debian's python3: its SQLiteGPKG provider
loads ``mod_spatialite``, which the project's interpreter cannot load). The GeoPackage is
written here with plain sqlite3 (GeoPackage 1.3 tables and geometry blobs), so no GDAL is
needed on our side. :class:`Proxy` sits in front when a test needs the owner's server slow,
answering junk or redirecting elsewhere, and records what the server was asked (path, headers).
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import shape

OWNER_VENV = Path(sys.prefix) / "owner-server"
PYGEOAPI = OWNER_VENV / "bin" / "pygeoapi"

_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
    'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]'
)
_SQL_TYPES = {str: "TEXT", int: "INTEGER", float: "REAL", bool: "INTEGER"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _gpkg_blob(geom: Any) -> bytes:
    minx, miny, maxx, maxy = geom.bounds
    # 'GP', version 0, flags: little-endian (bit 0) + envelope [minx, maxx, miny, maxy] (code 1).
    header = b"GP" + bytes([0, 0b0000_0011]) + struct.pack("<i4d", 4326, minx, maxx, miny, maxy)
    return header + shapely.to_wkb(geom, byte_order=1, output_dimension=2)


def write_gpkg(
    path: Path, table: str, geometry_type: str, features: Iterable[dict[str, Any]]
) -> int:
    """Write GeoJSON features as one GeoPackage 1.3 feature table; return the count."""
    feats = list(features)
    columns: dict[str, str] = {}
    for f in feats:
        for k, v in f["properties"].items():
            if v is not None and k not in columns:
                columns[k] = _SQL_TYPES.get(type(v), "TEXT")
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    con.executescript(
        f"""
PRAGMA application_id = 1196444487;
PRAGMA user_version = 10300;
CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
  organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,
  definition TEXT NOT NULL, description TEXT);
CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
  identifier TEXT UNIQUE, description TEXT DEFAULT '', last_change DATETIME NOT NULL
  DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE, min_y DOUBLE, max_x DOUBLE,
  max_y DOUBLE, srs_id INTEGER REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
  geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL,
  m TINYINT NOT NULL, PRIMARY KEY (table_name, column_name));
CREATE TABLE "{table}" (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom {geometry_type.upper()},
  {", ".join(f'"{k}" {t}' for k, t in columns.items())});
"""
    )
    con.executemany(
        "INSERT INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,?)",
        [
            ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", None),
            ("Undefined geographic SRS", 0, "NONE", 0, "undefined", None),
            ("WGS 84 geodetic", 4326, "EPSG", 4326, _WGS84_WKT, None),
        ],
    )
    geoms = [shape(f["geometry"]) for f in feats]
    x0, y0, x1, y1 = shapely.total_bounds(geoms) if geoms else (0, 0, 0, 0)
    con.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, min_x, min_y, max_x,"
        " max_y, srs_id) VALUES (?, 'features', ?, ?, ?, ?, ?, 4326)",
        [table, table, x0, y0, x1, y1],
    )
    con.execute(
        "INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, 4326, 0, 0)",
        [table, geometry_type.upper()],
    )
    names = list(columns)
    marks = ",".join("?" * (len(names) + 1))
    cols = ", ".join(f'"{n}"' for n in names)
    con.executemany(
        f'INSERT INTO "{table}" (geom, {cols}) VALUES ({marks})',
        [
            [_gpkg_blob(g), *[f["properties"].get(n) for n in names]]
            for g, f in zip(geoms, feats, strict=True)
        ],
    )
    con.commit()
    con.close()
    return len(feats)


_CONFIG = """
server:
  bind: {{host: 127.0.0.1, port: {port}}}
  url: http://127.0.0.1:{port}
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  language: fr-FR
  pretty_print: false
  limits: {{default_items: 10, max_items: 10000}}
  map: {{url: "http://127.0.0.1/none/{{z}}/{{x}}/{{y}}.png", attribution: "none"}}
logging:
  level: INFO
  logfile: {log}
metadata:
  identification:
    title: Serveur du gestionnaire (tests)
    description: pygeoapi servant un GeoPackage, pour les tests de la console de crise
    keywords: [tests]
    keywords_type: theme
    terms_of_service: https://example.invalid/terms
    url: https://example.invalid
  license: {{name: test, url: https://example.invalid/license}}
  provider: {{name: tests, url: https://example.invalid}}
  contact: {{name: tests, position: tests, address: x, city: x, stateorprovince: x,
            postalcode: x, country: FR, email: tests@example.invalid}}
resources:
  {collection}:
    type: collection
    title: {collection}
    description: donnees de test ({collection})
    keywords: [tests]
    extents:
      spatial: {{bbox: [-180, -90, 180, 90], crs: "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}
    providers:
      - type: feature
        name: SQLiteGPKG
        data: {gpkg}
        id_field: {id_field}
        table: {table}
"""


class Pygeoapi:
    """pygeoapi serving one GeoPackage table as one collection, in a subprocess."""

    def __init__(self, workdir: Path, gpkg: Path, collection: str, table: str, id_field: str):
        if not PYGEOAPI.exists():
            raise RuntimeError(
                f"{PYGEOAPI} introuvable : lancez `make dev` (il construit {OWNER_VENV})"
            )
        self.workdir = workdir
        self.collection = collection
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "pygeoapi.log"
        self.config = workdir / "pygeoapi.yml"
        self.openapi = workdir / "openapi.yml"
        self.config.write_text(
            _CONFIG.format(
                port=self.port,
                log=self.log,
                collection=collection,
                gpkg=gpkg,
                table=table,
                id_field=id_field,
            )
        )
        self.env = {
            "PATH": f"{OWNER_VENV / 'bin'}:/usr/bin:/bin",
            "HOME": str(workdir),
            "PYGEOAPI_CONFIG": str(self.config),
            "PYGEOAPI_OPENAPI": str(self.openapi),
            "SPATIALITE_LIBRARY_PATH": "mod_spatialite",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Pygeoapi:
        if not self.openapi.exists():
            subprocess.run(
                [
                    str(PYGEOAPI),
                    "openapi",
                    "generate",
                    str(self.config),
                    "--output-file",
                    str(self.openapi),
                ],
                env=self.env,
                check=True,
                capture_output=True,
                timeout=120,
            )
        with (self.workdir / "pygeoapi.err").open("ab") as err:
            self.process = subprocess.Popen(
                [str(PYGEOAPI), "serve", "--flask"],
                env=self.env,
                cwd=self.workdir,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "pygeoapi s'est arrêté au démarrage : "
                    + (self.workdir / "pygeoapi.err").read_text(errors="replace")[-2000:]
                )
            try:
                with urllib.request.urlopen(f"{self.url}/collections?f=json", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("pygeoapi ne répond pas après le démarrage")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


class Proxy:
    """A tiny HTTP proxy in front of the owner's server, with a mode a test sets.

    Modes: ``pass`` (forward), ``slow`` (wait ``delay`` seconds, then forward), ``junk``
    (HTTP 200 with a body that is not GeoJSON), ``html`` (an HTML error page), ``huge``
    (an endless body), ``offsite`` (a redirect to another host), ``error`` (HTTP 503).
    Every request is recorded: path and headers.
    """

    def __init__(self, target: str):
        self.target = target
        self.mode = "pass"
        self.delay = 10.0
        self.requests: list[dict[str, Any]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                proxy.requests.append({"path": self.path, "headers": dict(self.headers)})
                mode = proxy.mode
                if mode == "slow":
                    time.sleep(proxy.delay)
                if mode == "junk":
                    return self._send(200, b"<<<not json at all>>>", "application/geo+json")
                if mode == "html":
                    return self._send(200, b"<html><body>Maintenance</body></html>", "text/html")
                if mode == "error":
                    return self._send(503, b"Service Unavailable", "text/plain")
                if mode == "wrong-shape":
                    body = json.dumps({"type": "FeatureCollection", "features": [{"type": "x"}]})
                    return self._send(200, body.encode(), "application/geo+json")
                if mode == "offsite":
                    self.send_response(302)
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if mode == "huge":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/geo+json")
                    self.end_headers()
                    try:
                        self.wfile.write(b'{"type":"FeatureCollection","features":[')
                        chunk = b" " * 65536
                        for _ in range(100_000):
                            self.wfile.write(chunk)
                    except OSError:
                        pass
                    self.close_connection = True
                    return None
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                request = urllib.request.Request(proxy.target + self.path, headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=30) as r:
                        body = r.read()
                        # The server's links name itself: rewrite them to the proxy's address.
                        body = body.replace(proxy.target.encode(), proxy.url.encode())
                        return self._send(r.status, body, r.headers.get("Content-Type", ""))
                except urllib.error.HTTPError as exc:
                    return self._send(exc.code, exc.read(), exc.headers.get("Content-Type", ""))

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def demo_features(slug: str) -> list[dict[str, Any]]:
    path = Path(__file__).resolve().parent.parent / "data" / f"{slug}.geojson"
    return json.loads(path.read_text("utf-8"))["features"]


os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
