"""Impact analysis benchmark: our fast paths vs plain shapely STRtree vs geopandas sjoin.

A département-sized synthetic territory (seeded): 1,000,000 points, 500,000 network line
segments and 250,000 population cells of 200 m (a 100 km x 100 km square), loaded through the
same loader path as the console (WGS84 GeoJSON -> Lambert-93). Two zones are analysed: a 10 km
plume (60° sector) and a full 10 km circle. Each method computes the same figures: points
inside, network length inside, area-weighted population.

    python -m bench.bench_impact [--quick] [--repeat N]

``--quick`` is 10x smaller, for smoke runs. Times are medians of N runs; nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import math
from typing import Any

import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry import Point

from app.geo import proj
from app.geo.impact import LayerSpec, analyse
from app.geo.index import LayerData, SpatialIndex
from app.geo.zones import Zone, circle, plume
from bench.common import median_time, peak_rss_mb, print_table, rss_mb, traced_peak_mb

X0, Y0 = 450_000.0, 6_880_000.0  # south-west corner, Lambert-93 (Seine-Maritime-ish)
TYPES = np.array(["ecole", "college", "ehpad", "hopital", "commerce"], dtype=object)


def synthetic_territory(scale: float, seed: int = 76) -> dict[str, LayerData]:
    """Points, segments and 200 m cells over a square of side 100 km * sqrt(scale)."""
    rng = np.random.default_rng(seed)
    n_cells_side = int(round(500 * math.sqrt(scale)))
    side = n_cells_side * 200.0
    n_points = int(1_000_000 * scale)
    n_lines = int(500_000 * scale)
    inv = proj.transformer(proj.LAMBERT93, proj.WGS84)

    # Points: uniform, a type and a capacity each.
    px = X0 + rng.random(n_points) * side
    py = Y0 + rng.random(n_points) * side
    plon, plat = inv.transform(px, py)
    types = TYPES[rng.integers(0, len(TYPES), n_points)]
    caps = rng.integers(10, 500, n_points)
    points = LayerData(
        1,
        "Point",
        [f"DEMO-P{i:07d}" for i in range(n_points)],
        [{"type": "Point", "coordinates": [lo, la]} for lo, la in zip(plon, plat, strict=True)],
        [{"type": t, "capacity": int(c)} for t, c in zip(types, caps, strict=True)],
    )

    # Network segments: 50-300 m, random orientation.
    lx = X0 + rng.random(n_lines) * side
    ly = Y0 + rng.random(n_lines) * side
    length = 50 + rng.random(n_lines) * 250
    angle = rng.random(n_lines) * 2 * math.pi
    lon1, lat1 = inv.transform(lx, ly)
    lon2, lat2 = inv.transform(lx + length * np.cos(angle), ly + length * np.sin(angle))
    lines = LayerData(
        1,
        "LineString",
        [f"DEMO-L{i:07d}" for i in range(n_lines)],
        [
            {"type": "LineString", "coordinates": [[a, b], [c, d]]}
            for a, b, c, d in zip(lon1, lat1, lon2, lat2, strict=True)
        ],
        [{"diameter_mm": 110} for _ in range(n_lines)],
    )

    # Population cells: the full 200 m grid, about 60 % inhabited by a lognormal population.
    ix, iy = np.meshgrid(np.arange(n_cells_side), np.arange(n_cells_side))
    cx = X0 + ix.ravel() * 200.0
    cy = Y0 + iy.ravel() * 200.0
    corners = [(cx, cy), (cx + 200, cy), (cx + 200, cy + 200), (cx, cy + 200), (cx, cy)]
    ll = [inv.transform(x, y) for x, y in corners]
    ind = np.where(rng.random(len(cx)) < 0.6, np.round(rng.lognormal(2.5, 1.0, len(cx)), 1), 0)
    cells = LayerData(
        1,
        "Polygon",
        [f"CRS3035RES200mN{int(y)}E{int(x)}" for x, y in zip(cx, cy, strict=True)],
        [
            {"type": "Polygon", "coordinates": [[[ll[k][0][i], ll[k][1][i]] for k in range(5)]]}
            for i in range(len(cx))
        ],
        [{"ind": float(v)} for v in ind],
    )
    return {"points": points, "lines": lines, "population-grid": cells}


SPECS = [
    LayerSpec("points", "Établissements", "population", "public", "Point", "establishments"),
    LayerSpec("lines", "Réseau", "network", "public", "LineString", "network_lines"),
    LayerSpec(
        "population-grid",
        "Carroyage 200 m",
        "population",
        "public",
        "Polygon",
        "population_grid",
        "synthétique (bench)",
    ),
]


def ours(index: SpatialIndex, zone: Zone, source: Point) -> tuple[int, float, float]:
    imp = analyse([zone], index, SPECS, source)
    z = imp.zones[0]
    n = sum(len(items.idx) for _, items in z.establishments)
    return n, float(z.networks[0]["length_m"]), float(z.population["total"])  # type: ignore[index]


class Plain:
    """Plain shapely 2: one STRtree per layer, query(predicate="intersects"), then intersection."""

    def __init__(self, index: SpatialIndex) -> None:
        pts = index.layer("points")
        self.points = pts.point_geoms()
        self.point_tree = STRtree(self.points)
        self.lines = index.layer("lines").geoms
        self.line_tree = STRtree(self.lines)
        cells = index.layer("population-grid")
        self.cells = cells.geoms
        self.cell_tree = STRtree(self.cells)
        self.ind = cells.properties.numeric("ind")

    def run(self, zone: Zone) -> tuple[int, float, float]:
        g = zone.geometry
        n = len(self.point_tree.query(g, predicate="intersects"))
        li = self.line_tree.query(g, predicate="intersects")
        length = float(shapely.length(shapely.intersection(self.lines[li], g)).sum())
        ci = self.cell_tree.query(g, predicate="intersects")
        c = self.cells[ci]
        inside = shapely.area(shapely.intersection(c, g))
        pop = float((self.ind[ci] * inside / shapely.area(c)).sum())
        return n, length, pop


class GeoPandas:
    """geopandas: sjoin for candidates, then intersection for lengths and area weighting."""

    def __init__(self, plain: Plain) -> None:
        import geopandas as gpd

        self.gpd = gpd
        crs = "EPSG:2154"
        self.points = gpd.GeoDataFrame(geometry=plain.points, crs=crs)
        self.lines = gpd.GeoDataFrame(geometry=plain.lines, crs=crs)
        self.cells = gpd.GeoDataFrame({"ind": plain.ind}, geometry=plain.cells, crs=crs)
        for df in (self.points, self.lines, self.cells):
            df.sindex  # noqa: B018 - build the spatial index outside the timed part

    def run(self, zone: Zone) -> tuple[int, float, float]:
        gpd = self.gpd
        z = gpd.GeoDataFrame(geometry=[zone.geometry], crs="EPSG:2154")
        n = len(gpd.sjoin(self.points, z, predicate="intersects", how="inner"))
        lj = gpd.sjoin(self.lines, z, predicate="intersects", how="inner")
        length = float(lj.geometry.intersection(zone.geometry).length.sum())
        cj = gpd.sjoin(self.cells, z, predicate="intersects", how="inner")
        inside = cj.geometry.intersection(zone.geometry).area
        pop = float((cj["ind"] * inside / cj.geometry.area).sum())
        return n, length, pop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller territory")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per method")
    parser.add_argument("--no-geopandas", action="store_true", help="skip the geopandas runs")
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    repeat = args.repeat or (3 if args.quick else 7)

    base_rss = rss_mb()
    territory = synthetic_territory(scale)
    index = SpatialIndex(territory.__getitem__)
    for slug in territory:
        index.layer(slug)
    territory.clear()  # the index holds its own compact copy; drop the GeoJSON dicts
    gc.collect()
    held = rss_mb() - base_rss
    sizes = {s: len(index.layer(s)) for s in ("points", "lines", "population-grid")}
    print(
        f"territory: {sizes['points']:,} points, {sizes['lines']:,} segments, "
        f"{sizes['population-grid']:,} cells; index held: {held:,.0f} MB "
        f"(RSS now {rss_mb():,.0f} MB, peak while loading {peak_rss_mb():,.0f} MB)"
    )

    side = math.sqrt(sizes["population-grid"]) * 200.0
    source = Point(X0 + side / 2, Y0 + side / 2)
    radius = 10_000.0
    zones = {
        "plume 10 km, 60°": plume(source, 240, 6, radius, (30, 30), 1.0),
        "cercle 10 km": circle(source, radius),
    }

    plain = Plain(index)
    gp = None if args.no_geopandas else GeoPandas(plain)
    gc.collect()
    print(f"RSS with the comparison structures too: {rss_mb():,.0f} MB\n")

    rows: list[list[Any]] = []
    checks = []
    for name, geom in zones.items():
        zone = Zone("z", name, "red", "toxic", "SEI", "plume", geom, radius, "playbook", {})
        t_ours, r_ours = median_time(lambda zone=zone: ours(index, zone, source), repeat)
        t_plain, r_plain = median_time(lambda zone=zone: plain.run(zone), repeat)
        results = [("ours (analyse)", t_ours, r_ours), ("plain STRtree", t_plain, r_plain)]
        if gp is not None:
            t_gp, r_gp = median_time(lambda zone=zone: gp.run(zone), max(1, repeat // 2))
            results.append(("geopandas sjoin", t_gp, r_gp))
        for method, t, r in results:
            rows.append([name, method, t * 1000, t / t_plain, r[0], r[1] / 1000, r[2]])
        mem = traced_peak_mb(lambda zone=zone: ours(index, zone, source))
        checks.append((name, r_ours, r_plain, mem))

    print_table(
        rows,
        ["zone", "method", "median ms", "x plain", "points", "network km", "population"],
    )
    print()
    for name, r_o, r_p, mem in checks:
        print(
            f"{name}: population ours {r_o[2]:.6f} vs full intersection {r_p[2]:.6f} "
            f"(|diff| {abs(r_o[2] - r_p[2]):.2e}); points {r_o[0]} vs {r_p[0]}; "
            f"length diff {abs(r_o[1] - r_p[1]):.2e} m; "
            f"analyse tracemalloc peak {mem:.1f} MB"
        )
    ratio_rows = [r for r in rows if r[1] == "ours (analyse)"]
    worst = max(r[3] for r in ratio_rows)
    print(
        f"\nworst ratio ours / plain STRtree: {worst:.2f} (target <= 0.6); "
        f"index held {held:,.0f} MB (target < 700); peak RSS {peak_rss_mb():,.0f} MB"
    )


if __name__ == "__main__":
    main()
