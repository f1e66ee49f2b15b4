"""Projections: WGS84 (EPSG:4326) <-> Lambert-93 (EPSG:2154), and INSEE's EPSG:3035.

Every metric computation in the console is done in Lambert-93; WGS84 only exists at the edges
(storage, GeoJSON, the browser). Transformers are built once per CRS pair and cached: pyproj
(>= 3.1) makes a ``Transformer`` safe to share between threads (it keeps one PROJ context per
thread), and the lock only guards the cache itself. All transformers use ``always_xy=True`` so
coordinates are always (lon, lat) or (x=east, y=north).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import shapely
from pyproj import Proj, Transformer
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

WGS84 = 4326
LAMBERT93 = 2154
LAEA_EUROPE = 3035  # INSEE's 200 m grid

_lock = threading.Lock()
_transformers: dict[tuple[int, int], Transformer] = {}


def transformer(src: int, dst: int) -> Transformer:
    """Return the cached always_xy transformer from EPSG ``src`` to EPSG ``dst``."""
    key = (src, dst)
    tr = _transformers.get(key)
    if tr is None:
        with _lock:
            tr = _transformers.get(key)
            if tr is None:
                tr = Transformer.from_crs(src, dst, always_xy=True)
                _transformers[key] = tr
    return tr


def _coords_func(src: int, dst: int) -> Any:
    tr = transformer(src, dst)

    def func(coords: np.ndarray) -> np.ndarray:
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack((x, y))

    return func


def transform_geom(geom: Any, src: int, dst: int) -> Any:
    """Reproject a geometry (or an array of geometries) from ``src`` to ``dst`` (2D)."""
    return shapely.transform(geom, _coords_func(src, dst))


def to_l93(geom: Any) -> Any:
    """WGS84 geometry (or array of geometries) -> Lambert-93."""
    return transform_geom(geom, WGS84, LAMBERT93)


def to_wgs84(geom: Any) -> Any:
    """Lambert-93 geometry (or array of geometries) -> WGS84."""
    return transform_geom(geom, LAMBERT93, WGS84)


def lonlat_to_l93(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Project lon/lat (scalars or arrays) to Lambert-93 x/y."""
    return transformer(WGS84, LAMBERT93).transform(lon, lat)  # type: ignore[no-any-return]


def l93_to_lonlat(x: Any, y: Any) -> tuple[Any, Any]:
    """Project Lambert-93 x/y (scalars or arrays) to lon/lat."""
    return transformer(LAMBERT93, WGS84).transform(x, y)  # type: ignore[no-any-return]


_l93: Proj | None = None


def _lambert93() -> Proj:
    global _l93
    if _l93 is None:
        with _lock:
            if _l93 is None:
                _l93 = Proj(LAMBERT93)
    return _l93


def grid_factors(x: float, y: float) -> tuple[float, float]:
    """At a Lambert-93 point: (meridian convergence in degrees, point scale factor).

    The convergence γ is PROJ's: a true (geographic) bearing β is the grid bearing β − γ
    (γ ≈ −1.8° at Port-Jérôme, west of the projection's central meridian 3° E). The scale
    factor k turns ground metres into grid metres (k ≈ 1.0004 on the Seine estuary).
    """
    lon, lat = l93_to_lonlat(x, y)
    factors = _lambert93().get_factors(float(lon), float(lat))
    return float(factors.meridian_convergence), float(factors.meridional_scale)


def grid_bearing(x: float, y: float, true_deg: float) -> float:
    """The grid bearing (clockwise from Lambert-93 north) of a true bearing at (x, y)."""
    gamma, _ = grid_factors(x, y)
    return (true_deg - gamma) % 360.0


def true_bearing(x: float, y: float, grid_deg: float) -> float:
    """The true bearing (clockwise from geographic north) of a grid bearing at (x, y)."""
    gamma, _ = grid_factors(x, y)
    return (grid_deg + gamma) % 360.0


def geojson_to_shape(obj: dict[str, Any]) -> BaseGeometry:
    """GeoJSON geometry dict (or a Feature) -> shapely geometry, coordinates unchanged."""
    if obj.get("type") == "Feature":
        obj = obj["geometry"]
    return shape(obj)


def shape_to_geojson(geom: BaseGeometry, precision: int | None = 6) -> dict[str, Any]:
    """Shapely geometry -> GeoJSON geometry dict, coordinates rounded to ``precision`` decimals.

    Six decimals of a degree is ~0.1 m, more than enough for WGS84 output; pass ``None`` to keep
    full precision.
    """
    if precision is not None and not geom.is_empty:
        geom = _round(geom, precision)
    out: dict[str, Any] = json.loads(shapely.to_geojson(geom))
    return out


def _round(geom: BaseGeometry, precision: int) -> BaseGeometry:
    # Rounding coordinates (rather than snapping with set_precision) never changes topology
    # in a way that makes shapely drop parts; it can at worst create a tiny invalidity, which
    # is harmless for display and storage.
    return shapely.transform(geom, lambda c: np.round(c, precision))
