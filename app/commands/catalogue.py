"""`crisis-console import`, `export` and `datasets`; the demo territory hook."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from .. import catalogue, fr, gis_files, imports
from .context import Console, bad_input, pass_console


class ProgressLine:
    """A progress line on stderr ("Vérification de x.gpkg : 42 % — 120 000 entités")."""

    def __init__(self, label: str, stream: Any = None):
        self.label = label
        self.stream = stream or sys.stderr
        self.last = 0.0
        self.shown = False

    def __call__(self, fraction: float | None, features: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.25 and fraction != 1.0:
            return
        self.last = now
        done = f"{fraction * 100:3.0f} % — " if fraction is not None else ""
        read = fr.count(features, "entité lue", "entités lues")
        self.stream.write(f"\r{self.label} : {done}{read}")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


@click.command("import")
@click.argument("dataset")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(imports.FORMATS), help="Default: from the file.")
@click.option("--layer", help="Layer of a GeoPackage (or a multi-layer file) to import.")
@click.option("--crs", help="CRS of the coordinates, e.g. 2154 (default: the file's, else WGS84).")
@click.option(
    "--encoding", help="Text encoding (default UTF-8; ICPE: ISO-8859-1; Shapefile: its .cpg)."
)
@click.option("--replace", is_flag=True, help="Replace every feature of the dataset atomically.")
@click.option("--actor", default="cli", show_default=True, help="Who imports (audit log).")
@pass_console
def import_command(
    console: Console,
    dataset: str,
    file: Path,
    fmt: str | None,
    layer: str | None,
    crs: str | None,
    encoding: str | None,
    replace: bool,
    actor: str,
) -> None:
    """Import FILE into DATASET (nothing is written if any feature is refused).

    FILE may be GeoJSON, GeoJSONSeq, CSV, an ICPE export, the INSEE grid, a GeoPackage, a
    Shapefile (zipped, a .shp or its folder), a FlatGeobuf or an OSM extract (.osm.pbf, into
    roads); the format is found from the extension when --format is not given.
    """
    db = console.db
    line = ProgressLine(f"Vérification de {file.name}")
    try:
        result = imports.import_file(
            db,
            console.now(),
            dataset,
            file,
            actor=actor,
            fmt=fmt,
            crs=crs,
            replace=replace,
            encoding=encoding,
            progress=line,
            layer=layer,
        )
    except imports.ImportFailed as exc:
        line.finish()
        click.echo(f"Import refusé, rien n'a été écrit :\n{exc}", err=True)
        sys.exit(2)
    except catalogue.CatalogueError as exc:
        line.finish()
        bad_input(str(exc))
    line.finish()
    removed = f", {fr.count(result.removed, 'retirée', 'retirées')}" if result.removed else ""
    skipped = (
        f", {fr.count(result.skipped, 'ligne ignorée', 'lignes ignorées')}"
        if result.skipped
        else ""
    )
    click.echo(
        f"{dataset} : révision {result.revision}, {fr.count(result.features, 'entité', 'entités')}"
        f" ({fr.count(result.inserted, 'ajoutée', 'ajoutées')},"
        f" {fr.count(result.updated, 'mise à jour', 'mises à jour')}"
        f"{removed}{skipped})."
    )


@click.command("export")
@click.argument("dataset")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["geojson", "csv", "gpkg"]), help="Default: from OUT."
)
@pass_console
def export_command(console: Console, dataset: str, out: Path, fmt: str | None) -> None:
    """Export a public DATASET to OUT (GeoJSON in WGS84, CSV or GeoPackage)."""
    db = console.db
    suffix = out.suffix.lower()
    fmt = fmt or {".csv": "csv", ".gpkg": "gpkg"}.get(suffix, "geojson")
    tmp = out.with_name(out.name + ".part")
    try:
        ds = catalogue.require_dataset(db, dataset)
        feats = catalogue.public_features(db, dataset)
        tmp.unlink(missing_ok=True)
        if fmt == "gpkg":
            n = gis_files.write_gpkg(ds, feats, tmp)
        else:
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                n = catalogue.export_file(ds, feats, fh, fmt)
        tmp.replace(out)
    except catalogue.CatalogueError as exc:
        tmp.unlink(missing_ok=True)
        bad_input(str(exc))
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        bad_input(f"{out} : écriture impossible ({exc.strerror or exc})")
    click.echo(f"{dataset} : {fr.count(n, 'entité exportée', 'entités exportées')} vers {out}.")


@click.command("datasets")
@pass_console
def datasets_command(console: Console) -> None:
    """List the catalogue."""
    for d in catalogue.list_datasets(console.db):
        click.echo(
            f"{d.slug:<20} {d.sensitivity:<10} {d.feature_count:>7} rév. {d.revision:<3}"
            f" {d.owner_slug:<16} {d.title}"
        )


COMMANDS: tuple[click.Command, ...] = (import_command, export_command, datasets_command)
