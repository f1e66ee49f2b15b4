"""The playbook library: the valid playbooks and scenarios of a directory, loaded once per process.

One owner (docs/architecture.md): the web app, the CLI and the scheduler each get the same
:class:`Library` from :func:`for_settings` and pass it down; nothing else reads the playbook
directory or the environment. The library of a directory is cached for the process and reloaded
only when a file of the directory (or the dataset list it is checked against) changed, so
creating an app (each test does) costs a few ``stat`` calls, not a parse.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from .. import schema
from ..catalogue_file import load_catalogue
from ..db import connect
from .files import PlaybookError, load_playbooks, load_scenarios
from .model import Playbook, Scenario

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Library:
    """The valid playbooks and scenarios of one directory, and the files refused."""

    directory: str
    playbooks: Mapping[str, Playbook] = field(default_factory=dict)
    scenarios: Mapping[str, Scenario] = field(default_factory=dict)
    errors: tuple[PlaybookError, ...] = ()
    known_datasets: frozenset[str] | None = None

    def playbook(self, kind: str) -> Playbook | None:
        """The playbook of an event kind, or None when it is not loaded (any more)."""
        return self.playbooks.get(kind)

    def scenario(self, scenario_id: str) -> Scenario | None:
        """A drill scenario by id, or None."""
        return self.scenarios.get(scenario_id)


def load(directory: str | Path, known_datasets: set[str] | frozenset[str] | None = None) -> Library:
    """Read and validate ``directory`` and ``directory/scenarios``; log every file refused."""
    folder = Path(directory)
    known = set(known_datasets) if known_datasets is not None else None
    playbooks, errors = load_playbooks(folder, known_datasets=known)
    scenarios, scenario_errors = load_scenarios(folder / "scenarios", playbooks)
    if not (folder / "scenarios").is_dir():
        scenario_errors = []  # a library without drills is a normal library
    for error in [*errors, *scenario_errors]:
        log.error("playbook refused: %s", error)
    log.info("playbooks loaded: %d (%s)", len(playbooks), ", ".join(sorted(playbooks)))
    return Library(
        directory=str(folder),
        playbooks=playbooks,
        scenarios=scenarios,
        errors=(*errors, *scenario_errors),
        known_datasets=frozenset(known) if known is not None else None,
    )


def known_datasets(
    db: sqlite_utils.Database | None, data_dir: str | Path | None
) -> frozenset[str] | None:
    """Dataset slugs playbooks may name: ``catalogue.yaml`` if present, else the datasets table.

    None (no check) when neither knows any dataset, so that a fresh database does not turn every
    playbook into an error.
    """
    if data_dir:
        catalogue = Path(data_dir) / "catalogue.yaml"
        if catalogue.exists():
            slugs = _catalogue_slugs(str(catalogue), catalogue.stat().st_mtime_ns)
            if slugs:
                return slugs
    if db is not None and "datasets" in db.table_names():
        found = frozenset(r[0] for r in db.execute("SELECT slug FROM datasets").fetchall())
        if found:
            return found
    return None


_lock = threading.Lock()
_slugs: dict[tuple[str, int], frozenset[str]] = {}
_libraries: dict[tuple[Any, ...], Library] = {}


def _catalogue_slugs(path: str, mtime_ns: int) -> frozenset[str]:
    with _lock:
        found = _slugs.get((path, mtime_ns))
    if found is None:
        found = frozenset(load_catalogue(path).slugs)
        with _lock:
            _slugs[(path, mtime_ns)] = found
    return found


def _fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("scenarios/*.yaml")]):
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(out)


def cached(directory: str | Path, known: frozenset[str] | None) -> Library:
    """The library of ``directory`` checked against ``known``: loaded once, reloaded on change."""
    folder = Path(directory).resolve()
    key = (str(folder), _fingerprint(folder), known)
    with _lock:
        found = _libraries.get(key)
    if found is None:
        found = load(folder, known)
        with _lock:
            _libraries[key] = found
            while len(_libraries) > 8:  # tests use a few directories; a server one
                _libraries.pop(next(iter(_libraries)))
    return found


def known_for(
    settings: Mapping[str, Any], db: sqlite_utils.Database | None = None
) -> frozenset[str] | None:
    """The dataset slugs of the settings: ``DATA``'s catalogue, else the datasets of ``db`` (or
    of the ``DB`` file, opened only when the catalogue knows none and the file exists)."""
    known = known_datasets(None, settings.get("DATA"))
    if known is not None:
        return known
    if db is not None:
        return known_datasets(db, None)
    path = str(settings.get("DB") or "")
    if path in ("", ":memory:") or schema.not_initialised(path):
        return None  # never open (nor create, nor convert to WAL) what is not a console database
    opened = connect(path)
    try:
        return known_datasets(opened, None)
    finally:
        opened.conn.close()


def for_settings(settings: Mapping[str, Any], db: sqlite_utils.Database | None = None) -> Library:
    """The process's library for the settings (``PLAYBOOKS``, checked against :func:`known_for`)."""
    return cached(settings["PLAYBOOKS"], known_for(settings, db))
