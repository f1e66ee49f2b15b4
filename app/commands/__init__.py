"""CLI commands by area (``app.cli`` adds each one to ``crisis-console``); shared helpers in
``context``."""
