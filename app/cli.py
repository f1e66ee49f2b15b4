"""The `crisis-console` command: a thin layer over the domain modules.

Every command gets a :class:`~app.commands.context.Console` (settings, database, clock, playbook
library) built from ``app.config`` and ``app.db``; only ``serve`` builds the Flask app.
Exit codes: 0 ok, 1 a failure found (e.g. a broken audit chain), 2 bad usage or bad input.
"""

from __future__ import annotations

from typing import Any

import click

from .commands import access, addresses, catalogue, drills, events, ops, pcs, reports, users
from .commands.context import Console, bad_input
from .errors import DomainError


class Group(click.Group):
    """Map domain errors to exit code 2 with their message."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            bad_input(exc.message)


@click.group(cls=Group)
@click.version_option(package_name="crisis-console")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Console de crise — Caux Seine Agglomération."""
    console = ctx.obj = Console()
    ctx.call_on_close(console.close)


for command in (
    *users.COMMANDS,
    *catalogue.COMMANDS,
    *events.COMMANDS,
    *access.COMMANDS,
    *ops.COMMANDS,
    *drills.COMMANDS,
    *reports.COMMANDS,
    *pcs.COMMANDS,
    *addresses.COMMANDS,
):
    main.add_command(command)

if __name__ == "__main__":  # pragma: no cover
    main()
