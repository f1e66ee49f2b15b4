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

from .. import audit, config, playbooks
from ..clock import SystemClock
from ..db import connect


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

    @cached_property
    def db(self) -> sqlite_utils.Database:
        """The database connection of this invocation."""
        return connect(self.db_path)

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
