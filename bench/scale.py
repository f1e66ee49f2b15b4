"""Demo and département territories with their events, for the benchmarks of what users wait for.

Each territory is a console database (``bench/departement.py``: the demo made by the real
commands, and the same plus the big layers) with three events declared on the same spot (the
FICTIF-1 plant of the demo): the toxic release of the demo playbook (its own effect distances,
plumes up to 3.8 km) and two bench playbooks at its point, a 10 km plume (60° sector) and a
10 km circle, the zones of ``bench_impact``. A cell member's API token and signed-in clients
are made for the measurements.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.departement import PROJECT, demo_database, departement_database, env_for

SITE = (0.5480, 49.4700)  # FICTIF-1 (scripts/make_territory.py)
BENCH_PLAYBOOKS = {
    "bench-plume-10km": ("plume", "Panache de 10 km (banc d'essai)"),
    "bench-circle-10km": ("circle", "Cercle de 10 km (banc d'essai)"),
}
EVENTS = ("toxic", "bench-plume-10km", "bench-circle-10km")


def _playbook_yaml(pid: str, shape: str, title: str) -> str:
    extra = "    calm_below_ms: 1.0\n    half_angle_deg: [30, 30]\n" if shape == "plume" else ""
    return f"""id: {pid}
title: {title}
hazard: toxic
description: Zone de 10 km pour le banc d'essai de la console (FICTIF).
applies_to: [point]
parameters:
  - name: wind_from_deg
    label: Vent venant du (direction)
    type: float
    required: true
    min: 0
    max: 360
    unit: "°"
  - name: wind_speed_ms
    label: Vitesse du vent
    type: float
    required: true
    default: 6
    min: 0
    max: 40
    unit: m/s
zones:
  - id: z10km
    label: Zone de 10 km (banc d'essai)
    level: yellow
    family: Banc d'essai
    threshold: 10 km
    shape: {shape}
    default_m: 10000
{extra}datasets: [population-grid, schools]
report_cadence_min: 30
default_level: 2
checklist:
  - id: verifier
    title: Vérifier la zone (banc d'essai)
    role: cell
    due_min: 10
"""


def _messages_of(playbook_id: str) -> str:
    """The message templates of one of the console's playbooks, as YAML (a playbook must carry
    its templates; the bench playbooks reuse the toxic release's)."""
    import yaml

    source = yaml.safe_load((PROJECT / "playbooks" / f"{playbook_id}.yaml").read_text("utf-8"))
    return yaml.safe_dump({"messages": source["messages"]}, allow_unicode=True, sort_keys=False)


def playbooks_dir(workdir: Path) -> Path:
    """The console's playbooks plus the two bench playbooks."""
    out = workdir / "playbooks"
    if not out.exists():
        shutil.copytree(PROJECT / "playbooks", out)
        for pid, (shape, title) in BENCH_PLAYBOOKS.items():
            text = _playbook_yaml(pid, shape, title) + _messages_of("toxic-release")
            (out / f"{pid}.yaml").write_text(text, "utf-8")
    return out


@dataclass
class Territory:
    name: str
    db_path: Path
    env: dict[str, str]
    events: dict[str, int]
    token: str
    config: dict[str, Any] = field(default_factory=dict)


def territory(kind: str, workdir: Path, scale: float = 1.0) -> Territory:
    """The ``demo`` or ``departement`` territory in ``workdir`` with its events and a token."""
    from app import auth, events
    from app.db import connect
    from app.playbooks import load_playbooks

    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{kind}.db"
    t0 = time.perf_counter()
    if kind == "demo":
        demo_database(path, workdir)
    else:
        departement_database(path, workdir, scale)
    books = playbooks_dir(workdir)
    env = {**env_for(path, workdir), "CRISIS_PLAYBOOKS": str(books)}
    found, errors = load_playbooks(books)
    if errors:
        raise SystemExit(f"bench playbooks: {errors}")
    db = connect(path)
    now = datetime.now(UTC)
    try:
        director = auth.get_user_by_login(db, "director")
        assert director is not None
        made = {
            "toxic": events.declare(
                db,
                now,
                found["toxic-release"],
                actor=director,
                title="Banc d'essai — rejet toxique FICTIF-1",
                site="FICTIF-1",
                params={"wind_from_deg": 240, "wind_speed_ms": 4},
            ).id
        }
        for pid in BENCH_PLAYBOOKS:
            made[pid] = events.declare(
                db,
                now,
                found[pid],
                actor=director,
                title=f"Banc d'essai — {pid}",
                point=list(SITE),
                params={"wind_from_deg": 240, "wind_speed_ms": 6},
            ).id
        token = auth.create_token(db, now, "cell", "bench", actor="bench")
    finally:
        db.conn.close()
    config = {
        "CRISIS_DB": str(path),
        "SECRET_KEY": "bench-secret",
        "CRISIS_PLAYBOOKS": str(books),
        "CRISIS_SCHEDULER": "0",
        "CRISIS_CHECKPOINT_KEY": str(workdir / "checkpoint.key"),
        "CRISIS_CHECKPOINT_DIR": str(workdir / "checkpoints"),
        "CRISIS_BACKUP_DIR": str(workdir / "backups"),
        "RATELIMIT_ENABLED": False,
    }
    print(f"{kind} territory ready in {time.perf_counter() - t0:.0f} s", flush=True, file=_err())
    return Territory(kind, path, env, made, token, config)


def _err() -> Any:
    import sys

    return sys.stderr


def signed_in(client: Any, login: str) -> Any:
    """Sign a Flask test client in as a demo account (its page's CSRF token, as a browser)."""
    from app.demo import DEMO_ACCOUNTS

    password = next(a.password for a in DEMO_ACCOUNTS if a.login == login)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert token, "no CSRF token on the sign-in page"
    r = client.post(
        "/login",
        data={"login": login, "password": password},
        headers={"X-CSRFToken": token.group(1)},
    )
    if r.status_code != 302:
        raise SystemExit(f"sign-in of {login} failed ({r.status_code})")
    return client
