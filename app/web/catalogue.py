"""The catalogue pages, dataset import/export, the interactive map and the datasets API."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    request,
    url_for,
)

from .. import catalogue, imports
from ..db import connect
from ..remote import sync as remote_sync
from .context import get_db, now, require_user
from .errors import fail
from .htmx import htmx, render
from .security import allow

bp = Blueprint("catalogue", __name__)

# Layers drawn as the offline basemap, bottom to top.
BASEMAP = ("communes", "territory", "seine", "roads")


def _dataset_or_404(slug: str) -> catalogue.Dataset:
    dataset = catalogue.get_dataset(get_db(), slug)
    if dataset is None:
        fail(404, f"Le jeu de données « {slug} » n'existe pas.")
    return dataset


def _stream(
    slug: str, fmt: str, bbox: tuple[float, float, float, float] | None = None
) -> Iterator[str]:
    """Export chunks over a connection of their own: the response outlives the request's."""
    path = current_app.config["CRISIS_DB"]

    def generate() -> Iterator[str]:
        db = connect(path)
        try:
            dataset = catalogue.require_dataset(db, slug)
            feats = catalogue.public_features(db, slug, bbox=bbox)
            if fmt == "csv":
                yield from catalogue.csv_chunks(dataset, feats)
            else:
                yield from catalogue.geojson_chunks(feats, dataset.slug)
        finally:
            db.conn.close()

    return generate()


def _check_public(slug: str) -> catalogue.Dataset:
    dataset = _dataset_or_404(slug)
    catalogue.public_features(get_db(), slug)  # NotPublic (403) for a restricted dataset
    return dataset


def _filters() -> dict[str, str]:
    return {
        k: request.args.get(k, "").strip()
        for k in ("theme", "owner", "sensitivity", "q")
        if request.args.get(k, "").strip()
    }


@bp.get("/catalogue")
@allow()
def list_datasets() -> Response:
    filters = _filters()
    db = get_db()
    datasets = catalogue.list_datasets(db, **filters)
    return render(
        "catalogue/list.html",
        "catalogue/_results.html",
        datasets=datasets,
        filters=filters,
        owners=catalogue.owners(db),
        themes=catalogue.THEMES,
        sensitivities=catalogue.SENSITIVITIES,
    )


def _dataset_page(dataset: catalogue.Dataset, status: int = 200, **extra: Any) -> Response:
    user = require_user()
    return render(
        "catalogue/dataset.html",
        "catalogue/_import_form.html" if extra.get("problems") is not None else None,
        status=status,
        dataset=dataset,
        history=catalogue.revisions(get_db(), dataset.slug),
        remote=remote_sync.get_source(get_db(), dataset.slug),
        now=now(),
        may_manage=catalogue.may_manage(user, dataset),
        formats=imports.FORMATS,
        max_upload_mb=current_app.config["CRISIS_MAX_UPLOAD_MB"],
        **extra,
    )


@bp.get("/catalogue/<slug>")
@allow()
def show_dataset(slug: str) -> Response:
    dataset = _dataset_or_404(slug)
    return _dataset_page(dataset, imported=request.args.get("imported"))


@bp.get("/catalogue/<slug>/export.<fmt>")
@allow()
def export_dataset(slug: str, fmt: str) -> Response:
    if fmt not in ("geojson", "csv"):
        fail(404, "Format d'export inconnu : geojson ou csv.")
    _check_public(slug)
    mimetype = "text/csv" if fmt == "csv" else "application/geo+json"
    response = Response(_stream(slug, fmt), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{slug}.{fmt}"'
    return response


@bp.post("/catalogue/<slug>/import")
@allow("steward")
def import_dataset(slug: str) -> Response:
    user = require_user()
    dataset = _dataset_or_404(slug)
    if not catalogue.may_manage(user, dataset):
        fail(403, f"Seuls les gestionnaires de {dataset.owner_name} peuvent importer ce jeu.")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _dataset_page(dataset, 422, problems=["Choisissez un fichier à importer."])
    fmt = request.form.get("format") or None
    if fmt is not None and fmt not in imports.FORMATS:
        return _dataset_page(dataset, 422, problems=[f"Format « {fmt} » inconnu."])
    name = Path(upload.filename).name
    with tempfile.TemporaryDirectory(prefix="crisis-upload-") as tmp:
        path = Path(tmp) / (name or "upload")
        upload.save(path)
        try:
            result = imports.import_file(
                get_db(),
                now(),
                slug,
                path,
                actor=user.login,
                fmt=fmt,
                crs=request.form.get("crs", "").strip() or None,
                replace=request.form.get("replace") == "1",
                file_name=name,
            )
        except imports.ImportFailed as exc:
            return _dataset_page(dataset, 422, problems=exc.lines)
        except catalogue.CatalogueError as exc:
            return _dataset_page(dataset, 422, problems=[str(exc)])
    target = url_for("catalogue.show_dataset", slug=slug, imported=result.revision)
    if htmx:
        response = Response(status=204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)  # type: ignore[return-value]


@bp.get("/map")
@allow()
def show_map() -> Response:
    db = get_db()
    datasets = catalogue.list_datasets(db)
    layers = [
        {
            "slug": d.slug,
            "title": d.title,
            "geometry": d.geometry_type,
            "theme": d.theme,
            "count": d.feature_count,
            "basemap": d.slug in BASEMAP,
            "url": url_for("catalogue.api_features", slug=d.slug),
            "fields": [{"name": f.name, "label": f.label} for f in d.fields],
        }
        for d in datasets
        if d.is_public and d.feature_count
    ]
    layers.sort(key=lambda x: (not x["basemap"], BASEMAP.index(x["slug"]) if x["basemap"] else 0))
    territory = catalogue.get_dataset(db, "territory")
    extent = list(territory.bbox) if territory and territory.bbox else None
    restricted = [d for d in datasets if not d.is_public]
    from .basemaps import library

    return render(
        "catalogue/map.html",
        layers=layers,
        extent=extent,
        restricted=restricted,
        dataset=None,
        basemap_problems=library().problems,
    )


# -- JSON API ------------------------------------------------------------------------------


@bp.get("/api/v1/datasets")
@allow()
def api_datasets() -> Response:
    datasets = catalogue.list_datasets(get_db(), **_filters())
    return jsonify(datasets=[d.as_json() for d in datasets])


def _bbox_arg() -> tuple[float, float, float, float] | None:
    text = request.args.get("bbox", "").strip()
    if not text:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or values[0] > values[2] or values[1] > values[3]:
        fail(400, "bbox attendu : minlon,minlat,maxlon,maxlat")
    return values[0], values[1], values[2], values[3]


@bp.get("/api/v1/datasets/<slug>/features")
@allow()
def api_features(slug: str) -> Response:
    dataset = _dataset_or_404(slug)
    if dataset.sensitivity != "public" and request.args.get("event"):
        from .access import features_response  # restricted reads: grant checked and recorded

        return features_response(request.args.get("event", type=int) or 0, slug)
    _check_public(slug)
    return Response(_stream(slug, "geojson", _bbox_arg()), mimetype="application/geo+json")
