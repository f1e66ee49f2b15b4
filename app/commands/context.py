"""What every command is given: the settings, the database, the clock, the playbook library.

Like sqlite-utils' commands build a ``Database``, ours build these objects from ``app.config``
and ``app.db.connect`` only: no command but ``serve`` builds the Flask app.
"""

from __future__ import annotations

import sys
from datetime import datetime
from functools import cached_property
from typing import Any, NoReturn

import click
import sqlite_utils

from .. import audit, config, playbooks, schema
from ..clock import SystemClock
from ..db import connect

NOT_INITIALISED = "base non initialisée : lancez `crisis-console init`"


def bad_input(message: str) -> NoReturn:
    """Print a clear message and exit 2."""
    click.echo(f"Erreur : {message}", err=True)
    sys.exit(2)


class Console:
    """The command line's context object (``ctx.obj``): built once per invocation."""

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        self.settings = settings if settings is not None else config.from_environment()
        self.settings["DB"] = config.database_path(str(self.settings["DB"]))
        self.clock = SystemClock()
        config.tune_reportlab()

    @property
    def db_path(self) -> str:
        return str(self.settings["DB"])

    def initialised(self) -> bool:
        """Whether ``CRISIS_DB`` holds an initialised console database (nothing is created)."""
        return not schema.not_initialised(self.db_path)

    def require_initialised(self) -> None:
        """Exit 2 with "base non initialisée : lancez `crisis-console init`" unless the path
        holds an initialised console database; never creates the file."""
        problem = schema.not_initialised(self.db_path)
        if problem:
            bad_input(f"{NOT_INITIALISED} ({problem}).")

    @cached_property
    def db(self) -> sqlite_utils.Database:
        """The database connection of this invocation: an initialised console database only
        (``init`` alone creates one, through :meth:`create_db`)."""
        self.require_initialised()
        return connect(self.db_path)

    def create_db(self) -> sqlite_utils.Database:
        """The connection ``init`` creates or upgrades; refuses a file that is not a database
        (a directory, a text file, another application's SQLite file)."""
        problem = schema.foreign(self.db_path)
        if problem:
            bad_input(f"impossible d'initialiser : {problem}.")
        db = connect(self.db_path)
        self.__dict__["db"] = db
        return db

    def now(self) -> datetime:
        return self.clock.now()

    @cached_property
    def library(self) -> playbooks.Library:
        """The playbook library, checked against the catalogue (else the database's datasets)."""
        return playbooks.for_settings(self.settings)

    @cached_property
    def signer(self) -> audit.Signer:
        """Who signs audit checkpoints: the configured key, into the configured directory."""
        return audit.Signer(self.settings["CHECKPOINT_KEY"], self.settings["CHECKPOINT_DIR"])

    def close(self) -> None:
        """Close the connection, if one was opened (a later ``db`` opens a new one)."""
        db = self.__dict__.pop("db", None)
        if db is not None:
            db.conn.close()


pass_console = click.make_pass_decorator(Console)
