"""Build the demo territory's GeoJSON files in data/ from the real reference files in data/real/.

Real layers (communes, territory outline, Seine axis, PPI, Seveso list) are converted to the
property names of the dataset contract (docs/architecture.md). Synthetic layers are generated with
a fixed seed (numpy ``default_rng(76)``) inside the real commune boundaries, so running this script
again rewrites byte-identical files. Usage: ``.venv/bin/python scripts/make_territory.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import (
    LineString,
    MultiPolygon,
    Point,
    Polygon,
    box,
    mapping,
    shape,
)
from shapely.ops import substring

SEED = 76
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
REAL = DATA / "real"

SYNTH = "synthetic"
ROAD_SOURCE = "synthetic (approximate route)"

_TO_L93 = Transformer.from_crs(4326, 2154, always_xy=True)
_TO_WGS = Transformer.from_crs(2154, 4326, always_xy=True)
_3035_TO_WGS = Transformer.from_crs(3035, 4326, always_xy=True)
_WGS_TO_3035 = Transformer.from_crs(4326, 3035, always_xy=True)

# The fictitious plant: in the Port-Jérôme industrial zone, north bank, about 0.78 km SSW of the
# refinery's published coordinate, 0.45 km inside Port-Jérôme-sur-Seine, 0.75 km off the Seine.
FICTIF_1 = (0.5480, 49.4700)
FICTIF_1_EFFECTS = {
    "toxic": {"SELS": 900, "SEL": 1600, "SEI": 3800},
    "thermal": {"8kW": 180, "5kW": 260, "3kW": 370},
    "overpressure": {"200mbar": 140, "140mbar": 210, "50mbar": 520, "20mbar": 1100},
}
# Terres-de-Caux has no town-hall point in the source; its seat Fauville-en-Caux is used instead.
FAUVILLE_EN_CAUX = (0.5917, 49.6550)
# Bridges: centre (lon, lat), length in metres, bearing of the deck in degrees from north.
TANCARVILLE_BRIDGE = ((0.4647, 49.4722), 1420.0, 163.0)
BROTONNE_BRIDGE = ((0.7472, 49.5203), 1278.0, 160.0)
SOUTH_BANK = {"76362", "76401", "76473", "76727"}


# --- projections and output -------------------------------------------------------------------


def to_l93(geom):
    """Project a WGS84 geometry to Lambert-93."""
    return shapely.transform(geom, lambda c: np.column_stack(_TO_L93.transform(c[:, 0], c[:, 1])))


def to_wgs(geom):
    """Project a Lambert-93 geometry to WGS84."""
    return shapely.transform(geom, lambda c: np.column_stack(_TO_WGS.transform(c[:, 0], c[:, 1])))


def _round(obj):
    if isinstance(obj, float):
        return round(obj, 6)
    if isinstance(obj, list | tuple):
        return [_round(v) for v in obj]
    return obj


def geometry_json(geom) -> dict:
    """GeoJSON geometry with coordinates rounded to 6 decimals."""
    g = mapping(geom)
    return {"type": g["type"], "coordinates": _round(g["coordinates"])}


def feature(fid: str, props: dict, geom) -> dict:
    return {"type": "Feature", "id": fid, "properties": props, "geometry": geometry_json(geom)}


def write_collection(slug: str, features: list[dict]) -> None:
    """Write data/<slug>.geojson as compact JSON (one FeatureCollection)."""
    text = json.dumps(
        {"type": "FeatureCollection", "name": slug, "features": features},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    (DATA / f"{slug}.geojson").write_text(text + "\n", encoding="utf-8")
    print(f"{slug}: {len(features)} features, {len(text) / 1e6:.2f} MB")


def as_multipolygon(geom) -> MultiPolygon:
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]
    parts += [p for g in getattr(geom, "geoms", []) if isinstance(g, MultiPolygon) for p in g.geoms]
    return MultiPolygon(parts)


def split_line(line: LineString, max_len: float) -> list[LineString]:
    """Split a projected line into equal pieces no longer than max_len metres."""
    n = max(1, math.ceil(line.length / max_len))
    step = line.length / n
    return [substring(line, i * step, (i + 1) * step) for i in range(n)]


def bridge_line(centre, length, bearing) -> LineString:
    """A bridge deck in Lambert-93 from its centre, length and bearing."""
    c = to_l93(Point(centre))
    dx = math.sin(math.radians(bearing)) * length / 2
    dy = math.cos(math.radians(bearing)) * length / 2
    return LineString([(c.x - dx, c.y - dy), (c.x + dx, c.y + dy)])


# --- the real data ----------------------------------------------------------------------------


class Territory:
    """The real reference layers, in WGS84 and Lambert-93."""

    def __init__(self) -> None:
        self.communes_fc = json.loads((REAL / "caux_seine_communes.geojson").read_text())
        self.outline_fc = json.loads((REAL / "caux_seine_epci_outline.geojson").read_text())
        self.seine_fc = json.loads((REAL / "seine_axis_approx.geojson").read_text())
        self.seveso_fc = json.loads((REAL / "caux_seine_seveso_sites.geojson").read_text())
        self.ppi_fc = json.loads((REAL / "ppi_communal.geojson").read_text())
        self.props = {f["id"]: f["properties"] for f in self.communes_fc["features"]}
        self.wgs = {f["id"]: shape(f["geometry"]) for f in self.communes_fc["features"]}
        self.l93 = {k: to_l93(g) for k, g in self.wgs.items()}
        for g in self.wgs.values():
            shapely.prepare(g)
        self.outline_wgs = shape(self.outline_fc["features"][0]["geometry"])
        self.outline = to_l93(self.outline_wgs)
        self.seine_wgs = shape(self.seine_fc["features"][0]["geometry"])
        self.seine = to_l93(self.seine_wgs)
        shapely.prepare(self.seine)
        # Communes sorted by decreasing population, then code, for a stable generation order.
        self.codes = sorted(self.props, key=lambda k: (-self.props[k]["population"], k))

    def name(self, insee: str) -> str:
        return self.props[insee]["name"]

    def population(self, insee: str) -> int:
        return self.props[insee]["population"]

    def centre_wgs(self, insee: str) -> tuple[float, float]:
        """The town hall point, or the commune seat where the source has none."""
        m = self.props[insee]["mairie"]
        if m is None:
            return FAUVILLE_EN_CAUX
        return (m["lon"], m["lat"])

    def centre(self, insee: str) -> Point:
        return to_l93(Point(self.centre_wgs(insee)))

    def commune_at(self, lon: float, lat: float) -> str | None:
        p = Point(lon, lat)
        for k, g in self.wgs.items():
            if g.contains(p):
                return k
        return None

    def south_bank(self, p: Point) -> bool:
        """Whether a Lambert-93 point lies south of the Seine (odd crossings towards Bolbec)."""
        ref = self.centre("76114")
        crossing = LineString([p, ref]).intersection(self.seine)
        n = len(getattr(crossing, "geoms", [crossing])) if not crossing.is_empty else 0
        return n % 2 == 1


# --- real layers ------------------------------------------------------------------------------


def build_communes(t: Territory) -> None:
    feats = []
    for f in t.communes_fc["features"]:
        props = dict(f["properties"])
        props["source"] = "real"
        geom = as_multipolygon(shape(f["geometry"]))
        feats.append(feature(f["id"], props, geom))
    write_collection("communes", feats)


def build_territory(t: Territory) -> None:
    p = t.outline_fc["features"][0]["properties"]
    props = {
        "id": p["siren"],
        "name": "Caux Seine Agglo",
        "official_name": p["nom"],
        "siren": p["siren"],
        "population_municipale_epci_file": p["populationMunicipale"],
        "population_totale_epci_file": p["populationTotale"],
        "area_km2": p["area_km2"],
        "source": "real (union of the 50 commune boundaries)",
    }
    write_collection("territory", [feature(p["siren"], props, as_multipolygon(t.outline_wgs))])


def build_seine(t: Territory) -> None:
    p = t.seine_fc["features"][0]["properties"]
    props = {
        "id": "SEINE-AXE",
        "name": p["name"],
        "approximate": True,
        "derivation": p["source"],
        "commune_pairs": p["pairs"],
        "source": "real, approximate",
    }
    write_collection("seine", [feature("SEINE-AXE", props, t.seine_wgs)])


def build_ppi(t: Territory) -> None:
    ids = ["PPI-PORT-JEROME", "PPI-RIVES-EN-SEINE", "PPI-BOLBEC"]
    feats = []
    for fid, f in zip(ids, t.ppi_fc["features"], strict=True):
        p = f["properties"]
        props = {
            "id": fid,
            "name": p["name"],
            "representation": p["representation"],
            "communes": p["communes"],
            "reference": p["source"],
            "source": "real (commune list), representation approximate",
        }
        feats.append(feature(fid, props, as_multipolygon(shape(f["geometry"]))))
    write_collection("ppi", feats)


def build_seveso(t: Territory) -> None:
    tiers = {"seuil_haut": "Seveso seuil haut", "seuil_bas": "Seveso seuil bas"}
    feats = []
    n = 0
    for f in t.seveso_fc["features"]:
        p = f["properties"]
        if f["geometry"] is None:
            continue  # Natup: no position found; listed in SOURCES.md, not in the layer.
        n += 1
        fid = f"SEVESO-CS-{n:02d}"
        lon, lat = f["geometry"]["coordinates"]
        estimated = p["position_quality"] != "wikipedia_dms"
        props = {
            "id": fid,
            "name": p["name"],
            "operator": p["name"].split(" (")[0],
            "commune": p["commune"],
            "insee": p["commune_insee"],
            "commune_confirmed": p["commune_insee"] is not None,
            "position_commune_insee": t.commune_at(lon, lat),
            "tier": tiers[p["seveso"]],
            "hazards": p["hazard_hint"] or None,
            "position_quality": p["position_quality"],
            "effects": None,
            "effects_note": "non publiées — à renseigner depuis le PPI",
            "note": p["note"] or None,
            "source_list": p["source_list"],
            "source": (
                "real list; position estimated (~1 km)"
                if estimated
                else "real list; position from the public encyclopaedia entry"
            ),
        }
        feats.append(feature(fid, props, Point(lon, lat)))
    lon, lat = FICTIF_1
    assert t.commune_at(lon, lat) == "76476"
    props = {
        "id": "FICTIF-1",
        "name": "FICTIF — Chimie de l'Estuaire (site de démonstration)",
        "operator": "FICTIF — Chimie de l'Estuaire",
        "commune": t.name("76476"),
        "insee": "76476",
        "commune_confirmed": True,
        "position_commune_insee": "76476",
        "tier": "Seveso seuil haut",
        "hazards": "toxique (ammoniac, chlore), incendie, explosion (GPL, solvants)",
        "position_quality": "synthetic",
        "effects": FICTIF_1_EFFECTS,
        "effects_note": "distances fictives de démonstration (mètres)",
        "note": "site fictif pour les exercices et les tests",
        "source_list": None,
        "source": SYNTH,
    }
    feats.append(feature("FICTIF-1", props, Point(lon, lat)))
    write_collection("seveso-sites", feats)


# --- population grid --------------------------------------------------------------------------

AGE_BANDS = [
    "ind_0_3",
    "ind_4_5",
    "ind_6_10",
    "ind_11_17",
    "ind_18_24",
    "ind_25_39",
    "ind_40_54",
    "ind_55_64",
    "ind_65_79",
    "ind_80p",
]
# National-like age shares (sum 1), perturbed per cell.
AGE_SHARES = np.array([0.042, 0.023, 0.060, 0.086, 0.070, 0.170, 0.196, 0.131, 0.155, 0.067])


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to weights that sum exactly to total."""
    q = total * weights / weights.sum()
    base = np.floor(q).astype(int)
    rest = total - int(base.sum())
    if rest:
        order = np.argsort(-(q - base), kind="stable")
        base[order[:rest]] += 1
    return base


class Grid:
    """The inhabited 200 m cells: lattice corners in EPSG:3035, commune, population."""

    def __init__(self, x0, y0, insee, ind):
        self.x0 = np.asarray(x0)
        self.y0 = np.asarray(y0)
        self.insee = np.asarray(insee)
        self.ind = np.asarray(ind)
        cx, cy = _3035_TO_WGS.transform(self.x0 + 100.0, self.y0 + 100.0)
        self.lon = np.asarray(cx)
        self.lat = np.asarray(cy)
        lx, ly = _TO_L93.transform(self.lon, self.lat)
        self.cx = np.asarray(lx)  # cell centre in Lambert-93
        self.cy = np.asarray(ly)

    def cells_of(self, insee: str) -> np.ndarray:
        return np.flatnonzero(self.insee == insee)


def build_population_grid(t: Territory, rng: np.random.Generator, avoid: list[Point]) -> Grid:
    minx, miny, maxx, maxy = shapely.bounds(
        shapely.transform(
            t.outline_wgs,
            lambda c: np.column_stack(_WGS_TO_3035.transform(c[:, 0], c[:, 1])),
        )
    )
    xs = np.arange(math.floor(minx / 200) * 200, maxx + 200, 200.0)
    ys = np.arange(math.floor(miny / 200) * 200, maxy + 200, 200.0)
    gx, gy = np.meshgrid(xs, ys)
    gx, gy = gx.ravel(), gy.ravel()
    lon, lat = _3035_TO_WGS.transform(gx + 100.0, gy + 100.0)
    lon, lat = np.asarray(lon), np.asarray(lat)
    lx, ly = (np.asarray(v) for v in _TO_L93.transform(lon, lat))
    pts = shapely.points(lx, ly)
    d_seine = shapely.distance(t.seine, pts)
    d_avoid = np.min([shapely.distance(a, pts) for a in avoid], axis=0)
    owner = np.full(gx.shape, "", dtype=object)
    for k in t.codes:
        owner[shapely.contains_xy(t.wgs[k], lon, lat)] = k

    x_out, y_out, insee_out, ind_out = [], [], [], []
    for k in t.codes:
        idx = np.flatnonzero(owner == k)
        pop = t.population(k)
        c = t.centre(k)
        d = np.hypot(lx[idx] - c.x, ly[idx] - c.y)
        lam = 250.0 + 4.0 * math.sqrt(pop)
        w = np.exp(-d / lam)
        # Hamlets: the Pays de Caux's scattered farms and former villages of merged communes.
        n_hamlets = 2 + int(t.props[k]["area_km2"] // 3)
        for h in rng.choice(idx.size, size=min(n_hamlets, idx.size), replace=False):
            dh = np.hypot(lx[idx] - lx[idx[h]], ly[idx] - ly[idx[h]])
            w += rng.uniform(0.08, 0.3) * np.exp(-dh / 220.0)
        w *= rng.lognormal(0.0, 0.5, idx.size)
        w[d_seine[idx] < 300.0] = 0.0  # nobody lives in the river
        w[d_avoid[idx] < 700.0] = 0.0  # nor inside the Port-Jérôme industrial zone
        w[w < 0.06 * w.max()] = 0.0  # fields and woods stay empty
        ind = largest_remainder(pop, w)
        keep = ind > 0
        x_out.append(gx[idx][keep])
        y_out.append(gy[idx][keep])
        insee_out += [k] * int(keep.sum())
        ind_out.append(ind[keep])
    grid = Grid(np.concatenate(x_out), np.concatenate(y_out), insee_out, np.concatenate(ind_out))

    feats = []
    for i in range(grid.ind.size):
        x0, y0, ind = float(grid.x0[i]), float(grid.y0[i]), int(grid.ind[i])
        idcar = f"CRS3035RES200mN{int(y0)}E{int(x0)}"
        ring_x = np.array([x0, x0 + 200, x0 + 200, x0, x0])
        ring_y = np.array([y0, y0, y0 + 200, y0 + 200, y0])
        rx, ry = _3035_TO_WGS.transform(ring_x, ring_y)
        shares = rng.dirichlet(AGE_SHARES * 80.0)
        bands = np.round(ind * shares, 1)
        bands[5] = round(ind - (bands.sum() - bands[5]), 1)  # the 25-39 band absorbs rounding
        props = {
            "idcar_200m": idcar,
            "ind": ind,
            "men": round(ind / rng.uniform(2.0, 2.5), 1),
        }
        props.update({name: float(v) for name, v in zip(AGE_BANDS, bands, strict=True)})
        props["commune_insee"] = str(grid.insee[i])
        props["source"] = SYNTH
        feats.append(feature(idcar, props, Polygon(list(zip(rx, ry, strict=True)))))
    write_collection("population-grid", feats)
    return grid


# --- placing points ---------------------------------------------------------------------------


class Placer:
    """Random points inside a commune, near its people (weighted by the grid) and its centre."""

    def __init__(self, t: Territory, grid: Grid, rng: np.random.Generator) -> None:
        self.t, self.grid, self.rng = t, grid, rng

    def point(self, insee: str, spread: float = 800.0, power: float = 1.0) -> Point:
        """A Lambert-93 point in an inhabited cell of the commune, checked inside it in WGS84."""
        idx = self.grid.cells_of(insee)
        c = self.t.centre(insee)
        d = np.hypot(self.grid.cx[idx] - c.x, self.grid.cy[idx] - c.y)
        w = self.grid.ind[idx].astype(float) ** power * np.exp(-d / spread)
        for _ in range(200):
            i = idx[self.rng.choice(idx.size, p=w / w.sum())]
            p = Point(
                self.grid.cx[i] + self.rng.uniform(-85, 85),
                self.grid.cy[i] + self.rng.uniform(-85, 85),
            )
            q = to_wgs(p)
            q = Point(round(q.x, 6), round(q.y, 6))
            if self.t.wgs[insee].contains(q) and self.t.seine.distance(p) > 250:
                return p
        raise RuntimeError(f"no point found in {insee}")


def point_props(t: Territory, insee: str) -> dict:
    return {"commune": t.name(insee), "commune_insee": insee}


# --- schools and health care ------------------------------------------------------------------

# Secondary schools and hospitals sit in the larger towns (counts are synthetic).
COLLEGES = {"76114": 2, "76384": 2, "76476": 2, "76258": 1, "76164": 1, "76329": 1}
LYCEES = {"76114": 2, "76384": 2, "76476": 1}
HOSPITALS = {"76384": 1, "76114": 1}
CLINICS = {"76114": 1}


def build_schools(t: Territory, place: Placer, rng: np.random.Generator) -> None:
    feats = []
    n = 0
    kinds = [
        ("creche", "Crèche", (20, 60)),
        ("ecole", "École", (60, 320)),
        ("college", "Collège", (350, 750)),
        ("lycee", "Lycée", (500, 1200)),
    ]
    for k in t.codes:
        pop = t.population(k)
        counts = {
            "creche": round(pop / 4000) + (1 if 2000 <= pop < 6000 else 0),
            "ecole": max(round(pop / 1000), 1 if pop >= 350 else 0),
            "college": COLLEGES.get(k, 0),
            "lycee": LYCEES.get(k, 0),
        }
        for kind, label, (lo, hi) in kinds:
            for j in range(counts[kind]):
                n += 1
                suffix = f" n°{j + 1}" if counts[kind] > 1 else ""
                name = f"FICTIF — {label}{suffix} de {t.name(k)}"
                spread = 500.0 if kind in ("creche", "ecole") else 900.0
                p = place.point(k, spread=spread)
                props = {
                    "id": f"DEMO-SCH-{n:03d}",
                    "name": name,
                    "type": kind,
                    "capacity": int(rng.integers(lo, hi) // 5 * 5),
                    **point_props(t, k),
                    "source": SYNTH,
                }
                feats.append(feature(props["id"], props, to_wgs(p)))
    write_collection("schools", feats)


def build_health(t: Territory, place: Placer, rng: np.random.Generator) -> None:
    feats = []
    n = 0
    for k in t.codes:
        pop = t.population(k)
        items = []
        n_ehpad = round(pop / 4500) + (1 if 1900 <= pop < 4500 else 0)
        items += [("ehpad", "EHPAD", (45, 110))] * n_ehpad
        items += [("hopital", "Hôpital", (120, 320))] * HOSPITALS.get(k, 0)
        items += [("clinique", "Clinique", (40, 120))] * CLINICS.get(k, 0)
        seen: dict[str, int] = {}
        for kind, label, (lo, hi) in items:
            n += 1
            seen[kind] = seen.get(kind, 0) + 1
            total = sum(1 for i in items if i[0] == kind)
            suffix = f" n°{seen[kind]}" if total > 1 else ""
            p = place.point(k, spread=700.0)
            props = {
                "id": f"DEMO-HEA-{n:03d}",
                "name": f"FICTIF — {label}{suffix} de {t.name(k)}",
                "type": kind,
                "capacity": int(rng.integers(lo, hi)),
                **point_props(t, k),
                "source": SYNTH,
            }
            feats.append(feature(props["id"], props, to_wgs(p)))
    write_collection("health-care", feats)


# --- roads ------------------------------------------------------------------------------------

# (ref, name, kind, waypoints lon/lat). Numbers and names are real; routes are approximate.
ROADS = [
    (
        "A29",
        "Autoroute A29",
        "motorway",
        [
            (0.372, 49.596),
            (0.425, 49.603),
            (0.476, 49.616),
            (0.52, 49.621),
            (0.59, 49.627),
            (0.65, 49.630),
            (0.70, 49.627),
        ],
    ),
    (
        "A131",
        "Autoroute A131",
        "motorway",
        [
            (0.425, 49.603),
            (0.430, 49.575),
            (0.438, 49.548),
            (0.443, 49.523),
            (0.452, 49.500),
            (0.4604, 49.4880),
            (0.4675, 49.4785),
        ],
    ),
    (
        "D982",
        "Route départementale 982",
        "primary",
        [
            (0.438, 49.492),
            (0.452, 49.489),
            (0.475, 49.492),
            (0.500, 49.500),
            (0.522, 49.508),
            (0.5355, 49.518),
            (0.555, 49.505),
            (0.568, 49.493),
            (0.590, 49.500),
            (0.615, 49.508),
            (0.645, 49.518),
            (0.667, 49.528),
            (0.690, 49.527),
            (0.712, 49.526),
            (0.7445, 49.5258),
            (0.765, 49.532),
            (0.790, 49.538),
        ],
    ),
    (
        "D910",
        "Route départementale 910",
        "primary",
        [(0.4839, 49.5753), (0.505, 49.560), (0.525, 49.545), (0.535, 49.530), (0.5355, 49.518)],
    ),
    (
        "D6015",
        "Route départementale 6015",
        "primary",
        [
            (0.380, 49.578),
            (0.420, 49.576),
            (0.455, 49.574),
            (0.4839, 49.5720),
            (0.510, 49.578),
            (0.526, 49.586),
            (0.560, 49.596),
            (0.600, 49.602),
            (0.630, 49.604),
            (0.670, 49.610),
        ],
    ),
    (
        "D173",
        "Route départementale 173",
        "primary",
        [
            (0.555, 49.481),
            (0.548, 49.498),
            (0.5355, 49.518),
            (0.515, 49.535),
            (0.495, 49.548),
            (0.4839, 49.558),
            (0.470, 49.585),
            (0.455, 49.610),
        ],
    ),
    (
        "D490",
        "Route départementale 490",
        "secondary",
        [(0.7445, 49.5258), (0.7442, 49.5257)],
    ),
    (
        "D490",
        "Route départementale 490",
        "secondary",
        [(0.7502, 49.5149), (0.752, 49.500), (0.755, 49.480), (0.762, 49.455), (0.765, 49.425)],
    ),
    (
        "D131",
        "Route départementale 131",
        "secondary",
        [(0.7195, 49.5244), (0.718, 49.540), (0.713, 49.5715), (0.705, 49.600)],
    ),
    (
        None,
        "Liaison Bolbec – Fauville-en-Caux",
        "secondary",
        [
            (0.4839, 49.5753),
            (0.4759, 49.600),
            (0.4992, 49.6142),
            (0.5375, 49.633),
            (0.5915, 49.6550),
        ],
    ),
    (
        None,
        "Liaison Tancarville – Saint-Antoine-la-Forêt",
        "secondary",
        [(0.4514, 49.4876), (0.4723, 49.5081), (0.4701, 49.5368), (0.4839, 49.5576)],
    ),
    (
        None,
        "Liaison Lillebonne – Terres-de-Caux",
        "secondary",
        [
            (0.5355, 49.518),
            (0.5698, 49.5269),
            (0.598, 49.553),
            (0.6016, 49.5739),
            (0.600, 49.602),
            (0.5915, 49.6550),
        ],
    ),
]
# Road numbers are real (A29, A131, D982, D910, D6015, D173, D490, D131); the links whose number
# was not checked carry ref None and a descriptive name. All routes are approximate.


def build_roads(t: Territory) -> list[LineString]:
    feats = []
    lines = []
    n = 0
    area = t.outline.buffer(200)
    for ref, name, kind, pts in ROADS:
        line = to_l93(LineString(pts)).intersection(area)
        parts = list(getattr(line, "geoms", [line]))
        for part in parts:
            if part.length < 50:
                continue
            for seg in split_line(part, 2000.0):
                n += 1
                fid = f"DEMO-ROAD-{n:03d}"
                props = {
                    "id": fid,
                    "name": name,
                    "ref": ref,
                    "kind": kind,
                    "length_m": round(seg.length),
                    "source": ROAD_SOURCE,
                }
                feats.append(feature(fid, props, to_wgs(seg)))
                lines.append(seg)
    for bname, (centre, length, bearing) in (
        ("Pont de Tancarville", TANCARVILLE_BRIDGE),
        ("Pont de Brotonne", BROTONNE_BRIDGE),
    ):
        n += 1
        fid = f"DEMO-ROAD-{n:03d}"
        deck = bridge_line(centre, length, bearing)
        props = {
            "id": fid,
            "name": bname,
            "ref": "A131" if bname == "Pont de Tancarville" else "D490",
            "kind": "bridge",
            "length_m": round(deck.length),
            "source": ROAD_SOURCE,
        }
        feats.append(feature(fid, props, to_wgs(deck)))
        lines.append(deck)
    write_collection("roads", feats)
    return lines


# --- networks ---------------------------------------------------------------------------------


def urban_mask(t: Territory, grid: Grid, insee: str, min_ind: int) -> Polygon | MultiPolygon:
    """Lambert-93 area of the commune's cells with at least min_ind inhabitants."""
    idx = [i for i in grid.cells_of(insee) if grid.ind[i] >= min_ind]
    cells = [
        box(grid.cx[i] - 110, grid.cy[i] - 110, grid.cx[i] + 110, grid.cy[i] + 110) for i in idx
    ]
    if not cells:
        return Polygon()
    m = shapely.union_all(cells).intersection(t.l93[insee]).buffer(-20)
    shapely.prepare(m)
    return m


def street_grid(
    t: Territory,
    insee: str,
    mask,
    spacing: float,
    rng: np.random.Generator,
) -> list[tuple[LineString, bool, tuple[float, float]]]:
    """Street-like segments on a jittered, rotated lattice around the centre, clipped to mask.

    Returns (segment, on a main axis, start node) tuples.
    """
    if mask.is_empty:
        return []
    c = t.centre(insee)
    minx, miny, maxx, maxy = mask.bounds
    half = max(abs(minx - c.x), abs(maxx - c.x), abs(miny - c.y), abs(maxy - c.y)) + spacing
    n = int(half // spacing) + 1
    a = rng.uniform(0, math.pi / 2)
    ca, sa = math.cos(a), math.sin(a)
    ii, jj = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), indexing="ij")
    u = ii * spacing + rng.uniform(-0.18, 0.18, ii.shape) * spacing
    v = jj * spacing + rng.uniform(-0.18, 0.18, ii.shape) * spacing
    x = c.x + u * ca - v * sa
    y = c.y + u * sa + v * ca
    out = []
    size = 2 * n + 1
    for di, dj in ((1, 0), (0, 1)):
        for i in range(size - di):
            for j in range(size - dj):
                x1, y1, x2, y2 = x[i, j], y[i, j], x[i + di, j + dj], y[i + di, j + dj]
                if not mask.contains(Point((x1 + x2) / 2, (y1 + y2) / 2)):
                    continue
                main = (ii[i, j] % 4 == 0 and di == 0) or (jj[i, j] % 4 == 0 and dj == 0)
                out.append((LineString([(x1, y1), (x2, y2)]), bool(main), (x1, y1)))
    return out


def route(t: Territory, a: Point, b: Point, bridge: LineString) -> LineString:
    """A line from a to b, crossing the Seine on the Brotonne bridge when they are on two banks."""
    if t.south_bank(a) == t.south_bank(b):
        return LineString([a, b])
    n_end, s_end = sorted(bridge.coords, key=lambda c: -c[1])
    first, last = (s_end, n_end) if t.south_bank(a) else (n_end, s_end)
    return LineString([a, first, last, b])


def spanning_tree(t: Territory, nodes: list[Point]) -> list[tuple[int, int]]:
    """Prim's minimum spanning tree over points on one bank (edges crossing the Seine excluded)."""
    n = len(nodes)
    if n < 2:
        return []
    cost = np.full((n, n), np.inf)
    for i in range(n):
        for j in range(i + 1, n):
            seg = LineString([nodes[i], nodes[j]])
            if not seg.intersects(t.seine):
                cost[i, j] = cost[j, i] = seg.length
    in_tree = [0]
    edges = []
    while len(in_tree) < n:
        sub = cost[np.ix_(in_tree, range(n))].copy()
        sub[:, in_tree] = np.inf
        k = int(np.argmin(sub))
        i, j = divmod(k, n)
        if not np.isfinite(sub[i, j]):
            break
        edges.append((in_tree[i], j))
        in_tree.append(j)
    return edges


def trunk_lines(t: Territory, codes: list[str], bridge: LineString) -> list[LineString]:
    """Lines linking commune centres: a tree on each bank, joined over the Brotonne bridge."""
    lines = []
    for south in (False, True):
        group = [k for k in codes if (k in SOUTH_BANK) == south]
        nodes = [t.centre(k) for k in group]
        lines += [LineString([nodes[i], nodes[j]]) for i, j in spanning_tree(t, nodes)]
    north = [k for k in codes if k not in SOUTH_BANK]
    south = [k for k in codes if k in SOUTH_BANK]
    if north and south:
        n_end, s_end = sorted(bridge.coords, key=lambda c: -c[1])
        a = min((t.centre(k) for k in north), key=lambda p: p.distance(Point(n_end)))
        b = min((t.centre(k) for k in south), key=lambda p: p.distance(Point(s_end)))
        lines.append(LineString([a, n_end, s_end, b]))
    return lines


def jitter_line(line: LineString, rng: np.random.Generator, amp: float) -> LineString:
    """Bend a straight link a little, as real lines follow roads and field edges."""
    coords = list(line.coords)
    out = [coords[0]]
    for (x1, y1), (x2, y2) in zip(coords, coords[1:], strict=False):
        length = math.hypot(x2 - x1, y2 - y1)
        k = max(1, int(length // 700))
        for s in range(1, k):
            f = s / k
            out.append(
                (x1 + f * (x2 - x1) + rng.normal(0, amp), y1 + f * (y2 - y1) + rng.normal(0, amp))
            )
        out.append((x2, y2))
    return LineString(out)


class Assets:
    """Collects point assets with the commune they fall in."""

    def __init__(self, t: Territory, prefix: str) -> None:
        self.t, self.prefix, self.feats, self.n = t, prefix, [], 0

    def add(self, p: Point, kind: str, name: str, extra: dict | None = None) -> bool:
        q = to_wgs(p)
        q = Point(round(q.x, 6), round(q.y, 6))
        insee = self.t.commune_at(q.x, q.y)
        if insee is None:
            return False
        self.n += 1
        fid = f"{self.prefix}-{self.n:04d}"
        props = {"id": fid, "type": kind, "name": name, **(extra or {})}
        props.update(point_props(self.t, insee))
        props["source"] = SYNTH
        self.feats.append(feature(fid, props, q))
        return True


def build_gas(t: Territory, grid: Grid, rng: np.random.Generator) -> None:
    feats, assets = [], Assets(t, "DEMO-GAS-AST")
    n = 0
    served = [k for k in t.codes if t.population(k) >= 1000]
    for k in served:
        mask = urban_mask(t, grid, k, 12)
        segs = street_grid(t, k, mask, 170.0, rng)
        for seg, main, node in segs:
            n += 1
            pressure = "MPB" if main else "BP"
            props = {
                "id": f"DEMO-GAS-{n:05d}",
                "pressure": pressure,
                "diameter_mm": int(rng.choice([110, 160]) if main else rng.choice([40, 63, 90])),
                "material": str(rng.choice(["PE", "acier"] if main else ["PE", "fonte"])),
                "commune_insee": k,
                "source": SYNTH,
            }
            feats.append(feature(props["id"], props, to_wgs(seg)))
            if main and rng.random() < 0.12:
                assets.add(Point(node), "valve", f"FICTIF — Robinet de réseau {t.name(k)} {n}")
        if segs:
            c = t.centre(k)
            ends = sorted(segs, key=lambda s: -Point(s[2]).distance(c))
            for m in range(1 + t.population(k) // 5000):
                assets.add(
                    Point(ends[m * 7 % len(ends)][2]),
                    "pressure_station",
                    f"FICTIF — Poste de détente {m + 1} de {t.name(k)}",
                )
    write_collection("gas-network", feats)
    write_collection("gas-assets", assets.feats)


# GRTgaz-like transmission lines (fictitious) through the Port-Jérôme industrial zone.
GAS_TRANSPORT = [
    (
        "FICTIF — Artère de l'Estuaire",
        600,
        67.7,
        [
            (0.418, 49.556),
            (0.455, 49.532),
            (0.488, 49.505),
            (0.515, 49.487),
            (0.538, 49.4775),
            (0.566, 49.4765),
            (0.600, 49.488),
            (0.632, 49.512),
            (0.668, 49.548),
            (0.702, 49.575),
            (0.735, 49.595),
        ],
    ),
    (
        "FICTIF — Antenne de Bolbec",
        200,
        67.7,
        [
            (0.538, 49.4775),
            (0.548, 49.500),
            (0.558, 49.520),
            (0.545, 49.545),
            (0.515, 49.562),
            (0.497, 49.570),
        ],
    ),
]


def build_gas_transport(t: Territory) -> None:
    feats = []
    n = 0
    for name, dn, bar, pts in GAS_TRANSPORT:
        line = to_l93(LineString(pts)).intersection(t.outline)
        for part in getattr(line, "geoms", [line]):
            for k, seg in enumerate(split_line(part, 1000.0), start=1):
                n += 1
                props = {
                    "id": f"DEMO-GRT-{n:03d}",
                    "name": f"{name}, tronçon {k}",
                    "diameter_mm": dn,
                    "pressure_bar": bar,
                    "length_m": round(seg.length),
                    "source": SYNTH,
                }
                feats.append(feature(props["id"], props, to_wgs(seg)))
    write_collection("gas-transport", feats)


def build_water(t: Territory, grid: Grid, rng: np.random.Generator, bridge: LineString) -> None:
    feats, assets = [], Assets(t, "DEMO-WAT-AST")
    n = 0

    def add_line(seg: LineString, dn: int, material: str, kind: str, insee: str | None) -> None:
        nonlocal n
        n += 1
        props = {
            "id": f"DEMO-WAT-{n:05d}",
            "diameter_mm": dn,
            "material": material,
            "kind": kind,
            "commune_insee": insee,
            "source": SYNTH,
        }
        feats.append(feature(props["id"], props, to_wgs(seg)))

    for k in t.codes:
        mask = urban_mask(t, grid, k, 8)
        for seg, main, node in street_grid(t, k, mask, 200.0, rng):
            dn = int(rng.choice([150, 200]) if main else rng.choice([63, 80, 100]))
            material = str(rng.choice(["fonte ductile", "PVC", "PEHD"]))
            add_line(seg, dn, material, "distribution", k)
            if main and rng.random() < 0.08:
                assets.add(Point(node), "valve", f"FICTIF — Vanne de sectionnement {n}")
    for trunk in trunk_lines(t, t.codes, bridge):
        bent = jitter_line(trunk, rng, 60.0)
        for seg in split_line(bent, 1000.0):
            add_line(seg, int(rng.choice([200, 250, 300])), "fonte ductile", "adduction", None)
    for k in t.codes:
        if t.population(k) >= 700:
            p = t.centre(k)
            off = rng.uniform(-600, 600, 2)
            q = Point(p.x + off[0], p.y + off[1])
            if t.l93[k].contains(q) or t.l93[k].contains(q := p):
                assets.add(q, "reservoir", f"FICTIF — Réservoir de {t.name(k)}")
    for k in ("76384", "76114", "76164"):
        p = t.centre(k)
        assets.add(Point(p.x + 450, p.y - 350), "treatment", f"FICTIF — Usine d'eau de {t.name(k)}")
    for k in ("76329", "76557", "76418", "76576", "76090", "76401", "76712"):
        p = t.centre(k)
        name = f"FICTIF — Captage de {t.name(k)}"
        assets.add(Point(p.x - 400, p.y - 300), "pumping_station", name)
    write_collection("water-network", feats)
    write_collection("water-assets", assets.feats)


SUBSTATIONS = ["76476", "76114", "76384", "76164", "76258"]


def build_power(t: Territory, grid: Grid, rng: np.random.Generator, bridge: LineString) -> None:
    feats, assets = [], Assets(t, "DEMO-PWR-AST")
    n = 0

    def add_line(seg: LineString, voltage: str, underground: bool, insee: str | None) -> None:
        nonlocal n
        n += 1
        props = {
            "id": f"DEMO-PWR-{n:05d}",
            "voltage": voltage,
            "underground": underground,
            "commune_insee": insee,
            "source": SYNTH,
        }
        feats.append(feature(props["id"], props, to_wgs(seg)))

    subs = {}
    for k in SUBSTATIONS:
        c = t.centre(k)
        p = Point(c.x + 900, c.y - 500) if k != "76476" else to_l93(Point(0.5580, 49.4850))
        if not t.l93[k].contains(p):
            p = Point(c.x + 300, c.y - 300)
        subs[k] = p
        assets.add(p, "substation", f"FICTIF — Poste source de {t.name(k)}")
    # HTA feeders: each commune centre is fed from its nearest substation.
    for k in t.codes:
        c = t.centre(k)
        sk = min(SUBSTATIONS, key=lambda s: subs[s].distance(c))
        if c.distance(subs[sk]) < 50:
            continue
        feeder = jitter_line(route(t, subs[sk], c, bridge), rng, 80.0)
        underground = bool(rng.random() < 0.35)
        for seg in split_line(feeder, 1000.0):
            add_line(seg, "HTA", underground, None)
    for k in t.codes:
        mask = urban_mask(t, grid, k, 8)
        segs = street_grid(t, k, mask, 190.0, rng)
        for seg, main, _ in segs:
            add_line(seg, "HTA" if main else "BT", bool(rng.random() < 0.6), k)
        if segs:
            for m in range(max(1, t.population(k) // 250)):
                node = segs[int(rng.integers(len(segs)))][2]
                assets.add(Point(node), "transformer", f"FICTIF — Poste HTA/BT {t.name(k)} {m + 1}")
    write_collection("power-network", feats)
    write_collection("power-assets", assets.feats)


# --- flood extents ----------------------------------------------------------------------------

# Levels in metres CMH (cote marine du Havre) at Tancarville; synthetic scenarios.
FLOOD_LEVELS = [
    (8.5, "FICTIF — Pleine mer de vives-eaux et surcote (Seine à 8,50 m CMH à Tancarville)", 10),
    (9.0, "FICTIF — Crue centennale de la Seine (9,00 m CMH à Tancarville)", 100),
    (9.5, "FICTIF — Événement extrême (9,50 m CMH à Tancarville)", 1000),
]
# Low alluvial flats (lon/lat), where the ground lies 7.5–10.5 m CMH: the north-bank plain from
# Tancarville to Norville (Port-Jérôme flats) and the inside of the Brotonne meander.
FLATS = [
    [
        (0.436, 49.462),
        (0.44, 49.485),
        (0.47, 49.489),
        (0.50, 49.491),
        (0.53, 49.489),
        (0.56, 49.486),
        (0.59, 49.478),
        (0.625, 49.462),
        (0.65, 49.47),
        (0.66, 49.49),
        (0.667, 49.50),
        (0.675, 49.455),
        (0.64, 49.44),
        (0.56, 49.445),
        (0.50, 49.47),
    ],
    [
        (0.675, 49.50),
        (0.69, 49.513),
        (0.72, 49.516),
        (0.745, 49.513),
        (0.765, 49.498),
        (0.765, 49.48),
        (0.745, 49.475),
        (0.70, 49.48),
        (0.68, 49.487),
    ],
    [(0.79, 49.47), (0.81, 49.455), (0.812, 49.44), (0.80, 49.43), (0.795, 49.45)],
]


def smooth_noise(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, cell: float, bounds):
    """Bilinear interpolation of a coarse random field (standard deviation about 1)."""
    minx, miny, maxx, maxy = bounds
    nx, ny = int((maxx - minx) // cell) + 3, int((maxy - miny) // cell) + 3
    coarse = rng.normal(0, 1, (ny, nx))
    fx, fy = (x - minx) / cell, (y - miny) / cell
    i0, j0 = np.floor(fy).astype(int), np.floor(fx).astype(int)
    ty, tx = fy - i0, fx - j0
    return (
        coarse[i0, j0] * (1 - ty) * (1 - tx)
        + coarse[i0, j0 + 1] * (1 - ty) * tx
        + coarse[i0 + 1, j0] * ty * (1 - tx)
        + coarse[i0 + 1, j0 + 1] * ty * tx
    )


def mask_to_polygon(mask: np.ndarray, x0: float, y0: float, cell: float):
    """Union of the True cells of a raster (row runs merged into rectangles)."""
    rects = []
    for r in range(mask.shape[0]):
        row = np.concatenate([[False], mask[r], [False]])
        edges = np.flatnonzero(row[1:] != row[:-1])
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            rects.append(box(x0 + a * cell, y0 + r * cell, x0 + b * cell, y0 + (r + 1) * cell))
    return shapely.union_all(rects)


def build_floods(t: Territory, rng: np.random.Generator, raised: list[Point]) -> None:
    cell = 50.0
    flats = shapely.union_all([to_l93(Polygon(f)) for f in FLATS] + [t.seine.buffer(350)])
    bounds = flats.buffer(500).bounds
    minx, miny, maxx, maxy = bounds
    xs = np.arange(minx, maxx, cell) + cell / 2
    ys = np.arange(miny, maxy, cell) + cell / 2
    gx, gy = np.meshgrid(xs, ys)
    pts = shapely.points(gx.ravel(), gy.ravel())
    d_river = shapely.distance(t.seine, pts).reshape(gx.shape)
    inside = shapely.contains_xy(flats, gx.ravel(), gy.ravel()).reshape(gx.shape)
    d_edge = shapely.distance(flats.boundary, pts).reshape(gx.shape)
    tnorm = d_river / (d_river + d_edge + 1.0)
    noise = smooth_noise(rng, gx, gy, 700.0, bounds)
    elev = 7.7 + 2.8 * tnorm**1.2 + 0.45 * noise
    # The industrial zone stands on raised, diked ground: only the extreme level reaches it.
    d_zone = np.min([shapely.distance(z, pts) for z in raised], axis=0).reshape(gx.shape)
    elev += 1.4 * np.exp(-((d_zone / 800.0) ** 2))
    elev = np.where(inside, elev, 11.0 + d_edge / 20.0)  # valley sides rise steeply
    elev = np.where(d_river < 150.0, 0.0, elev)  # the river bed itself
    feats = []
    lower = None
    for level, scenario, period in FLOOD_LEVELS:
        area = mask_to_polygon(elev < level, minx, miny, cell)
        area = area.buffer(30, join_style="mitre").buffer(-30, join_style="mitre")
        area = area.simplify(15).intersection(t.outline)
        area = shapely.union_all([p for p in as_multipolygon(area).geoms if p.area > 20_000])
        if lower is not None:
            area = shapely.union_all([area, lower])
        lower = area
        fid = f"DEMO-FLOOD-{round(level * 100)}"
        geom = as_multipolygon(to_wgs(area))
        props = {
            "id": fid,
            "name": f"FICTIF — Zone inondée, Seine à {level:.2f} m CMH".replace(".", ","),
            "seine_level_m": level,
            "level_reference": "cote marine du Havre (CMH) au marégraphe de Tancarville",
            "scenario": scenario,
            "return_period": period,
            "area_km2": round(area.area / 1e6, 2),
            "parts": len(geom.geoms),
            "source": SYNTH,
        }
        feats.append(feature(fid, props, geom))
    write_collection("flood-extents", feats)


# --- vulnerable persons -----------------------------------------------------------------------

FIRST = [
    "Jeanne",
    "Marcel",
    "Simone",
    "René",
    "Odette",
    "Lucien",
    "Germaine",
    "Robert",
    "Yvette",
    "André",
    "Paulette",
    "Roger",
    "Denise",
    "Maurice",
    "Colette",
    "Henri",
    "Lucienne",
    "Gilbert",
    "Thérèse",
    "Claude",
    "Monique",
    "Jacques",
    "Nicole",
    "Bernard",
    "Sophie",
    "Karim",
]
LAST = [
    "Martin",
    "Lefebvre",
    "Leroux",
    "Duval",
    "Lemaire",
    "Dumont",
    "Lecomte",
    "Hébert",
    "Lenoir",
    "Delamare",
    "Vasseur",
    "Picard",
    "Fleury",
    "Lesueur",
    "Marie",
    "Renault",
    "Bouchard",
    "Legrand",
    "Lefrançois",
    "Cauvin",
    "Auber",
    "Gosselin",
    "Quesnel",
    "Lambert",
]
STREETS = [
    "rue des Tilleuls",
    "rue du Moulin",
    "impasse des Lilas",
    "rue de la Mare",
    "chemin du Clos",
    "rue des Écoles",
    "allée des Peupliers",
    "rue du Stade",
    "route de la Vallée",
    "rue des Hêtres",
    "place de l'Église",
    "rue du Calvaire",
]
NEEDS = [
    "oxygénothérapie",
    "fauteuil roulant",
    "dialyse",
    "isolement",
    "alitement",
    "déficience visuelle",
    "déficience auditive",
    "troubles cognitifs",
    "assistance respiratoire",
]


def build_vulnerable(t: Territory, grid: Grid, place: Placer, rng: np.random.Generator) -> None:
    pops = np.array([t.population(k) for k in t.codes], dtype=float)
    counts = largest_remainder(150, pops)
    plant = to_l93(Point(FICTIF_1))
    spots: list[tuple[str, Point]] = []
    for k, c in zip(t.codes, counts, strict=True):
        spots += [(k, place.point(k, spread=1500.0, power=0.7)) for _ in range(int(c))]
    # A few persons live in the first houses near the fictitious plant.
    near = np.flatnonzero(np.hypot(grid.cx - plant.x, grid.cy - plant.y) < 2500)
    for i in rng.choice(near, size=min(5, near.size), replace=False):
        k = str(grid.insee[i])
        p = Point(grid.cx[i] + rng.uniform(-60, 60), grid.cy[i] + rng.uniform(-60, 60))
        q = to_wgs(p)
        if not t.wgs[k].contains(Point(round(q.x, 6), round(q.y, 6))):
            p = Point(grid.cx[i], grid.cy[i])
        spots.append((k, p))
    feats = []
    for n, (k, p) in enumerate(spots, start=1):
        pc = t.props[k]["postal_codes"][0]
        needs = rng.choice(NEEDS, size=int(rng.choice([1, 1, 1, 2, 2, 3])), replace=False)
        props = {
            "id": f"DEMO-VUL-{n:03d}",
            "name": f"FICTIF — {rng.choice(FIRST)} {rng.choice(LAST)}",
            "birth_year": int(rng.integers(1928, 1990)),
            "address": (
                f"FICTIF — {int(rng.integers(1, 80))} {rng.choice(STREETS)}, {pc} {t.name(k)}"
            ),
            "needs": ", ".join(str(x) for x in needs),
            "phone": f"01 99 00 {int(rng.integers(0, 100)):02d} {int(rng.integers(0, 100)):02d}",
            "emergency_contact": f"FICTIF — {rng.choice(FIRST)} {rng.choice(LAST)}",
            "emergency_phone": (
                f"01 99 00 {int(rng.integers(0, 100)):02d} {int(rng.integers(0, 100)):02d}"
            ),
            "lives_alone": bool(rng.random() < 0.55),
            **point_props(t, k),
            "source": SYNTH,
        }
        feats.append(feature(props["id"], props, to_wgs(p)))
    write_collection("vulnerable-persons", feats)


# --- the fictitious plant's inventory ---------------------------------------------------------

INVENTORY = [
    ("Réservoir cryogénique d'ammoniac R1", "ammoniac", "1005", 1500, "réservoir cryogénique"),
    ("Sphère d'ammoniac S2", "ammoniac", "1005", 250, "sphère sous pression"),
    ("Stockage de chlore en conteneurs", "chlore", "1017", 48, "conteneurs de 1 t sous abri"),
    ("Sphère de propane S1", "propane (GPL)", "1978", 800, "sphère sous pression"),
    ("Réservoirs de butane B1-B2", "butane (GPL)", "1011", 420, "réservoirs sous talus"),
    ("Bac de toluène T1", "toluène", "1294", 2200, "bac à toit flottant"),
    ("Bac de méthanol T2", "méthanol", "1230", 1800, "bac à toit fixe"),
    ("Bac d'acétone T3", "acétone", "1090", 900, "bac à toit fixe"),
    ("Entrepôt de solvants E1", "solvants divers", "1993", 350, "entrepôt (fûts, GRV)"),
    ("Cuve d'acide chlorhydrique A1", "acide chlorhydrique 33 %", "1789", 300, "cuve en rétention"),
    ("Cuve de soude A2", "hydroxyde de sodium 50 %", "1824", 400, "cuve en rétention"),
    ("Entrepôt de produits finis E2", "additifs (solides)", "3077", 1200, "entrepôt"),
]


def build_inventory(t: Territory, rng: np.random.Generator) -> None:
    plant = to_l93(Point(FICTIF_1))
    feats = []
    for n, (name, substance, un, qty, storage) in enumerate(INVENTORY, start=1):
        # Storage points inside a 400 m x 280 m plant footprint around the site point.
        while True:
            p = Point(plant.x + rng.uniform(-200, 200), plant.y + rng.uniform(-140, 140))
            q = to_wgs(p)
            if t.wgs["76476"].contains(Point(round(q.x, 6), round(q.y, 6))):
                break
        props = {
            "id": f"DEMO-INV-{n:02d}",
            "site_id": "FICTIF-1",
            "name": f"FICTIF — {name}",
            "substance": substance,
            "un_number": un,
            "quantity_t": float(qty),
            "storage": storage,
            **point_props(t, "76476"),
            "source": SYNTH,
        }
        feats.append(feature(props["id"], props, to_wgs(p)))
    write_collection("plant-inventory", feats)


# --- main -------------------------------------------------------------------------------------


def industrial_zone_points(t: Territory) -> list[Point]:
    """Lambert-93 points of the Port-Jérôme sites, kept free of housing in the grid."""
    pts = [
        Point(f["geometry"]["coordinates"])
        for f in t.seveso_fc["features"]
        if f["geometry"] and f["geometry"]["coordinates"][1] < 49.495
    ]
    return [to_l93(p) for p in [*pts, Point(FICTIF_1)]]


# --- reception centres (CARE) -----------------------------------------------------------------

CENTRE_KINDS = (
    ("gymnase", "Gymnase", (180, 320), "lits de camp, sanitaires, vestiaires, chauffage"),
    ("salle_polyvalente", "Salle polyvalente", (90, 220), "cuisine, sanitaires, tables et chaises"),
    ("salle_des_fetes", "Salle des fêtes", (60, 160), "cuisine, sanitaires, chauffage"),
)
CENTRE_STREETS = ("du Stade", "des Sports", "Jean Moulin", "de la Mairie", "Pasteur", "du Parc")


def build_reception_centres(t: Territory) -> None:
    """Gymnasiums and halls of the larger communes that can host evacuees (CARE). A generator of
    their own (seed 1876) so that the other layers stay byte-identical."""
    rng = np.random.default_rng(1876)
    register = json.loads((DATA / "vulnerable-persons.geojson").read_text())["features"]
    taken = {f["properties"][k] for f in register for k in ("phone", "emergency_phone")}
    free = (f"01 99 00 {k // 100:02d} {k % 100:02d}" for k in range(8000, 10000))
    free = (number for number in free if number not in taken)  # no register number reused
    feats = []
    n = 0
    for rank, insee in enumerate(t.codes[:10]):
        kinds = CENTRE_KINDS[:2] if rank < 4 else CENTRE_KINDS[rank % 2 + 1 : rank % 2 + 2]
        for kind, label, (lo, hi), equipment in kinds:
            n += 1
            centre = t.centre(insee)
            for _ in range(50):  # a point 250 to 700 m from the town hall, inside the commune
                a, d = rng.uniform(0, 2 * math.pi), rng.uniform(250, 700)
                p = Point(centre.x + d * math.cos(a), centre.y + d * math.sin(a))
                if t.l93[insee].contains(p):
                    break
            street = CENTRE_STREETS[int(rng.integers(len(CENTRE_STREETS)))]
            feats.append(
                feature(
                    f"DEMO-CARE-{n:02d}",
                    {
                        "id": f"DEMO-CARE-{n:02d}",
                        "name": f"FICTIF — {label} {street}, {t.name(insee)}",
                        "type": kind,
                        "capacity": int(rng.integers(lo, hi) // 10 * 10),
                        "equipment": equipment,
                        "contact": f"Services techniques de {t.name(insee)} (standard),"
                        f" {next(free)}",
                        **point_props(t, insee),
                        "source": SYNTH,
                    },
                    to_wgs(p),
                )
            )
    write_collection("reception-centres", feats)


def main() -> None:
    rng = np.random.default_rng(SEED)
    t = Territory()
    build_communes(t)
    build_territory(t)
    build_seine(t)
    build_ppi(t)
    build_seveso(t)
    grid = build_population_grid(t, rng, industrial_zone_points(t))
    place = Placer(t, grid, rng)
    build_schools(t, place, rng)
    build_health(t, place, rng)
    build_roads(t)
    brotonne = bridge_line(*BROTONNE_BRIDGE)
    build_gas(t, grid, rng)
    build_gas_transport(t)
    build_water(t, grid, rng, brotonne)
    build_power(t, grid, rng, brotonne)
    build_floods(t, rng, industrial_zone_points(t))
    build_vulnerable(t, grid, place, rng)
    build_inventory(t, rng)
    build_reception_centres(t)


if __name__ == "__main__":
    main()
