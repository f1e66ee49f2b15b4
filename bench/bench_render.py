"""Map rendering cost: ~5,000 features / ~450,000 vertices, simplified to 0.5 pt vs raw.

Run with ``python -m bench.bench_render``. A situation report embeds such a map and must stay
under 1 s and 1.5 MB, so the simplified row is the one that has to meet the budget.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from reportlab import rl_config
from reportlab.graphics.shapes import Group, Path
from shapely.geometry import LineString, Point, Polygon

from app.geo.render import MapLayer, MapSpec, MapZone, drawing_to_pdf, render_map

BUDGET_S = 1.0
BUDGET_BYTES = 1_500_000
ORIGIN = (505000.0, 6933000.0)  # Port-Jérôme, Lambert-93


def synthetic_layers(seed: int = 7, noisy: bool = False) -> tuple[list[MapLayer], int, int]:
    """3,000 polygons and 2,000 lines over 24 x 16 km, ~90 vertices each (~450,000 in all).

    ``noisy=False`` gives shapes like surveyed data (smooth outlines, metre-scale jitter: detail
    the page cannot show); ``noisy=True`` gives random walks whose detail is visible at this scale,
    the worst case for simplification.
    """
    rng = np.random.default_rng(seed)
    ox, oy = ORIGIN
    n = 90
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    polygons = []
    for _ in range(3000):
        cx, cy = ox + rng.uniform(-12000, 12000), oy + rng.uniform(-8000, 8000)
        wobble = 0.15 * np.sin(a * rng.integers(2, 5) + rng.uniform(0, 6))
        r = rng.uniform(60, 250) * (1 + wobble) + rng.normal(0, 8.0 if noisy else 1.0, n)
        polygons.append(Polygon(np.column_stack((cx + r * np.cos(a), cy + r * np.sin(a)))))
    lines = []
    t = np.linspace(0, 1, n)
    for _ in range(2000):
        start = np.array([ox + rng.uniform(-12000, 12000), oy + rng.uniform(-8000, 8000)])
        if noisy:
            xy = start + np.cumsum(rng.normal(0, 40, (n, 2)) + rng.normal(0, 25, 2), axis=0)
        else:
            heading = rng.uniform(0, 2 * np.pi)
            along = t * rng.uniform(800, 3000)
            side = 120 * np.sin(t * rng.uniform(2, 8)) + rng.normal(0, 1.0, n)
            c, si = np.cos(heading), np.sin(heading)
            xy = start + np.column_stack((along * c - side * si, along * si + side * c))
        lines.append(LineString(xy))
    layers = [
        MapLayer("Carroyage", "polygon", polygons, stroke="#999999", fill="#eeeeee", width=0.3),
        MapLayer("Réseau", "line", lines, stroke="#c98a00", width=0.5),
    ]
    vertices = sum(len(p.exterior.coords) for p in polygons) + sum(len(x.coords) for x in lines)
    return layers, len(polygons) + len(lines), vertices


def _drawn_vertices(node: object) -> int:
    if isinstance(node, Path):
        return len(node.points) // 2
    if isinstance(node, Group):
        return sum(_drawn_vertices(child) for child in node.contents)
    return 0


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    try:
        from bench.common import print_table
    except ImportError:  # bench/common.py needs psutil (the "bench" extra)
        cells = [[str(c) for c in row] for row in [list(headers), *rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        for i, row in enumerate(cells):
            print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
            if i == 0:
                print("  ".join("-" * w for w in widths))
        return
    print_table(rows, headers)


def _spec(layers: list[MapLayer]) -> MapSpec:
    source = Point(ORIGIN)
    return MapSpec(
        title="Banc d'essai — rendu de carte",
        zones=[
            MapZone(source.buffer(1000), "red", "SELS — 1 000 m"),
            MapZone(source.buffer(2500), "orange", "SPEL — 2 500 m"),
            MapZone(source.buffer(5000), "yellow", "SEI — 5 000 m"),
        ],
        layers=layers,
        source=source,
        extent=(ORIGIN[0] - 12000, ORIGIN[1] - 8000, ORIGIN[0] + 12000, ORIGIN[1] + 8000),
        wind_from_deg=240,
        wind_speed_ms=4,
    )


def main() -> None:
    """Render the same maps simplified and raw, and print time and PDF size."""
    rows = []
    for data in ("surveyed", "noisy"):
        layers, features, vertices = synthetic_layers(noisy=data == "noisy")
        spec = _spec(layers)
        for mode, tolerance in (("0.5 pt", 0.5), ("raw", None)):
            # reportlab ASCII85-encodes page streams by default, in pure Python unless the
            # optional rl_accel package is installed: measure with and without it.
            for a85 in (1, 0):
                rl_config.useA85 = a85
                try:
                    t0 = time.perf_counter()
                    drawing = render_map(spec, 770, 520, simplify_pt=tolerance)
                    t1 = time.perf_counter()
                    pdf = drawing_to_pdf(drawing)
                    t2 = time.perf_counter()
                finally:
                    rl_config.useA85 = 1
                ok = (t2 - t0) < BUDGET_S and len(pdf) < BUDGET_BYTES
                rows.append(
                    [
                        data,
                        mode,
                        "on" if a85 else "off",
                        features,
                        vertices,
                        _drawn_vertices(drawing),
                        round((t1 - t0) * 1000),
                        round((t2 - t1) * 1000),
                        round((t2 - t0) * 1000),
                        round(len(pdf) / 1e6, 2),
                        "yes" if ok else "no",
                    ]
                )
    print("Map rendering, A4 landscape map (770 x 520 pt), one run each\n")
    _print_table(
        [
            "data",
            "simplify",
            "A85",
            "features",
            "vertices",
            "drawn",
            "drawing ms",
            "pdf ms",
            "total ms",
            "PDF MB",
            "< 1 s & 1.5 MB",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
