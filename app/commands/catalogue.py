"""`crisis-console import`, `export` and `datasets`; the demo territory hook."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import catalogue, fr, imports
from .context import Console, bad_input, pass_console


@click.command("import")
@click.argument("dataset")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(imports.FORMATS), help="Default: from the file.")
@click.option("--crs", help="CRS of the coordinates, e.g. 2154 or EPSG:2154 (default WGS84).")
@click.option("--encoding", help="Text encoding (default UTF-8; ICPE exports: ISO-8859-1).")
@click.option("--replace", is_flag=True, help="Replace every feature of the dataset atomically.")
@click.option("--actor", default="cli", show_default=True, help="Who imports (audit log).")
@pass_console
def import_command(
    console: Console,
    dataset: str,
    file: Path,
    fmt: str | None,
    crs: str | None,
    encoding: str | None,
    replace: bool,
    actor: str,
) -> None:
    """Import FILE into DATASET (nothing is written if any feature is refused)."""
    db = console.db
    size = file.stat().st_size if file.exists() else 0
    with click.progressbar(
        length=max(size, 1), label=f"Vérification de {file.name}", file=sys.stderr
    ) as bar:
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
                progress=bar.update,
            )
        except imports.ImportFailed as exc:
            bar.render_finish()
            click.echo(f"Import refusé, rien n'a été écrit :\n{exc}", err=True)
            sys.exit(2)
        except catalogue.CatalogueError as exc:
            bar.render_finish()
            bad_input(str(exc))
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
@click.option("--format", "fmt", type=click.Choice(["geojson", "csv"]), help="Default: from OUT.")
@pass_console
def export_command(console: Console, dataset: str, out: Path, fmt: str | None) -> None:
    """Export a public DATASET to OUT (GeoJSON in WGS84 or CSV)."""
    db = console.db
    fmt = fmt or ("csv" if out.suffix.lower() == ".csv" else "geojson")
    try:
        ds = catalogue.require_dataset(db, dataset)
        feats = catalogue.public_features(db, dataset)
        tmp = out.with_name(out.name + ".part")
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            n = catalogue.export_file(ds, feats, fh, fmt)
        tmp.replace(out)
    except catalogue.CatalogueError as exc:
        bad_input(str(exc))
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
