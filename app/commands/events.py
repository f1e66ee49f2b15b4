"""`crisis-console playbooks check [DIR]`: validate the playbooks (exit 2 if any is broken)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import events
from ..cli import _app, main
from ..db import connect
from ..playbooks import load_playbooks


@main.group()
def playbooks() -> None:
    """Risk playbooks (YAML)."""


@playbooks.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def check(directory: Path | None) -> None:
    """Check every playbook of DIRECTORY (default: CRISIS_PLAYBOOKS); print OK or the error."""
    app = _app()
    folder = directory or Path(app.config["CRISIS_PLAYBOOKS"])
    known = events.known_datasets(None, app.config["CRISIS_DATA"])
    db_path = str(app.config["CRISIS_DB"])
    if known is None and Path(db_path).exists():
        db = connect(db_path)
        try:
            known = events.known_datasets(db, app.config["CRISIS_DATA"])
        finally:
            db.conn.close()
    found, errors = load_playbooks(folder, known_datasets=known)
    failed = {Path(e.file).name for e in errors}
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        if path.name not in failed:
            pb = next((p for p in found.values() if Path(p.source_file).name == path.name), None)
            click.echo(f"OK      {path.name}" + (f" ({pb.id})" if pb else ""))
    for error in errors:
        click.echo(f"ERREUR  {error}")
    if known is None:
        click.echo("(jeux de données non vérifiés : ni catalogue.yaml ni base chargée)")
    click.echo(f"{len(found)} guide(s) valide(s), {len(errors)} erreur(s).")
    if errors or not found:
        sys.exit(2)
