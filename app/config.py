"""Settings, declared once as (name, default, help); each can be set by a CRISIS_* variable.

A test checks that every setting is documented in the README.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("DB", "instance/crisis.db", "Path of the SQLite database file."),
    Setting(
        "SECRET_KEY",
        "",
        "Secret for signing cookies and CSRF tokens. Empty: a random key is generated and kept in"
        " instance/secret_key (demo); set it in production.",
    ),
    Setting("PLAYBOOKS", str(PROJECT_DIR / "playbooks"), "Directory of the playbooks (YAML)."),
    Setting("DATA", str(PROJECT_DIR / "data"), "Directory of the demo territory (catalogue.yaml)."),
    Setting(
        "CHECKPOINT_KEY",
        "instance/checkpoint.key",
        "Ed25519 private key file signing audit checkpoints (kept outside the database).",
    ),
    Setting("CHECKPOINT_DIR", "instance/checkpoints", "Where signed checkpoints are written."),
    Setting("IDLE_TIMEOUT_MIN", 120, "Minutes without activity before a session ends."),
    Setting("ABSOLUTE_TIMEOUT_H", 12, "Hours after sign-in when a session ends (one shift)."),
    Setting(
        "LOGIN_MAX_FAILURES",
        5,
        "Failed sign-ins of one account from one address before it is locked there.",
    ),
    Setting(
        "LOGIN_ACCOUNT_MAX_FAILURES",
        20,
        "Failed sign-ins of one account from any address before it is locked everywhere.",
    ),
    Setting(
        "LOGIN_CLIENT_MAX_FAILURES",
        200,
        "Failed sign-ins from one address, whatever the account, before the address is locked"
        " (high: a whole shift may sign in behind one NAT).",
    ),
    Setting("LOCKOUT_MIN", 15, "Minutes an account or address stays locked."),
    Setting("RATELIMIT_STORAGE", "memory://", "Flask-Limiter storage URI (shared in production)."),
    Setting("PROXIES", 0, "Number of trusted reverse proxies in front (ProxyFix)."),
    Setting(
        "SECURE_COOKIES", "auto", "Secure cookies and HSTS: auto (when served over TLS), 1, 0."
    ),
    Setting("MAX_UPLOAD_MB", 50, "Largest dataset file accepted by the upload page."),
    Setting("SCHEDULER", "1", "Run the scheduler inside `serve` (behind a lock): 1 or 0."),
    Setting("THREADS", 8, "Threads of the single gunicorn worker started by `serve`."),
    Setting("BACKUP_DIR", "instance/backups", "Where scheduled backups are written."),
    Setting(
        "INDEX_FILES",
        "auto",
        "Layer files of the spatial index, memory-mapped at start so that a restarted server"
        " answers at once: `auto` (a directory beside the database, `<db>.index`), a directory,"
        " or `0` (none: every start builds from the database).",
    ),
    Setting(
        "REMOTE_CREDENTIALS",
        "instance/remote-credentials.yaml",
        "YAML file of the credentials for the owners' servers (datasets with a `remote:` block),"
        " kept outside the database; mode 0600.",
    ),
    Setting(
        "SMTP_HOST",
        "",
        "SMTP relay that delivers validated messages to partners. Empty: nothing is sent (each"
        " delivery is recorded as skipped).",
    ),
    Setting("SMTP_PORT", 587, "Port of the SMTP relay."),
    Setting("SMTP_USER", "", "User name for the relay (empty: no authentication)."),
    Setting("SMTP_PASSWORD", "", "Password for the relay (prefer SMTP_PASSWORD_FILE)."),
    Setting(
        "SMTP_PASSWORD_FILE", "", "File holding the relay's password (wins over SMTP_PASSWORD)."
    ),
    Setting("SMTP_FROM", "", "Sender address of the messages (required with SMTP_HOST)."),
    Setting("SMTP_STARTTLS", "1", "Upgrade the relay connection with STARTTLS: 1 or 0."),
    Setting(
        "REVIEW_DELAY_DAYS",
        14,
        "Days after an event's close within which each owner signs off its access review;"
        " later, the review is flagged to the owner's stewards and the directors.",
    ),
    Setting(
        "AGREEMENT_NOTICE_DAYS",
        30,
        "Days before an agreement's review date when its owner's stewards are reminded.",
    ),
    Setting("GRANT_WARNING_MIN", 15, "Minutes before a grant ends when its holder is warned."),
)


def from_environment(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Read every setting from CRISIS_<NAME>, falling back to its default, typed like it."""
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for s in SETTINGS:
        raw = env.get(f"CRISIS_{s.name}")
        if raw is None:
            out[s.name] = s.default
        elif isinstance(s.default, int) and not isinstance(s.default, bool):
            try:
                out[s.name] = int(raw)
            except ValueError as exc:
                raise SystemExit(f"CRISIS_{s.name} must be an integer, not {raw!r}") from exc
        else:
            out[s.name] = raw
    return out


def database_path(path: str) -> str:
    """The database path made absolute against the working directory (``:memory:`` kept)."""
    if path != ":memory:" and not Path(path).is_absolute():
        return str(Path.cwd() / path)
    return path


def index_files_dir(db_path: str, environ: dict[str, str] | None = None) -> str | None:
    """Where the spatial index keeps its layer files for ``db_path`` (None: not kept)."""
    value = str(from_environment(environ)["INDEX_FILES"]).strip()
    if db_path in ("", ":memory:") or value.lower() in ("0", "off", "no", "none", ""):
        return None
    if value == "auto":
        return db_path + ".index"
    return str(Path(database_path(value)) / Path(db_path).name)


def tune_reportlab() -> None:
    """Process-wide reportlab settings, for every PDF the process writes.

    reportlab ASCII85-encodes page streams in pure Python: a third of a dense map's time, for
    nothing (PDFs are binary-safe everywhere we send them).
    """
    import reportlab.rl_config

    reportlab.rl_config.useA85 = 0
