"""Import a generated 200,000-point GeoJSON: streaming importer vs a naive json.load import.

Run with ``python -m bench.bench_import [N]``. Prints wall time, peak Python allocations
(tracemalloc) and the process's peak RSS. Both imports validate and write the same features.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import catalogue, demo, imports, schema
from app.db import connect

from .common import peak_rss_mb, print_table

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
DATA = Path(__file__).resolve().parent.parent / "data"


def generate(path: Path, n: int) -> None:
    """n school-like points inside the territory, written feature by feature."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"type":"FeatureCollection","features":[\n')
        for i in range(n):
            props = {
                "id": f"DEMO-BENCH-{i}",
                "name": f"FICTIF — Point {i}",
                "type": "ecole",
                "capacity": i % 500,
                "commune": "Bolbec",
                "commune_insee": "76114",
                "source": "synthetic",
            }
            lon = 0.40 + (i % 1000) * 0.0004
            lat = 49.42 + (i // 1000) * 0.0012
            feat = {
                "type": "Feature",
                "properties": props,
                "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
            }
            fh.write(("," if i else "") + json.dumps(feat, ensure_ascii=False) + "\n")
        fh.write("]}\n")


def fresh_db(folder: Path, name: str) -> Any:
    db = connect(folder / name)
    schema.migrate(db)
    demo.load_accounts(db, NOW, DATA)
    loader_doc = {"slug": "schools"}
    import yaml

    doc = yaml.safe_load((DATA / "catalogue.yaml").read_text("utf-8"))
    for org in doc["organisations"]:
        from app import auth

        auth.ensure_org(db, NOW, org["slug"], org["name"], org.get("kind", "other"))
    spec = next(d for d in doc["datasets"] if d["slug"] == loader_doc["slug"])
    catalogue.ensure_dataset(db, NOW, spec)
    return db


def streaming(db: Any, path: Path) -> int:
    return imports.import_file(db, NOW, "schools", path, actor="bench").features


def naive(db: Any, path: Path) -> int:
    """What the obvious code does: json.load the whole file, validate, write."""
    doc = json.loads(path.read_text("utf-8"))
    dataset = catalogue.require_dataset(db, "schools")
    validator = imports.Validator(dataset, catalogue.territory_extent(db), 4326)
    report = imports._Report(path.name)
    prepared = [validator.check(f, report, f"entité {i}") for i, f in enumerate(doc["features"])]
    assert not report.problems, report.problems[:3]
    return catalogue.write_features(
        db, NOW, "schools", [p for p in prepared if p], actor="bench", file_name=path.name
    ).features


def measure(fn: Any, db: Any, path: Path) -> tuple[float, float, int]:
    tracemalloc.start()
    t0 = time.perf_counter()
    count = fn(db, path)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 2**20, count


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "points.geojson"
        generate(path, n)
        size_mb = path.stat().st_size / 2**20
        rows = []
        for label, fn in (("streaming (app.imports)", streaming), ("naive json.load", naive)):
            db = fresh_db(folder, f"{label.split()[0]}.db")
            elapsed, peak, count = measure(fn, db, path)
            rows.append([label, count, round(elapsed, 2), round(peak, 1)])
            db.conn.close()
        print(f"{n:,} points, file {size_mb:.1f} MB")
        print_table(rows, ["import", "features", "seconds", "peak traced MB"])
        print(f"peak RSS of the process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
