"""Domain modules never import Flask (dependencies point one way: web → domain → storage)."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
WEB_ONLY = {"__init__.py", "cli.py", "server.py"}


def domain_modules():
    for path in sorted(APP.rglob("*.py")):
        rel = path.relative_to(APP)
        if rel.parts[0] in ("web", "commands") or str(rel) in WEB_ONLY:
            continue
        yield path


def test_domain_modules_do_not_import_flask():
    offenders = []
    for path in domain_modules():
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(
                n.split(".")[0] in ("flask", "flask_htmx", "flask_wtf", "flask_limiter")
                for n in names
            ):
                offenders.append(str(path.relative_to(APP)))
    assert offenders == []


def test_there_are_domain_modules_to_check():
    names = {p.name for p in domain_modules()}
    assert {"auth.py", "audit.py", "schema.py"} <= names
