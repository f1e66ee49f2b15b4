"""CLI commands by area; each module attaches its commands to app.cli.main."""
