"""The audit log: append-only, hash-chained, verifiable.

``hash_n = sha256(bytes(hash_{n-1}) || 0x00 || canonical_json(record_n))``; the genesis
``prev_hash`` is 64 zeros. Triggers refuse UPDATE and DELETE (they stop bugs, not attackers);
signed checkpoints kept outside the database catch a rewrite or a truncated tail.

The chain also proves the content of the records that matter (the main courante, the checklist,
zones, parameters, reports, messages): the *content kinds* registered below. Every row of such a
kind that a unit of work inserts or changes is noted on the connection (temporary triggers, so a
row written by anything but the console is not), and the audit record of that unit of work
carries the SHA-256 of its canonical content (``details.content``); :func:`verify` recomputes
them from the rows and names what differs, is missing or was added outside the console.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import sqlite_utils
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import db as storage
from . import fr, live
from .clock import iso
from .db import transaction

GENESIS = "0" * 64

RECORD_FIELDS = ("seq", "at", "actor", "action", "object_type", "object_id", "event_id", "details")


def canonical(record: dict[str, Any]) -> bytes:
    """Canonical JSON of a record: sorted keys, no spaces, UTF-8."""
    body = {k: record[k] for k in RECORD_FIELDS}
    if isinstance(body["details"], str):
        body["details"] = json.loads(body["details"])
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, record: dict[str, Any]) -> str:
    """The hash of a record chained to its predecessor's hash."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + b"\x00" + canonical(record)).hexdigest()


def head(db: sqlite_utils.Database) -> tuple[int, str]:
    """The last record's sequence number and hash ((0, GENESIS) when empty)."""
    cur = db.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    return (cur[0], cur[1]) if cur else (0, GENESIS)


def append(
    db: sqlite_utils.Database,
    now: datetime,
    action: str,
    *,
    actor: str | None = None,
    object_type: str | None = None,
    object_id: Any = None,
    event_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Append one record; must run inside the transaction of the change it records.

    The record carries the content hashes of the rows of registered kinds that this unit of work
    wrote (``details["content"]``, see :data:`CONTENT_KINDS`).

    When the action changes what a view of the event shows (``live.PARTS``), the event's state
    version is bumped in the same transaction.
    """
    if not db.conn.in_transaction:
        raise RuntimeError("audit.append must run inside the transaction of the change")
    db._audit_now = now  # type: ignore[attr-defined]
    _seal_older_rows(db, now)
    body = dict(details or {})
    content = _pending_content(db)
    if content:
        body["content"] = content
    return _write(db, now, action, actor, object_type, object_id, event_id, body)


def _write(
    db: sqlite_utils.Database,
    now: datetime,
    action: str,
    actor: str | None,
    object_type: str | None,
    object_id: Any,
    event_id: int | None,
    details: dict[str, Any],
) -> int:
    seq, prev = head(db)
    record: dict[str, Any] = {
        "seq": seq + 1,
        "at": iso(now),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "event_id": event_id,
        "details": details,
    }
    digest = chain_hash(prev, record)
    db.execute(
        "INSERT INTO audit_log (seq, at, actor, action, object_type, object_id, event_id,"
        " details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            record["seq"],
            record["at"],
            actor,
            action,
            object_type,
            record["object_id"],
            event_id,
            json.dumps(record["details"], sort_keys=True, ensure_ascii=False),
            prev,
            digest,
        ),
    )
    # The event's live state moves in the same transaction when a view shows this change.
    live.bump(db, now, event_id, action, actor)
    return int(record["seq"])


# --- sealed rows -----------------------------------------------------------------------------
# A record may seal rows it is about (``details["seals"]``): the SHA-256 of their canonical
# content (the named columns; a BLOB by its own SHA-256). ``verify`` reads each sealed row again
# and names the record whose row changed or vanished: a verdict edited on a copy of the database
# is caught although the chain itself is intact.

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def _row_digest(values: dict[str, Any]) -> str:
    body = {
        k: hashlib.sha256(v).hexdigest() if isinstance(v, bytes) else v for k, v in values.items()
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _sealed_row(
    db: sqlite_utils.Database, table: str, key: str, ident: Any, fields: list[str]
) -> dict[str, Any] | None:
    names = [table, key, *fields]
    if not all(isinstance(n, str) and _NAME.match(n) for n in names):
        raise ValueError("bad seal")
    cols = ", ".join(fields)
    cur = db.execute(f"SELECT {cols} FROM {table} WHERE {key} = ?", [ident]).fetchone()
    return None if cur is None else dict(zip(fields, cur, strict=True))


def seal(
    db: sqlite_utils.Database,
    table: str,
    ident: Any,
    fields: tuple[str, ...],
    label: str,
    *,
    key: str = "id",
) -> dict[str, Any]:
    """The seal of one row, for ``details["seals"]`` of the record that writes it (same
    transaction): table, key, columns, a French label naming the row, and its digest."""
    found = _sealed_row(db, table, key, ident, list(fields))
    if found is None:
        raise ValueError(f"no row {table}.{key} = {ident!r} to seal")
    return {
        "table": table, "key": key, "id": ident, "fields": list(fields), "label": label,
        "sha256": _row_digest(found),
    }  # fmt: skip


def check_seals(db: sqlite_utils.Database) -> tuple[int, str] | None:
    """The first record whose sealed row changed or vanished: (seq, problem in French)."""
    for seq, raw in db.execute(
        "SELECT seq, details FROM audit_log WHERE json_extract(details, '$.seals') IS NOT NULL"
        " ORDER BY seq"
    ).fetchall():
        for item in json.loads(raw).get("seals") or ():
            label = str(item.get("label") or item.get("table"))
            try:
                found = _sealed_row(db, item["table"], item["key"], item["id"], item["fields"])
            except (KeyError, TypeError, ValueError, sqlite3.Error):
                return seq, f"{label} : scellé illisible"
            if found is None:
                return seq, f"{label} : supprimé après son enregistrement"
            if _row_digest(found) != item.get("sha256"):
                return seq, f"{label} : modifié après son enregistrement (empreinte différente)"
    return None


# --- content kinds: the rows the chain proves ---------------------------------------------------


@dataclass(frozen=True)
class ContentKind:
    """A kind of row whose content the audit chain proves (a main-courante entry, a report…).

    ``fields`` are the columns of its canonical content; ``label`` names one row in French from
    its id and its ``ref`` values (copied into each seal, so that a deleted row is still named);
    ``gender`` (``f``, ``m``, ``fp``, ``mp``) agrees the words "modifiée", "supprimés"… A
    ``mutable`` row (a checklist item) may change through the console: its latest seal must match,
    and ``watch`` lists the columns whose change reseals it (all when empty). An append-only row
    must match its first seal. ``blob`` is a column of bytes (a PDF) hashed on its own, so that a
    replaced file is named as such (``blob_name``). ``lost`` names a ref that was true when sealed
    and is false now ("coche supprimée"). ``ref_sql`` computes a ref over the row ``t``.
    """

    kind: str
    table: str
    fields: tuple[str, ...]
    label: str
    gender: str = "f"
    id_column: str = "id"
    ref: tuple[str, ...] = ("event_id",)
    ref_sql: tuple[tuple[str, str], ...] = ()
    event_ref: str = "event_id"
    mutable: bool = False
    watch: tuple[str, ...] = ()
    blob: str | None = None
    blob_name: str = ""
    lost: tuple[tuple[str, str], ...] = ()

    def select(self, where: str = "") -> str:
        """The SQL reading rows of this kind (``_id``, fields, refs, ``_blob``)."""
        cols = [f"t.{self.id_column} AS _id"]
        names = dict.fromkeys(
            (*self.fields, *self.ref, *([self.event_ref] if self.event_ref else []))
        )
        computed = {name for name, _ in self.ref_sql}
        cols += [f"t.{name} AS {name}" for name in names if name not in computed | {"id"}]
        cols += [f"{sql} AS {name}" for name, sql in self.ref_sql]
        if self.blob:
            cols.append(f"t.{self.blob} AS _blob")
        return f"SELECT {', '.join(cols)} FROM {self.table} t{where}"

    def seal(self, r: dict[str, Any]) -> dict[str, Any]:
        """The seal of one row: kind, id, SHA-256 of its canonical content, refs."""
        body = {"id": r["_id"], **{f: r[f] for f in self.fields}}
        canonical_body = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(self.kind.encode() + b"\x00" + canonical_body.encode())
        item: dict[str, Any] = {"kind": self.kind, "id": r["_id"], "sha256": digest.hexdigest()}
        if self.blob:
            item["blob_sha256"] = hashlib.sha256(r["_blob"] or b"").hexdigest()
        for name in (*self.ref, *(n for n, _ in self.ref_sql)):
            item[name] = r[name]
        return item

    def event_of(self, r: dict[str, Any]) -> int | None:
        if not self.event_ref:
            return None
        value = r["_id"] if self.event_ref == "id" else r.get(self.event_ref)
        return None if value is None else int(value)

    def name(self, ident: Any, refs: dict[str, Any]) -> str:
        """The French name of one row (``entrée n° 9 de la main courante de l'événement 3``)."""
        values = {k: ("?" if v is None else v) for k, v in refs.items()}
        values["id"] = ident
        return self.label.format_map(_Missing(values))

    def agree(self, word: str) -> str:
        """``modifié`` agreed with the kind's gender: modifiée, modifiés…"""
        return (
            word
            + ("e" if self.gender.startswith("f") else "")
            + ("s" if self.gender.endswith("p") else "")
        )


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


CONTENT_KINDS: dict[str, ContentKind] = {}
"""Every content kind, by name, in registration order. A new kind is one :func:`register` line."""


def register(kind: ContentKind) -> ContentKind:
    """Add a content kind: its rows are sealed by the next audit record and verified."""
    CONTENT_KINDS[kind.kind] = kind
    return kind


_EVENT_FIELDS = (
    "kind", "title", "is_drill", "level", "status", "declared_by", "declared_at", "closed_by",
    "closed_at", "closing_statement", "site_fid", "lon", "lat", "place", "report_cadence_min",
)  # fmt: skip
register(ContentKind(
    "log_entry", "log_entries",
    ("event_id", "fact_at", "recorded_at", "author_id", "author_name", "category", "text",
     "corrects_id", "is_inject", "is_system"),
    "entrée n° {id} de la main courante de l'événement {event_id}",
))  # fmt: skip
register(ContentKind(
    "checklist_item", "checklist_items",
    ("event_id", "item_key", "position", "title", "role", "due_at", "done_by", "done_at", "note"),
    "action « {title} » de la liste de l'événement {event_id}",
    ref=("event_id", "title"), ref_sql=(("done", "t.done_at IS NOT NULL"),), mutable=True,
    lost=(("done", "coche supprimée"),),
))  # fmt: skip
register(ContentKind(
    "zones", "event_zones", ("event_id", "version", "computed_at", "params", "geojson"),
    "zones v{version} de l'événement {event_id}", gender="fp", ref=("event_id", "version"),
))  # fmt: skip
register(ContentKind(
    "event", "events", _EVENT_FIELDS, "fiche de l'événement {id}", ref=(), event_ref="id",
    mutable=True, watch=_EVENT_FIELDS,
))  # fmt: skip
register(ContentKind(
    "event_params", "events", ("params",), "paramètres de l'événement {id}", gender="mp",
    ref=(), event_ref="id", mutable=True, watch=("params",),
))  # fmt: skip
register(ContentKind(
    "report", "reports",
    ("event_id", "number", "trigger", "generated_at", "due_at", "author", "sha256", "audit_seq",
     "audit_hash", "classification"),
    "PS n°{number} de l'événement {event_id}", gender="m", ref=("event_id", "number"),
    blob="pdf", blob_name="PDF",
))  # fmt: skip
register(ContentKind(
    "message", "messages",
    ("event_id", "kind", "template", "status", "is_drill", "subject", "fields", "recipients",
     "report_id", "author_id", "editors", "created_at", "updated_at", "validated_by",
     "validated_at", "emitted_by", "emitted_at", "cancelled_by", "cancelled_at", "cancel_reason"),
    "message n° {id} de l'événement {event_id}", gender="m", mutable=True,
))  # fmt: skip
register(ContentKind(
    "message_content", "message_contents",
    ("created_at", "msg_type", "identifier", "refs", "sent", "zones_version", "level",
     "media_type", "filename", "sha256", "recipients"),
    "message n° {id} de l'événement {event_id}", gender="m", id_column="message_id", ref=(),
    ref_sql=(("event_id", "(SELECT m.event_id FROM messages m WHERE m.id = t.message_id)"),),
    blob="body", blob_name="contenu émis",
))  # fmt: skip

register(ContentKind(
    "checkpoint_delivery", "checkpoint_deliveries",
    ("checkpoint_id", "org_id", "seq", "created_at", "body"),
    "point de contrôle n° {seq} remis à l'organisation {org_id}", gender="m",
    ref=("org_id", "seq"), event_ref="",
))  # fmt: skip

# Running the response (app.pcs): its append-only histories and the two registers it edits.
_PCS = ("event_id", "note", "at", "actor_id", "actor_name")
register(ContentKind("callout_change", "callout_changes", (*_PCS, "contact_id", "status", "log_entry_id"), "changement n° {id} de la liste d'appel de l'événement {event_id}", gender="m"))  # fmt: skip  # noqa: E501
register(ContentKind("call_change", "call_changes", (*_PCS, "person_id", "status", "assignee_id", "change"), "statut d'appel n° {id} de l'événement {event_id}", gender="m"))  # fmt: skip  # noqa: E501
register(ContentKind("centre_change", "centre_changes", (*_PCS, "centre_id", "name", "capacity", "is_open", "occupancy", "arrived", "change", "delta", "fact_at", "log_entry_id"), "changement n° {id} d'un centre d'accueil de l'événement {event_id}", gender="m"))  # fmt: skip  # noqa: E501
register(ContentKind("means_change", "means_changes", (*_PCS, "means_id", "status", "place", "log_entry_id"), "changement n° {id} d'un moyen de l'événement {event_id}", gender="m"))  # fmt: skip  # noqa: E501
register(ContentKind("task", "tasks", ("event_id", "checklist_item_id", "created_at", "created_by"), "tâche n° {id} de l'événement {event_id}"))  # fmt: skip  # noqa: E501
register(ContentKind("task_change", "task_changes", (*_PCS, "task_id", "title", "assignee_role", "assignee_id", "due_at", "status", "log_entry_id"), "changement n° {id} d'une tâche de l'événement {event_id}", gender="m"))  # fmt: skip  # noqa: E501
register(ContentKind("contact", "contacts", ("name", "organisation", "function", "phones", "email", "oncall", "source", "key", "created_at", "updated_at", "archived_at"), "fiche n° {id} de l'annuaire de crise", ref=(), event_ref="", mutable=True))  # fmt: skip  # noqa: E501
register(ContentKind("means", "means", ("name", "kind", "organisation", "capacity", "commune", "source", "created_at", "archived_at"), "moyen n° {id} du registre", gender="m", ref=(), event_ref="", mutable=True))  # fmt: skip  # noqa: E501

SEALED = "audit.content_sealed"
"""The record that starts covering kinds: it lists them (``kinds``), after the records sealing
the rows written before (``audit.rows_sealed``, one per event): see :func:`_seal_older_rows`."""
ROWS_SEALED = "audit.rows_sealed"
PENDING = "temp.audit_pending"


def _tables(db: sqlite_utils.Database) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")}


def track(db: sqlite_utils.Database) -> None:
    """Note on this connection every row of a content kind inserted or changed (run by
    ``db.transaction`` before each unit of work; cheap once every kind's table exists).

    Temporary triggers live in the connection only: a row written by another program (a
    ``sqlite3`` shell) is not noted, so it is never sealed and :func:`verify` names it.
    """
    if getattr(db, "_audit_tracked", False):
        return
    tables = _tables(db)
    if "audit_log" not in tables:
        return
    db.conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {PENDING.split('.')[1]}"
        " (kind TEXT NOT NULL, id NOT NULL, PRIMARY KEY (kind, id))"
    )
    complete = True
    for kind in CONTENT_KINDS.values():
        if kind.table not in tables:
            complete = False
            continue
        note = f"INSERT OR IGNORE INTO audit_pending VALUES ('{kind.kind}', NEW.{kind.id_column})"
        on = f"ON main.{kind.table} BEGIN {note}; END"
        db.conn.execute(
            f"CREATE TEMP TRIGGER IF NOT EXISTS audit_track_{kind.kind}_i AFTER INSERT {on}"
        )
        if kind.mutable:
            of = f" OF {', '.join(kind.watch)}" if kind.watch else ""
            db.conn.execute(
                f"CREATE TEMP TRIGGER IF NOT EXISTS audit_track_{kind.kind}_u AFTER UPDATE{of} {on}"
            )
    db._audit_tracked = complete  # type: ignore[attr-defined]
    db._audit_pending = True  # type: ignore[attr-defined]


def _seal_leftovers(db: sqlite_utils.Database) -> None:
    """At commit: rows of content kinds written after the unit of work's last audit record (or
    in a unit of work with none) are sealed by one ``audit.rows_sealed`` record, so nothing the
    console writes escapes the chain. Code should write its record after its rows."""
    if not getattr(db, "_audit_pending", False):
        return
    if db.execute(f"SELECT 1 FROM {PENDING} LIMIT 1").fetchone() is None:
        return
    now = getattr(db, "_audit_now", None) or datetime.now(UTC)
    _seal_older_rows(db, now)
    content = _pending_content(db)
    if content:
        events = {_event_of_seal(c) for c in content}
        event_id = next(iter(events)) if len(events) == 1 else None
        details = {"content": content, "reason": "écrit après le dernier enregistrement"}
        _write(db, now, ROWS_SEALED, "system", None, None, event_id, details)


storage.BEFORE_WRITE.append(track)
storage.BEFORE_COMMIT.append(_seal_leftovers)


def _pending_content(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """The seals of the rows this unit of work wrote, in kind order (then forgotten)."""
    if not getattr(db, "_audit_pending", False):
        return []
    noted = db.execute(f"SELECT kind, id FROM {PENDING}").fetchall()
    if not noted:
        return []
    db.execute(f"DELETE FROM {PENDING}")
    order = list(CONTENT_KINDS)
    out = []
    for name, ident in sorted(noted, key=lambda n: (order.index(n[0]), n[1])):
        kind = CONTENT_KINDS[name]
        found = storage.row(db, kind.select(f" WHERE t.{kind.id_column} = ?"), [ident])
        if found is not None:
            out.append(kind.seal(found))
    return out


def _event_of_seal(item: dict[str, Any]) -> int | None:
    kind = CONTENT_KINDS[item["kind"]]
    if not kind.event_ref:
        return None
    value = item["id"] if kind.event_ref == "id" else item.get(kind.event_ref)
    return None if value is None else int(value)


def _listed_kinds(db: sqlite_utils.Database) -> set[str]:
    listed: set[str] = set()
    for (kinds,) in db.execute(
        "SELECT json_extract(details, '$.kinds') FROM audit_log WHERE action = ?", [SEALED]
    ).fetchall():
        listed.update(json.loads(kinds or "[]"))
    return listed


def _seal_older_rows(db: sqlite_utils.Database, now: datetime) -> None:
    """Once per database: seal the rows written before their kind was covered (an upgrade).

    A kind starts being covered with a :data:`SEALED` record listing it, written at the first
    audit record after the kind was registered (at once for a new database, with no row to seal);
    the rows already there are sealed as they stand then, one ``audit.rows_sealed`` record per
    event. From then on :func:`verify` treats an unsealed row of the kind as added outside the
    console. Rows written in the current unit of work are left to its own record.
    """
    if getattr(db, "_audit_sealed", False):
        return
    tables = _tables(db)
    listed = _listed_kinds(db)
    todo = [k for k in CONTENT_KINDS.values() if k.kind not in listed and k.table in tables]
    if todo:
        pending: set[tuple[str, Any]] = set()
        if getattr(db, "_audit_pending", False):
            pending = {(k, i) for k, i in db.execute(f"SELECT kind, id FROM {PENDING}")}
        groups: dict[int | None, list[dict[str, Any]]] = {}
        for kind in todo:
            for r in db.query(kind.select()):
                if (kind.kind, r["_id"]) not in pending:
                    groups.setdefault(kind.event_of(r), []).append(kind.seal(r))
        for event_id in sorted(groups, key=lambda e: (e is None, e or 0)):
            _write(db, now, ROWS_SEALED, "system", None, None, event_id,
                   {"content": groups[event_id]})  # fmt: skip
        _write(
            db, now, SEALED, "system", None, None, None,
            {"kinds": [k.kind for k in todo], "rows": sum(len(g) for g in groups.values())},
        )  # fmt: skip
    db._audit_sealed = all(k.table in tables for k in CONTENT_KINDS.values())  # type: ignore[attr-defined]


# --- signed checkpoints ----------------------------------------------------------------------

ORIGIN = "crisis-console/audit"


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement "the log had ``seq`` records and its head hash was ``hash``".

    In the spirit of C2SP tlog-checkpoint: the signed body is ``origin``, size and head hash (plus
    time and reason), one per line. Copies kept outside the database witness the log's state.
    """

    origin: str
    seq: int
    hash: str
    signed_at: str
    reason: str
    key_id: str
    public_key: str  # base64 of the raw Ed25519 public key
    signature: str  # base64 of the Ed25519 signature over body()

    def body(self) -> bytes:
        """The exact bytes that are signed."""
        return f"{self.origin}\n{self.seq}\n{self.hash}\n{self.signed_at}\n{self.reason}\n".encode()

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        """Parse a checkpoint file; ValueError when it is not one."""
        try:
            doc = json.loads(text)
            return cls(
                origin=str(doc["origin"]),
                seq=int(doc["seq"]),
                hash=str(doc["hash"]),
                signed_at=str(doc["signed_at"]),
                reason=str(doc["reason"]),
                key_id=str(doc["key_id"]),
                public_key=str(doc["public_key"]),
                signature=str(doc["signature"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a checkpoint file: {exc}") from exc

    @classmethod
    def from_file(cls, path: str | Path) -> Checkpoint:
        return cls.from_json(Path(path).read_text("utf-8"))


def _raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key."""
    return hashlib.sha256(_raw_public(public)).hexdigest()[:16]


def load_or_create_key(path: str | Path) -> Ed25519PrivateKey:
    """The checkpoint signing key, created on first use (mode 0600) outside the database."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            public_pem = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            Path(str(path) + ".pub").write_bytes(public_pem)
            return key
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return loaded


def trusted_public_key(key_path: str | Path) -> Ed25519PublicKey | None:
    """The public half of the configured key (from the key file or its .pub), if present."""
    path = Path(key_path)
    pub = Path(str(path) + ".pub")
    if path.exists():
        return load_or_create_key(path).public_key()
    if pub.exists():
        loaded = serialization.load_pem_public_key(pub.read_bytes())
        if isinstance(loaded, Ed25519PublicKey):
            return loaded
    return None


def checkpoint(
    db: sqlite_utils.Database,
    now: datetime,
    key_path: str | Path,
    directory: str | Path,
    reason: str,
) -> tuple[Checkpoint, Path]:
    """Sign the current head, store it in ``audit_checkpoints`` and write it to a file.

    Called at each event close, each report and on a schedule. Returns the checkpoint and its file.
    """
    key = load_or_create_key(key_path)
    public = key.public_key()
    with transaction(db):
        seq, digest = head(db)
        unsigned = Checkpoint(
            origin=ORIGIN,
            seq=seq,
            hash=digest,
            signed_at=iso(now),
            reason=reason[:200],
            key_id=key_id(public),
            public_key=base64.b64encode(_raw_public(public)).decode(),
            signature="",
        )
        signed = Checkpoint(
            **{
                **asdict(unsigned),
                "signature": base64.b64encode(key.sign(unsigned.body())).decode(),
            }
        )
        db.execute(
            "INSERT INTO audit_checkpoints (seq, hash, signed_at, reason, key_id, signature)"
            " VALUES (?,?,?,?,?,?)",
            [
                signed.seq,
                signed.hash,
                signed.signed_at,
                signed.reason,
                signed.key_id,
                signed.signature,
            ],
        )
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    stamp = signed.signed_at.replace(":", "").replace("-", "")
    path = out / f"checkpoint-{signed.seq:09d}-{stamp}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(signed.to_json(), "utf-8")
    tmp.replace(path)
    return signed, path


@dataclass(frozen=True)
class Signer:
    """Who signs checkpoints: the Ed25519 key file and the directory of the checkpoint files.

    Built once from the settings (``CHECKPOINT_KEY``, ``CHECKPOINT_DIR``) by the web app, the CLI
    and the scheduler, and handed to whatever signs (a report, an event's closure, a sweep).
    """

    key_path: str | Path
    directory: str | Path

    def sign(
        self, db: sqlite_utils.Database, now: datetime, reason: str
    ) -> tuple[Checkpoint, Path]:
        """Sign the current head (:func:`checkpoint`)."""
        return checkpoint(db, now, self.key_path, self.directory, reason)

    def public_key(self) -> Ed25519PublicKey | None:
        """The trusted public key (:func:`trusted_public_key`)."""
        return trusted_public_key(self.key_path)

    def latest_file(self) -> Path | None:
        """The newest checkpoint file written (:func:`latest_checkpoint_file`)."""
        return latest_checkpoint_file(self.directory)


def latest_checkpoint_file(directory: str | Path) -> Path | None:
    """The newest checkpoint file in a directory (by sequence number, then time), if any."""
    d = Path(directory)
    if not d.is_dir():
        return None
    files = sorted(d.glob("checkpoint-*.json"))
    return files[-1] if files else None


def last_checkpoint(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """The last checkpoint stored in the database."""
    cur = db.execute(
        "SELECT seq, hash, signed_at, reason, key_id, signature FROM audit_checkpoints"
        " ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if cur is None:
        return None
    return dict(
        zip(("seq", "hash", "signed_at", "reason", "key_id", "signature"), cur, strict=True)
    )


def stored_checkpoint(r: dict[str, Any], public_key: Ed25519PublicKey | None) -> Checkpoint | None:
    """The checkpoint file of a row of ``audit_checkpoints`` (None unless ``public_key`` is the
    key that signed it: the row keeps its key id, not the key)."""
    if public_key is None or r["key_id"] != key_id(public_key):
        return None
    return Checkpoint(
        ORIGIN,
        r["seq"],
        r["hash"],
        r["signed_at"],
        r["reason"],
        r["key_id"],
        base64.b64encode(_raw_public(public_key)).decode(),
        r["signature"],
    )


def check_signature(cp: Checkpoint, trusted: Ed25519PublicKey | None = None) -> str:
    """ "" when the signature holds (with the trusted key when given), else the problem."""
    try:
        embedded = Ed25519PublicKey.from_public_bytes(base64.b64decode(cp.public_key))
        public = trusted or embedded
        if trusted is not None and key_id(trusted) != cp.key_id:
            return f"checkpoint signed by an unknown key ({cp.key_id})"
        if key_id(embedded) != cp.key_id:
            return "checkpoint key id does not match its public key"
        public.verify(base64.b64decode(cp.signature), cp.body())
    except (InvalidSignature, ValueError, TypeError):
        return "checkpoint signature is invalid"
    if cp.origin != ORIGIN:
        return f"checkpoint of another log ({cp.origin})"
    return ""


# --- verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """The outcome of recomputing the chain, checkpoints against it, and the content it proves."""

    ok: bool
    count: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str = ""
    checkpoints_checked: int = 0
    content_checked: int = 0
    content_uncovered: int = 0
    content_problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def message(self) -> str:
        """A French one-liner for the CLI and the audit page."""
        if self.ok:
            return (
                f"Chaîne intacte : {fr.count(self.count, 'enregistrement', 'enregistrements')},"
                f" tête n° {self.head_seq} ({self.head_hash[:16]}…), "
                + fr.count(
                    self.checkpoints_checked,
                    "point de contrôle vérifié",
                    "points de contrôle vérifiés",
                )
                + ", "
                + fr.count(self.content_checked, "contenu vérifié", "contenus vérifiés")
                + "."
            )
        if self.content_problems:
            shown = " ; ".join(self.content_problems[:5])
            more = len(self.content_problems) - 5
            return (
                "Contenu altéré : "
                + shown
                + (f" ; et {fr.count(more, 'autre', 'autres')}" if more > 0 else "")
                + "."
            )
        return f"Chaîne rompue à l'enregistrement n° {self.first_bad_seq} : {self.problem}."

    def lines(self) -> list[str]:
        """Everything to print: the one-liner, every content problem, then the notes."""
        out = [self.message()]
        if len(self.content_problems) > 1:
            out += [f"  – {p}" for p in self.content_problems]
        return out + list(self.notes)


@dataclass
class _Seals:
    """The seals found in the chain: per (kind, id) the first and the latest, and the kinds
    covered (listed by a :data:`SEALED` record)."""

    first: dict[tuple[str, Any], tuple[int, dict[str, Any]]]
    last: dict[tuple[str, Any], tuple[int, dict[str, Any]]]
    covered: set[str]

    def add(self, seq: int, action: str, details: dict[str, Any]) -> None:
        if action == SEALED:
            self.covered.update(details.get("kinds") or [])
        for item in details.get("content") or ():
            if not isinstance(item, dict) or "kind" not in item or "id" not in item:
                continue
            key = (str(item["kind"]), item["id"])
            self.first.setdefault(key, (seq, item))
            self.last[key] = (seq, item)


def _chain(db: sqlite_utils.Database) -> tuple[Verification, dict[int, str], _Seals]:
    prev = GENESIS
    expected_seq = 1
    count = 0
    hashes: dict[int, str] = {}
    seals = _Seals({}, {}, set())
    for rec in db.query("SELECT * FROM audit_log ORDER BY seq"):
        count += 1
        bad = None
        if rec["seq"] != expected_seq:
            bad = f"record {expected_seq} missing or out of order (found seq {rec['seq']})"
        elif rec["prev_hash"] != prev:
            bad = "prev_hash does not match the previous record (removed, reordered or changed)"
        else:
            try:
                digest = chain_hash(prev, rec)
            except (ValueError, TypeError) as exc:
                digest = ""
                bad = f"unreadable record ({exc})"
            if not bad and digest != rec["hash"]:
                bad = "content does not match its hash (changed)"
        if bad:
            return (
                Verification(False, count, expected_seq - 1, prev, expected_seq, bad),
                hashes,
                seals,
            )
        details = json.loads(rec["details"])
        if isinstance(details, dict) and (rec["action"] == SEALED or "content" in details):
            seals.add(expected_seq, rec["action"], details)
        prev = rec["hash"]
        hashes[expected_seq] = prev
        expected_seq += 1
    return Verification(True, count, expected_seq - 1, prev), hashes, seals


def _check_content(db: sqlite_utils.Database, seals: _Seals) -> tuple[int, int, list[str]]:
    """Recompute every sealed row: (rows checked, rows not covered yet, problems in French)."""
    tables = _tables(db)
    checked = uncovered = 0
    found: list[tuple[Any, int, Any, str]] = []  # (event, kind order, id, problem)
    for order, kind in enumerate(CONTENT_KINDS.values()):
        seen: set[Any] = set()
        rows_ = db.query(kind.select()) if kind.table in tables else iter(())
        for r in rows_:
            key = (kind.kind, r["_id"])
            seen.add(r["_id"])
            current = kind.seal(r)
            refs = {k: v for k, v in current.items() if k not in ("kind", "id", "sha256")}
            name = kind.name(r["_id"], refs)
            sealed = seals.last.get(key) if kind.mutable else seals.first.get(key)
            if sealed is None:
                if kind.kind in seals.covered:
                    found.append(
                        (
                            kind.event_of(r),
                            order,
                            r["_id"],
                            f"{name} {kind.agree('ajouté')} hors de la console"
                            f" ({kind.agree('absent')} de la chaîne)",
                        )
                    )
                else:
                    uncovered += 1
                continue
            checked += 1
            problem = _compare(kind, name, sealed[1], current)
            if not problem and not kind.mutable and seals.last[key][1] != sealed[1]:
                problem = f"{name} {kind.agree('modifié')} puis {kind.agree('rescellé')}"
            if problem:
                found.append((kind.event_of(r), order, r["_id"], problem))
        for (kname, ident), (_seq, item) in seals.first.items():
            if kname == kind.kind and ident not in seen:
                refs = {k: v for k, v in item.items() if k not in ("kind", "id", "sha256")}
                event = ident if kind.event_ref == "id" else refs.get(kind.event_ref)
                found.append(
                    (event, order, ident, f"{kind.name(ident, refs)} {kind.agree('supprimé')}")
                )
    found.sort(key=lambda f: (f[0] is None, f[0] or 0, f[1], str(f[2])))
    return checked, uncovered, [f[3] for f in found]


def _compare(kind: ContentKind, name: str, sealed: dict[str, Any], now: dict[str, Any]) -> str:
    if kind.blob and sealed.get("blob_sha256") != now.get("blob_sha256"):
        return f"{name} : {kind.blob_name} remplacé"
    if sealed.get("sha256") == now.get("sha256"):
        return ""
    for ref, phrase in kind.lost:
        if sealed.get(ref) and not now.get(ref):
            return f"{name} : {phrase}"
    return f"{name} {kind.agree('modifié')}"


def verify(
    db: sqlite_utils.Database,
    checkpoint: Checkpoint | None = None,
    public_key: Ed25519PublicKey | None = None,
) -> Verification:
    """Recompute the chain and name the first record that does not fit.

    Then check the given checkpoint (its signature, with ``public_key`` when given, and that the
    log still holds its record with the same hash) and every checkpoint stored in the database:
    a tail cut or rewritten after a checkpoint is named by the first record missing or differing.
    Then recompute the content hashes of every sealed row (:data:`CONTENT_KINDS`) and name each
    row changed, deleted, whose file was replaced, or added outside the console.
    """
    result, hashes, seals = _chain(db)
    if not result.ok:
        return result
    checks: list[tuple[str, Checkpoint | None, int, str]] = []
    if checkpoint is not None:
        checks.append(("checkpoint file", checkpoint, checkpoint.seq, checkpoint.hash))
    for r in db.query("SELECT * FROM audit_checkpoints ORDER BY id"):
        checks.append((f"stored checkpoint {r['id']}", None, r["seq"], r["hash"]))
        stored = stored_checkpoint(r, public_key)
        if stored is not None:
            checks[-1] = (checks[-1][0], stored, r["seq"], r["hash"])
    n = 0
    newest = 0
    for label, cp, seq, digest in checks:
        if cp is not None:
            problem = check_signature(cp, public_key)
            if problem:
                return _bad(result, seq, f"{label}: {problem}")
        if seq > result.head_seq:
            return _bad(
                result,
                result.head_seq + 1,
                f"tail cut: the log ends at {result.head_seq} but the {label} covers {seq} records",
            )
        if seq > 0 and hashes.get(seq) != digest:
            return _bad(result, seq, f"hash differs from the {label} (log rewritten)")
        n += 1
        newest = max(newest, seq)
    sealed = check_seals(db)
    if sealed is not None:
        return _bad(result, *sealed)
    checked, uncovered, problems = _check_content(db, seals)
    notes = _notes(result.head_seq, n, newest, uncovered)
    return Verification(
        not problems,
        result.count,
        result.head_seq,
        result.head_hash,
        None,
        "",
        n,
        checked,
        uncovered,
        tuple(problems),
        tuple(notes),
    )


def _notes(head_seq: int, checkpoints: int, newest: int, uncovered: int) -> list[str]:
    """What the verification could not prove, said plainly."""
    notes = []
    if checkpoints == 0:
        notes.append(
            "Aucun point de contrôle signé : une fin de journal coupée ou un journal réécrit"
            " en entier ne peut pas être détecté (vérifiez avec la copie d'un propriétaire :"
            " --checkpoint FICHIER)."
        )
    elif newest < head_seq:
        notes.append(
            f"Les enregistrements n° {newest + 1} à {head_seq} sont postérieurs au dernier point"
            " de contrôle : aucun point de contrôle ne permet de vérifier cette fin de journal."
        )
    if uncovered:
        notes.append(
            fr.count(uncovered, "élément antérieur", "éléments antérieurs")
            + " aux empreintes de contenu, non "
            + fr.plural(uncovered, "couvert", "couverts")
            + " : "
            + fr.plural(uncovered, "il sera scellé", "ils seront scellés")
            + " à la prochaine écriture de la console."
        )
    return notes


def _bad(result: Verification, seq: int, problem: str) -> Verification:
    return Verification(False, result.count, result.head_seq, result.head_hash, seq, problem)


# --- who sees which records ----------------------------------------------------------------

ADMIN_PREFIXES = ("user.", "session.", "token.", "org.", "audit.", "backup.")


class Reader(Protocol):
    """Who reads the audit page (an ``auth.User``)."""

    org_id: int

    def has(self, *roles: str) -> bool: ...


def visible_records(
    db: sqlite_utils.Database, user: Reader, limit: int = 200, before: int | None = None
) -> list[dict[str, Any]]:
    """The newest audit records ``user`` may see, newest first.

    Directors see every record; stewards the records about their organisation's datasets
    (grants, reads, agreements); the admin the administrative actions (users, sessions, tokens,
    organisations, checkpoints, backups) but no access record (docs/decisions.md).
    """
    where: list[str] = []
    params: list[Any] = []
    if before:
        where.append("seq < ?")
        params.append(before)
    if user.has("director"):
        pass
    elif user.has("steward"):
        slugs = [
            r[0]
            for r in db.execute(
                "SELECT slug FROM datasets WHERE owner_org_id = ?", [user.org_id]
            ).fetchall()
        ]
        if not slugs:
            return []
        marks = ",".join("?" * len(slugs))
        where.append(f"json_extract(details, '$.dataset') IN ({marks})")
        params.extend(slugs)
    else:  # admin
        where.append("(" + " OR ".join("action LIKE ?" for _ in ADMIN_PREFIXES) + ")")
        params.extend(p + "%" for p in ADMIN_PREFIXES)
    sql = "SELECT seq, at, actor, action, object_type, object_id, event_id, details, hash"
    sql += " FROM audit_log" + (" WHERE " + " AND ".join(where) if where else "")
    out = list(db.query(sql + " ORDER BY seq DESC LIMIT ?", [*params, limit]))
    for r in out:
        details = json.loads(r["details"])
        if isinstance(details.get("ids"), list) and len(details["ids"]) > 10:
            details["ids"] = details["ids"][:10] + [f"… (+{len(details['ids']) - 10})"]
        if isinstance(details.get("content"), list):  # the seals: shown as a count
            n = len(details["content"])
            details["content"] = fr.count(n, "empreinte de contenu", "empreintes de contenu")
        r["details"] = details
    return out
