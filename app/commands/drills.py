"""`crisis-console drill rehearse SCENARIO OUT.pdf`: check a scenario before the day.

The scenario is played end to end on a simulated clock in a throw-away database (migrated, demo
accounts, demo territory when the data is there, else at least the Seveso sites): nobody
answers, so every backup inject fires; the after-action report is written to OUT.pdf.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from .. import auth, demo, drills, fr, schema
from ..clock import FixedClock, parse_iso
from ..db import connect
from ..playbooks import Library, PlaybookError, Scenario, load_scenario
from .context import Console, bad_input, pass_console

STEP_MIN = 1  # the rehearsal clock moves a minute at a time, like a sweep every minute
AFTER_LAST_MIN = 10  # keep playing this long after the last inject before ending


@click.group("drill")
def drill_group() -> None:
    """Drills (exercices)."""


def rehearse(
    scenario: Scenario,
    out: Path,
    data_dir: Path,
    library: Library,
    start: datetime | None = None,
    echo: Callable[[str], Any] = lambda _text: None,
) -> drills.AfterAction:
    """Play ``scenario`` with nobody answering in a temporary database; write the PDF."""
    playbooks = library.playbooks
    clock = FixedClock(start or datetime(2026, 1, 1, 9, 0, tzinfo=UTC))
    with tempfile.TemporaryDirectory(prefix="crisis-rehearsal-") as tmp:
        db = connect(Path(tmp) / "rehearsal.db")
        try:
            schema.migrate(db)
            demo.load_accounts(db, clock.now(), data_dir)
            if (data_dir / "catalogue.yaml").exists():
                echo("Chargement du territoire de démonstration…")
                demo.load_territory(db, clock.now(), data_dir)
            director = auth.get_user_by_login(db, "exercise")
            if director is None:  # pragma: no cover - the demo accounts include it
                raise click.ClickException("compte de démonstration « exercise » absent")
            drill = drills.start_drill(db, clock.now(), scenario, director, playbooks)
            last = max((i.offset_min for i in scenario.injects), default=0)
            scenarios = {scenario.id: scenario}
            finish = parse_iso(drill.started_at) + timedelta(minutes=last + AFTER_LAST_MIN)
            while clock.now() < finish:
                clock.advance(minutes=STEP_MIN)
                drills.sweep(db, clock.now(), scenarios, playbooks)
            drills.end(db, clock.now(), drill.event_id, director)
            report = drills.after_action(db, drill.event_id, scenario, clock.now())
            out.write_bytes(drills.after_action_pdf(report, clock.now()))
        finally:
            db.conn.close()
    return report


def _scenario(library: Library, given: str) -> Scenario:
    """The scenario ``given``: an installed scenario's id, or the path of a scenario file (a
    draft, checked against the installed playbooks exactly as an installed one)."""
    path = Path(given)
    if given.endswith((".yaml", ".yml")) or path.is_file() or "/" in given:
        if not path.is_file():
            bad_input(f"fichier de scénario introuvable : {path}")
        try:
            return load_scenario(path, library.playbooks)
        except PlaybookError as exc:
            bad_input(str(exc))
    scenario = library.scenario(given)
    if scenario is None:
        known = ", ".join(sorted(library.scenarios)) or "aucun"
        bad_input(
            f"scénario inconnu « {given} » (scénarios valides : {known} ; ou le chemin d'un"
            " fichier de scénario)."
        )
    return scenario


@drill_group.command("rehearse")
@click.argument("scenario_id", metavar="SCENARIO")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@pass_console
def drill_rehearse(console: Console, scenario_id: str, out: Path) -> None:
    """Play SCENARIO (an installed scenario's id, or a scenario file being drafted) end to end
    on a simulated clock, nobody answering; write the RETEX PDF."""
    library = console.library
    scenario = _scenario(library, scenario_id)
    if out.parent and not out.parent.exists():
        bad_input(f"dossier inexistant : {out.parent}")
    report = rehearse(scenario, out, Path(console.settings["DATA"]), library, echo=click.echo)
    fired = [i for i in report.injects if i.outcome == "fired"]
    click.echo(
        f"Répétition de « {scenario.title} » : {len(fired)}/{len(report.injects)} "
        + fr.plural(len(report.injects), "inject joué", "injects joués")
        + " (personne ne répond : toutes les relances partent)."
    )
    for i in report.injects:
        mark = "joué" if i.outcome == "fired" else "NON JOUÉ"
        click.echo(f"  H+{i.offset_min:>4} min  {mark:<9} {i.title}")
    click.echo(f"Rapport de fin d'exercice : {out}")


COMMANDS: tuple[click.Command, ...] = (drill_group,)
