"""Talking to an owner's server: OGC API – Features items, WFS 2.0 GetFeature (GeoJSON).

Every exchange is bounded: a connect timeout, a read timeout, a deadline for the whole exchange
(every page), a size limit per response and a feature limit. Redirects are followed only within
the configured origin (scheme, host, port), never elsewhere. Anything that is not a GeoJSON
FeatureCollection of the dataset's geometry is refused as a whole with a French reason
(:class:`RemoteError`); the caller decides what to fall back to.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit, urlunsplit

import shapely
import urllib3
from shapely.geometry import shape

from .spec import RemoteSpec, origin_of


def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"crisis-console/{version('crisis-console')}"
    except PackageNotFoundError:
        return "crisis-console"


USER_AGENT = _user_agent()
REDIRECTS = (301, 302, 303, 307, 308)
MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How long and how much: a live read on a tablet waits seconds, a sync may take minutes."""

    connect_s: float
    read_s: float
    deadline_s: float
    max_bytes: int  # one response
    max_features: int  # the whole exchange
    page_size: int
    max_redirects: int = 3


LIVE = Limits(
    connect_s=2.0,
    read_s=4.0,
    deadline_s=6.0,
    max_bytes=16 * MiB,
    max_features=20_000,
    page_size=2000,
)
SYNC = Limits(
    connect_s=5.0,
    read_s=30.0,
    deadline_s=300.0,
    max_bytes=64 * MiB,
    max_features=1_000_000,
    page_size=5000,
)

# Why a read fell back, as the cell reads it ("copie du 28/11 à 03:00 — <reason>").
DOWN = "le serveur du gestionnaire ne répond pas"


class RemoteError(Exception):
    """The owner's server could not give a usable answer; ``reason`` is French, for the page."""

    def __init__(self, reason: str, kind: str, detail: str = ""):
        super().__init__(reason + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.kind = kind  # down | timeout | http | junk | too_large | redirect | config
        self.detail = detail


_pool = urllib3.PoolManager(num_pools=16, maxsize=4, retries=False, block=False)


def _with_query(url: str, params: Mapping[str, str]) -> str:
    if not params:
        return url
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params, safe=",:")) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def get_json(
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str],
    limits: Limits,
    deadline: float,
    origin: tuple[str, str, int],
) -> Any:
    """GET ``url`` and parse its JSON body, within ``deadline`` (a ``time.monotonic`` value)."""
    target = _with_query(url, params or {})
    for _hop in range(limits.max_redirects + 1):
        if origin_of(target) != origin:
            raise RemoteError(
                "redirection vers un autre serveur refusée", "redirect", urlsplit(target).netloc
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RemoteError(DOWN, "timeout", "délai dépassé")
        timeout = urllib3.Timeout(
            connect=min(limits.connect_s, remaining), read=min(limits.read_s, remaining)
        )
        try:
            response = _pool.request(
                "GET",
                target,
                headers={
                    "Accept": "application/geo+json, application/json;q=0.9",
                    "User-Agent": USER_AGENT,
                    **headers,
                },
                timeout=timeout,
                redirect=False,
                retries=False,
                preload_content=False,
            )
        except urllib3.exceptions.TimeoutError as exc:
            raise RemoteError(DOWN, "timeout", type(exc).__name__) from None
        except urllib3.exceptions.HTTPError as exc:
            raise RemoteError(DOWN, "down", type(exc).__name__) from None
        complete = False
        try:
            if response.status in REDIRECTS:
                location = response.headers.get("Location") or ""
                target = urljoin(target, location)
                continue
            if response.status != 200:
                raise RemoteError(
                    f"le serveur du gestionnaire a répondu une erreur (HTTP {response.status})",
                    "http",
                )
            body = _read_bounded(response, limits, deadline)
            complete = True
        finally:
            if not complete:  # unread bytes must not reach the next request on this socket
                response.close()
            response.release_conn()
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise RemoteError(
                "réponse illisible du serveur du gestionnaire", "junk", "JSON attendu"
            ) from None
    raise RemoteError("trop de redirections du serveur du gestionnaire", "redirect")


def _read_bounded(response: Any, limits: Limits, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limits.max_bytes:
        raise RemoteError(_too_large(limits), "too_large")
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.stream(64 * 1024):
            total += len(chunk)
            if total > limits.max_bytes:
                raise RemoteError(_too_large(limits), "too_large")
            if time.monotonic() > deadline:
                raise RemoteError(DOWN, "timeout", "réponse trop lente")
            chunks.append(chunk)
    except urllib3.exceptions.TimeoutError:
        raise RemoteError(DOWN, "timeout", "réponse trop lente") from None
    except urllib3.exceptions.HTTPError as exc:
        raise RemoteError(DOWN, "down", type(exc).__name__) from None
    return b"".join(chunks)


def _too_large(limits: Limits) -> str:
    return f"réponse trop volumineuse (plus de {limits.max_bytes // MiB} Mo)"


# -- features ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteFeature:
    """A checked feature: its id, WGS84 GeoJSON geometry, properties and bounds."""

    fid: str
    geometry: dict[str, Any]
    properties: dict[str, Any]
    bbox: tuple[float, float, float, float]


def check_collection(
    doc: Any, *, geometry_type: str, id_field: str, where: str = ""
) -> tuple[list[RemoteFeature], list[dict[str, Any]]]:
    """The features of a GeoJSON FeatureCollection page, checked; and its links.

    The whole page is refused (RemoteError "junk") at the first bad feature: a half-read zone
    would be read as "nothing there".
    """
    junk = "réponse illisible du serveur du gestionnaire"
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise RemoteError(junk, "junk", f"{where}FeatureCollection GeoJSON attendue")
    feats = doc.get("features")
    if not isinstance(feats, list):
        raise RemoteError(junk, "junk", f"{where}membre « features » absent")
    base = geometry_type.removeprefix("Multi")
    accepted = {base} if base == "Point" else {base, "Multi" + base}
    out: list[RemoteFeature] = []
    for i, feat in enumerate(feats):
        here = f"{where}entité {i}"
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            raise RemoteError(junk, "junk", f"{here} : objet « Feature » attendu")
        props = feat.get("properties") or {}
        if not isinstance(props, dict):
            raise RemoteError(junk, "junk", f"{here} : « properties » doit être un objet")
        fid = props.get(id_field, feat.get("id"))
        if fid is None or fid == "" or isinstance(fid, bool | dict | list | float):
            raise RemoteError(junk, "junk", f"{here} : identifiant manquant")
        geom = feat.get("geometry")
        if not isinstance(geom, dict) or geom.get("type") not in accepted:
            found = geom.get("type") if isinstance(geom, dict) else None
            expected = " ou ".join(sorted(accepted))
            raise RemoteError(
                junk, "junk", f"{here} (id {fid}) : géométrie {found}, {expected} attendu"
            )
        try:
            g = shape(geom)
            xy = shapely.get_coordinates(g)
        except Exception:
            raise RemoteError(
                junk, "junk", f"{here} (id {fid}) : coordonnées mal formées"
            ) from None
        if len(xy) == 0 or not all(math.isfinite(v) for v in xy.ravel().tolist()):
            raise RemoteError(junk, "junk", f"{here} (id {fid}) : coordonnées invalides")
        minx, miny, maxx, maxy = (float(v) for v in g.bounds)
        if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
            raise RemoteError(
                junk, "junk", f"{here} (id {fid}) : coordonnées hors WGS84 (lon, lat attendus)"
            )
        props = dict(props)
        props.setdefault(id_field, fid)
        out.append(RemoteFeature(str(fid), geom, props, (minx, miny, maxx, maxy)))
    links = doc.get("links")
    if not isinstance(links, list):
        return out, []
    return out, [link for link in links if isinstance(link, dict)]


def _next_link(links: Sequence[Mapping[str, Any]], current: str) -> str | None:
    for link in links:
        if link.get("rel") == "next" and isinstance(link.get("href"), str):
            kind = str(link.get("type") or "")
            if kind and "json" not in kind:
                continue
            return urljoin(current, link["href"])
    return None


@dataclass(frozen=True)
class Request:
    """One read of a collection: an optional WGS84 window, properties, headers."""

    bbox: tuple[float, float, float, float] | None = None
    properties: Sequence[str] | None = None
    headers: Mapping[str, str] | None = None
    extra_params: Mapping[str, str] | None = None


def first_page(spec: RemoteSpec, request: Request, limits: Limits) -> tuple[str, dict[str, str]]:
    """The URL and parameters of the first page of ``request``."""
    params: dict[str, str] = {}
    if spec.kind == "ogcapi":
        url = f"{spec.url}/collections/{quote(spec.collection, safe='')}/items"
        params["limit"] = str(limits.page_size)
        if request.bbox is not None:
            params["bbox"] = ",".join(f"{v:.7f}" for v in request.bbox)
        if request.properties and spec.properties_param:
            params["properties"] = ",".join(request.properties)
    else:
        url = spec.url
        params.update(
            SERVICE="WFS",
            VERSION="2.0.0",
            REQUEST="GetFeature",
            TYPENAMES=spec.collection,
            OUTPUTFORMAT="application/json",
            SRSNAME="EPSG:4326",
            COUNT=str(limits.page_size),
            STARTINDEX="0",
        )
        if request.bbox is not None:
            # WFS 2.0: a BBOX in urn:ogc:def:crs:EPSG::4326 is latitude first.
            x0, y0, x1, y1 = request.bbox
            params["BBOX"] = f"{y0:.7f},{x0:.7f},{y1:.7f},{x1:.7f},urn:ogc:def:crs:EPSG::4326"
        if request.properties and spec.properties_param and spec.geometry_name:
            # Without its geometry property a WFS leaves the geometry out: always ask for it.
            params["PROPERTYNAME"] = ",".join([*request.properties, spec.geometry_name])
    params.update(request.extra_params or {})
    return url, params


def fetch(
    spec: RemoteSpec,
    request: Request,
    *,
    geometry_type: str,
    id_field: str,
    limits: Limits,
) -> Iterator[RemoteFeature]:
    """Every feature of the request, page after page; RemoteError on any problem.

    Pages are fetched lazily: a sync writes them to disk as they come, a live read collects
    them. OGC API pages follow the ``next`` link (same origin only); WFS pages ``STARTINDEX``.
    """
    deadline = time.monotonic() + limits.deadline_s
    headers = dict(request.headers or {})
    url: str | None
    url, params = first_page(spec, request, limits)
    count = 0
    page = 0
    while url is not None:
        page += 1
        doc = get_json(
            url,
            params=params,
            headers=headers,
            limits=limits,
            deadline=deadline,
            origin=spec.origin,
        )
        feats, links = check_collection(
            doc, geometry_type=geometry_type, id_field=id_field, where=f"page {page}, "
        )
        count += len(feats)
        if count > limits.max_features:
            raise RemoteError(
                f"trop d'entités dans la réponse (plus de {limits.max_features})", "too_large"
            )
        yield from feats
        if not feats:
            return
        if spec.kind == "ogcapi":
            url = _next_link(links, url if not params else _with_query(url, params))
            params = {}  # the next link carries every parameter
        elif len(feats) < limits.page_size:
            return
        else:
            params = {**params, "STARTINDEX": str(int(params["STARTINDEX"]) + len(feats))}
