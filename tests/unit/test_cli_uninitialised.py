"""Every command on a path that holds no initialised console database (issue 13, item 7).

The commands are walked from the CLI itself (a new command is tested without editing this file):
each answers "base non initialisée : lancez `crisis-console init`" (exit 2) and creates nothing,
except ``init`` (which creates the database) and the commands that need none.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from app.cli import main
from app.commands.context import NOT_INITIALISED

# Commands that do not need the console's database: they must still never create it.
NO_DATABASE = {"drill rehearse", "playbooks check", "restore"}


def leaves(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from leaves(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def arguments(command: click.Command, tmp: Path) -> list[str]:
    """Placeholder arguments that pass click's own checks."""
    given = tmp / "given.txt"
    given.write_text("x\n")
    args: list[str] = []
    for param in command.params:
        if isinstance(param, click.Option):
            if not param.required:
                continue
            value = param.type.choices[0] if isinstance(param.type, click.Choice) else "x"
            args += [param.opts[0], str(value)]
        elif param.required:
            if isinstance(param.type, click.types.IntParamType):
                args.append("1")
            elif isinstance(param.type, click.Path):
                args.append(str(given if param.name in ("file",) else tmp / "out.pdf"))
            else:
                args.append("x")
    return args


def states(tmp: Path) -> dict[str, Path]:
    """A missing path, an empty file, a text file, another application's SQLite database."""
    empty = tmp / "empty.db"
    empty.write_bytes(b"")
    text = tmp / "notes.db"
    text.write_text("pas une base\n")
    other = tmp / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE things (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    return {"missing": tmp / "missing" / "crisis.db", "empty": empty, "text": text, "other": other}


COMMANDS = [name for name, _ in leaves(main)]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_refuses_a_path_without_a_console_database(name: str, tmp_path: Path) -> None:
    """Guards item 7: no traceback (``audit checkpoint`` printed one), exit 2, nothing created."""
    command = dict(leaves(main))[name]
    runner = CliRunner()
    for state, path in states(tmp_path).items():
        before = path.read_bytes() if path.exists() else None
        env = {
            "CRISIS_DB": str(path),
            "CRISIS_CHECKPOINT_KEY": str(tmp_path / "k" / "checkpoint.key"),
            "CRISIS_CHECKPOINT_DIR": str(tmp_path / "k" / "checkpoints"),
            "CRISIS_BACKUP_DIR": str(tmp_path / "k" / "backups"),
        }
        if name == "init":
            continue  # below
        args = [*name.split(), *arguments(command, tmp_path)]
        result = runner.invoke(main, args, env=env, input="x\n")
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            name,
            state,
            result.output,
        )
        if name not in NO_DATABASE:
            assert result.exit_code == 2, (name, state, result.output)
            assert NOT_INITIALISED in result.output, (name, state, result.output)
        assert (path.read_bytes() if path.exists() else None) == before, (name, state)
        assert not (tmp_path / "k").exists(), (name, state)  # no key, checkpoint, backup made


def test_init_creates_a_database_where_there_is_none_and_refuses_a_foreign_file(
    tmp_path: Path,
) -> None:
    """``init`` is the one command that creates; it refuses a file it would damage."""
    runner = CliRunner()
    paths = states(tmp_path)
    for state in ("missing", "empty"):
        result = runner.invoke(main, ["init"], env={"CRISIS_DB": str(paths[state])})
        assert result.exit_code == 0, result.output
        ok = runner.invoke(main, ["audit", "head"], env={"CRISIS_DB": str(paths[state])})
        assert ok.exit_code == 0, ok.output
    for state in ("text", "other"):
        before = paths[state].read_bytes()
        result = runner.invoke(main, ["init"], env={"CRISIS_DB": str(paths[state])})
        assert result.exit_code == 2 and "impossible d'initialiser" in result.output
        assert paths[state].read_bytes() == before
