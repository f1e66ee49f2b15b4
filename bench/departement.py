"""A département-size SYNTHETIC console database for the benchmarks (not a benchmark itself).

The demo database (``crisis-console init`` + ``demo``, the real commands) with the synthetic
département of ``scripts/make_departement.py`` (the GIS-formats generator: about the
Seine-Maritime, seeded, ids ``DEMO-DEP-…``, names ``FICTIF — …``, ``source`` = ``synthetic``)
imported by the console's importer (validation, reprojection, the water owner's field mapping,
one transaction per file), at ``scale`` 1:

- ``territory``: the département's outline (the extent every import is checked against);
- ``etablissements-76``: a new public point dataset, the 1,000,000 establishments of
  ``etablissements.fgb`` (the *big layer*: the analysis counts and lists it, no map draws it);
- ``water-network``: the 500,000 segments of ``reseau_eau.zip`` (restricted: counts only);
- ``population-grid``: the 250,000 cells of ``departement.gpkg`` (layer ``carreaux``).

The generated files (``build/departement/``) and the database (``build/bench/``) are cached and
reused while :data:`VERSION` and the scale are the same; each run gets its own copy.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
CACHE = PROJECT / "build" / "bench"
VERSION = "2"
BIG = "etablissements-76"
BIG_SPEC = {
    "slug": BIG,
    "title": "Établissements du département (FICTIF, banc d'essai)",
    "description": "1 000 000 établissements synthétiques sur l'emprise du département.",
    "owner": "departement-76",
    "theme": "population",
    "geometry_type": "Point",
    "sensitivity": "public",
    "id_field": "id",
    "source": "synthetic",
    "fields": [
        {"name": "id", "type": "str", "required": True},
        {"name": "name", "type": "str", "required": True},
        {"name": "type", "type": "str", "required": True},
        {"name": "capacity", "type": "int", "required": True},
        {"name": "commune", "type": "str"},
        {"name": "commune_insee", "type": "str"},
        {"name": "source", "type": "str", "required": True},
    ],
}


def generator() -> Any:
    """scripts/make_departement.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "make_departement", PROJECT / "scripts" / "make_departement.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def files(scale: float) -> Path:
    """The generator's files at ``scale`` (made once, kept in build/departement/)."""
    gen = generator()
    folder = Path(gen.DEFAULT_OUT) if scale == 1.0 else PROJECT / "build" / f"departement-{scale:g}"
    mark = folder / "SCALE"
    wanted = ("departement.gpkg", "etablissements.fgb", "reseau_eau.zip")
    if not (
        mark.exists()
        and float(mark.read_text()) == scale
        and all((folder / f).exists() for f in wanted)
    ):
        t0 = time.perf_counter()
        gen.generate(folder, scale)
        print(f"département files generated in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return folder


def counts(scale: float) -> dict[str, int]:
    return dict(generator().counts(scale))


def _cli(env: dict[str, str], *args: str) -> None:
    exe = Path(sys.executable).with_name("crisis-console")
    done = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"crisis-console {' '.join(args)} failed:\n{done.stderr[-2000:]}")


def env_for(db_path: Path, workdir: Path) -> dict[str, str]:
    """The environment of a console process on ``db_path`` (scheduler off, keys in workdir)."""
    return {
        **os.environ,
        "CRISIS_DB": str(db_path),
        "CRISIS_SECRET_KEY": "bench-" + "0" * 58,
        "CRISIS_CHECKPOINT_KEY": str(workdir / "checkpoint.key"),
        "CRISIS_CHECKPOINT_DIR": str(workdir / "checkpoints"),
        "CRISIS_BACKUP_DIR": str(workdir / "backups"),
        "CRISIS_SCHEDULER": "0",
    }


def demo_database(path: Path, workdir: Path) -> Path:
    """The demo database made by the real commands (cached in build/bench)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / f"demo-v{VERSION}.db"
    if not cached.exists():
        tmp = CACHE / f"demo-v{VERSION}.tmp.db"
        tmp.unlink(missing_ok=True)
        env = env_for(tmp, workdir)
        _cli(env, "init")
        _cli(env, "demo", "--quiet")
        _checkpoint(tmp)
        tmp.rename(cached)
    shutil.copy(cached, path)
    _cli(env_for(path, workdir), "init")  # migrations added since the cache was made
    return path


def departement_database(path: Path, workdir: Path, scale: float = 1.0) -> Path:
    """The département-size database at ``path`` (built once per VERSION and scale, cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / f"departement-v{VERSION}-s{scale:g}.db"
    if not cached.exists():
        tmp = cached.with_suffix(".tmp.db")
        tmp.unlink(missing_ok=True)
        demo_database(tmp, workdir)
        t0 = time.perf_counter()
        fill(tmp, scale)
        _checkpoint(tmp)
        print(f"département database built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        tmp.rename(cached)
    shutil.copy(cached, path)
    _cli(env_for(path, workdir), "init")
    return path


def _checkpoint(path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode = DELETE")  # one self-contained file to copy
    conn.close()


def fill(path: Path, scale: float = 1.0) -> dict[str, int]:
    """Import the département's files into the demo database at ``path``."""
    from app import catalogue, imports
    from app.catalogue_file import load_catalogue
    from app.db import connect

    folder = files(scale)
    now = datetime.now(UTC)
    db = connect(path)
    try:
        water = load_catalogue(PROJECT / "data" / "catalogue.yaml").dataset("water-network")
        assert water is not None
        mapping = generator().WATER_MAPPING  # the owner's own field names, mapped once
        catalogue.ensure_dataset(
            db, now, water.model_validate(water.model_dump() | {"mapping": mapping}), "bench"
        )
        catalogue.ensure_dataset(db, now, BIG_SPEC, actor="bench")
        got = {}
        for slug, name, layer in (
            ("territory", "departement.gpkg", "territory"),
            (BIG, "etablissements.fgb", None),
            ("water-network", "reseau_eau.zip", None),
            ("population-grid", "departement.gpkg", "carreaux"),
        ):
            t0 = time.perf_counter()
            result = imports.import_file(
                db, now, slug, folder / name, actor="bench", layer=layer, replace=True
            )
            got[slug] = result.features
            print(
                f"{name} → {slug}: {result.features:,} in {time.perf_counter() - t0:.0f} s",
                file=sys.stderr,
            )
    finally:
        db.conn.close()
    return got


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        departement_database(args.out, Path(tmp), args.scale)
    print(args.out)
