"""Situation report of a large event: 500 establishments, a map of 5,000 features (~450,000
vertices) and 300 log entries, with the map simplified for the scale vs drawn as given.

Run with ``python -m bench.bench_report``. Budget (issue 7): the simplified report in under 1 s
and 1.5 MB; both variants are built in the same run, on the same data. The map is drawn with
``render_map`` at the report's size (the time includes it) and laid out by ``render_report``.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from reportlab import rl_config
from shapely.geometry import Point

from app import events, reports
from app.clock import iso
from app.geo.render import MapSpec, MapZone, render_map
from app.geo.zones import circle, plume
from bench.bench_render import ORIGIN, synthetic_layers
from bench.common import print_table

BUDGET_S = 1.0
BUDGET_BYTES = 1_500_000
T0 = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
TYPES = ("ecole", "college", "lycee", "creche", "ehpad", "hopital", "clinique")


def large_context(seed: int = 76) -> tuple[reports.ReportContext, MapSpec, int, int]:
    """The report's content without its map, the map's spec, its feature and vertex counts."""
    rng = np.random.default_rng(seed)
    now = T0 + timedelta(hours=5)
    event = events.Event(
        id=42,
        kind="toxic-release",
        title="Nuage toxique — exercice de grande ampleur à "
        "Port-Jérôme-sur-Seine (FICTIF Chimie de l'Estuaire)",
        is_drill=True,
        level=4,
        status="open",
        declared_by=1,
        declared_by_name="Claire Morel",
        declared_at=iso(T0),
        closed_by=None,
        closed_at=None,
        closing_statement=None,
        site_fid="FICTIF-1",
        lon=0.548,
        lat=49.47,
        place="FICTIF — Chimie de l'Estuaire — Port-Jérôme-sur-Seine",
        params={"wind_from_deg": 240, "wind_speed_ms": 4},
        report_cadence_min=30,
    )
    items = [
        {
            "id": f"DEMO-E{i:04d}",
            "dataset": "schools",
            "name": f"FICTIF — Établissement n°{i} de la commune de Saint-Jean-de-Folleville",
            "type": TYPES[i % len(TYPES)],
            "capacity": int(rng.integers(10, 900)),
            "commune": "Port-Jérôme-sur-Seine",
            "distance_m": float(rng.uniform(100, 9000)),
        }
        for i in range(500)
    ]
    items.sort(key=lambda it: it["distance_m"])
    by_type: dict[str, dict[str, int]] = {}
    for it in items:
        e = by_type.setdefault(it["type"], {"count": 0, "capacity": 0})
        e["count"] += 1
        e["capacity"] += it["capacity"]
    zone_json = {
        "id": "sei",
        "level": "yellow",
        "label": "Zone des effets irréversibles",
        "threshold": "SEI",
        "family": "toxic",
        "shape": "plume",
        "distance_m": 9000.0,
        "population": {
            "total": 48211.4,
            "rounded": 48211,
            "method": "pondération surfacique",
            "source": "INSEE",
            "year": 2019,
            "cells": 1400,
        },
        "establishments": {"by_type": by_type, "items": items},
        "networks": [],
        "restricted": [
            {
                "dataset": "gas-network",
                "title": "Réseau de distribution de gaz",
                "sensitivity": "restricted",
                "count": 812,
                "length_m": 93120.0,
            }
        ],
        "communes": [],
        "other": [],
    }
    impact = {
        "source": {},
        "zones": [zone_json],
        "outer": zone_json,
        "closure_points": [],
        "closure_restricted": [],
        "open_datasets": [],
    }
    log = [
        events.LogEntry(
            id=i + 1,
            event_id=42,
            fact_at=iso(T0 + timedelta(minutes=i)),
            recorded_at=iso(T0 + timedelta(minutes=i)),
            author_id=1,
            author_name="Julien Lefebvre",
            category=events.CATEGORIES[i % 5],
            text=f"Entrée {i} : point sur la mise à l'abri, la coupure de la RD 982 et l'accueil "
            "des élèves ; message du COD relayé aux mairies concernées.",
            corrects_id=None,
            is_inject=False,
            is_system=False,
        )
        for i in range(300)
    ]
    ctx = reports.ReportContext(
        event=event,
        number=11,
        generated_at=now,
        author="Claire Morel",
        trigger="schedule",
        playbook_title="Nuage toxique",
        log=log,
        decisions=[e for e in log if e.category == "décision"],
        impact=impact,
        next_report_at=now + timedelta(minutes=30),
    )
    layers, n_features, n_vertices = synthetic_layers()
    source = Point(*ORIGIN)
    spec = MapSpec(
        title=event.title,
        zones=[
            MapZone(plume(source, 240, 4, 9000), "yellow", "SEI"),
            MapZone(circle(source, 900), "red", "SELS"),
        ],
        layers=layers,
        source=source,
        wind_from_deg=240,
        wind_speed_ms=4,
        is_drill=True,
        extent=(ORIGIN[0] - 12500, ORIGIN[1] - 8500, ORIGIN[0] + 12500, ORIGIN[1] + 8500),
    )
    return ctx, spec, n_features, n_vertices


def build(ctx: reports.ReportContext, spec: MapSpec, simplify: float | None) -> bytes:
    ctx.map = render_map(spec, reports.MAP_WIDTH, reports.MAP_HEIGHT, simplify_pt=simplify)
    return reports.render_report(ctx)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", help="write the simplified report here")
    args = parser.parse_args(argv)
    rl_config.useA85 = 0  # as create_app() does
    ctx, spec, n_features, n_vertices = large_context()
    build(ctx, spec, 0.5)  # warm-up: fonts, imports
    rows: list[list[Any]] = []
    for label, simplify in (("simplifié 0,5 pt", 0.5), ("brut (sans simplification)", None)):
        times, cpu = [], []
        pdf = b""
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            pdf = build(ctx, spec, simplify)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        if simplify is not None and args.out:
            with open(args.out, "wb") as fh:
                fh.write(pdf)
        best = min(times)
        ok = best < BUDGET_S and len(pdf) < BUDGET_BYTES
        rows.append(
            [label, best, float(np.median(times)), min(cpu), len(pdf) / 1e6, "oui" if ok else "non"]
        )
    print(
        f"Point de situation : {n_features} entités cartographiées ({n_vertices} sommets), "
        f"{len(ctx.impact['outer']['establishments']['items'])} établissements, "  # type: ignore[index]
        f"{len(ctx.log)} entrées de main courante"
    )
    print_table(
        rows,
        ["carte", "meilleur (s)", "médiane (s)", "CPU (s)", "taille (Mo)", "< 1 s et < 1,5 Mo"],
    )
    print("(temps mur sur une machine chargée : le temps CPU est la mesure sans contention)")


if __name__ == "__main__":
    main()
