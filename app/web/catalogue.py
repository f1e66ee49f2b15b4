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

from .. import catalogue, gis_files, imports
from ..db import connect
from ..remote import sync as remote_sync
from . import api_models as m
from . import import_progress
from .context import get_db, now, require_user
from .errors import fail
from .htmx import htmx, render
from .openapi import describe
from .params import bbox_arg, int_arg
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


# Upload names are never trusted: the file is stored under a generated name that keeps only a
# known extension (format detection needs it); the shown name is cleaned and shortened.
UPLOAD_SUFFIXES = (
    ".osm.pbf",
    ".geojsonl",
    ".geojsons",
    ".geojsonseq",
    ".ndjson",
    ".jsonl",
    ".geojson",
    ".json",
    ".csv",
    ".txt",
    ".gpkg",
    ".zip",
    ".fgb",
    ".pbf",
)
MAX_SHOWN_NAME = 120


def upload_name(raw: str) -> tuple[str, str]:
    """(the name to show and record, the suffix to store the file under) of an uploaded name."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    if name.strip(".") == "":
        name = "fichier"
    low = name.lower()
    suffix = next((s for s in UPLOAD_SUFFIXES if low.endswith(s)), "")
    if len(name) > MAX_SHOWN_NAME:
        keep = MAX_SHOWN_NAME - len(suffix) - 1
        name = name[:keep] + "…" + name[len(name) - len(suffix) :] if suffix else name[:keep] + "…"
    return name, suffix


def _dataset_page(dataset: catalogue.Dataset, status: int = 200, **extra: Any) -> Response:
    user = require_user()
    extra.setdefault("progress_token", import_progress.new_token())
    from .access import APPROVAL_LABELS, HOLDERS, request_links

    options = request_links(dataset) if not dataset.is_public and user.has(*HOLDERS) else []
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
        options=options,
        APPROVAL_LABELS=APPROVAL_LABELS,
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
    if fmt not in ("geojson", "csv", "gpkg"):
        fail(404, "Format d'export inconnu : geojson, csv ou gpkg.")
    dataset = _check_public(slug)
    if fmt == "gpkg":
        return _gpkg_response(dataset)
    mimetype = "text/csv" if fmt == "csv" else "application/geo+json"
    response = Response(_stream(slug, fmt), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{slug}.{fmt}"'
    return response


def _gpkg_response(dataset: catalogue.Dataset) -> Response:
    """A GeoPackage is written to a temporary file (SQLite needs one), then sent."""
    with tempfile.TemporaryDirectory(prefix="crisis-export-") as tmp:
        out = Path(tmp) / f"{dataset.slug}.gpkg"
        gis_files.write_gpkg(dataset, catalogue.public_features(get_db(), dataset.slug), out)
        body = out.read_bytes()
    response = Response(body, mimetype="application/geopackage+sqlite3")
    response.headers["Content-Disposition"] = f'attachment; filename="{dataset.slug}.gpkg"'
    return response


@bp.get("/catalogue/<slug>/import/progress/<token>")
@allow("steward")
def import_progress_view(slug: str, token: str) -> Response:
    user = require_user()
    job = import_progress.get(user.id, token) if import_progress.valid_token(token) else None
    return render(
        "catalogue/_import_progress.html",
        job=job,
        slug=slug,
        token=token,
    )


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
    layer = request.form.get("layer", "").strip()[:200] or None
    encoding = request.form.get("encoding", "").strip()[:40] or None
    name, suffix = upload_name(upload.filename)
    if name.lower().endswith((".shp", ".shx", ".dbf", ".prj", ".cpg")):
        return _dataset_page(
            dataset,
            422,
            problems=[
                f"{name} : un Shapefile s'envoie zippé (un .zip avec ses .shp, .shx, .dbf et .prj)."
            ],
        )
    token = request.form.get("progress_token", "")
    job = import_progress.start(user.id, token) if import_progress.valid_token(token) else None

    def progress(fraction: float | None, features: int) -> None:
        if job is not None:
            import_progress.update(job, fraction, features)

    with tempfile.TemporaryDirectory(prefix="crisis-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
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
                encoding=encoding,
                file_name=name,
                progress=progress,
                layer=layer,
            )
        except imports.ImportFailed as exc:
            return _dataset_page(dataset, 422, problems=exc.lines)
        except catalogue.CatalogueError as exc:
            return _dataset_page(dataset, 422, problems=[str(exc)])
        finally:
            if job is not None:
                import_progress.finish(job)
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
@describe(
    "Le catalogue des jeux de données", tag="Données", query=m.DatasetsQuery, response=m.DatasetList
)
def api_datasets() -> Response:
    datasets = catalogue.list_datasets(get_db(), **_filters())
    return jsonify(datasets=[d.as_json() for d in datasets])


@bp.get("/api/v1/datasets/<slug>/features")
@allow()
@describe(
    "Les objets d'un jeu public (GeoJSON)",
    tag="Données",
    query=m.FeaturesQuery,
    response=m.FeatureCollection,
    media=("application/geo+json", "application/json"),
    errors=(400,),
)
def api_features(slug: str) -> Response:
    dataset = _dataset_or_404(slug)
    if dataset.sensitivity != "public" and request.args.get("event"):
        from .access import features_response  # restricted reads: grant checked and recorded

        return features_response(int_arg("event", "Événement", 0), slug)
    _check_public(slug)
    return Response(_stream(slug, "geojson", bbox_arg()), mimetype="application/geo+json")
