"""Domain modules never import Flask (dependencies point one way: web → domain → storage); the
command line builds no web app; an app reuses the process's playbook library."""

from __future__ import annotations

import ast
import subprocess
import sys
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


def test_the_command_line_does_not_build_the_web_app():
    """``crisis-console --help`` (and every command but ``serve``) imports no web framework."""
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from app.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'flask' or m == 'app.web'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=APP.parent, check=True
    )
    assert done.stdout.strip() == "[]"


def test_creating_an_app_does_not_parse_the_playbooks_again(tmp_path, base_template, monkeypatch):
    """The playbook library is built once per process (app.playbooks.library.cached)."""
    from app.playbooks import library
    from tests.conftest import make_app

    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    make_app(tmp_path / "first", base_template)
    parsed = []
    real_load = library.load
    monkeypatch.setattr(library, "load", lambda *a, **kw: parsed.append(a) or real_load(*a, **kw))
    second = make_app(tmp_path / "second", base_template)
    assert parsed == [] and second.extensions["library"].playbooks
