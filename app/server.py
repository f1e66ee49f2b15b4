"""The production server: gunicorn, one process with threads holding the spatial index once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def run_gunicorn(
    app: Flask,
    host: str,
    port: int,
    threads: int = 8,
    on_worker_start: Callable[[], Any] | None = None,
) -> None:
    """Run gunicorn in this process (gthread worker, one worker).

    ``on_worker_start`` runs in the worker once it is ready (after the fork: a thread started in
    the arbiter would not exist in the worker), e.g. the spatial index's background build.
    """
    hooks: dict[str, Any] = {}
    if on_worker_start is not None:
        hooks["post_worker_init"] = lambda _worker: on_worker_start()
    _Gunicorn(
        app,
        {
            **hooks,
            "bind": f"{host}:{port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": threads,
            "timeout": 60,
            "graceful_timeout": 20,
            "accesslog": "-",
            "errorlog": "-",
        },
    ).run()
