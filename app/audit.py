"""The audit log: append-only, hash-chained, verifiable.

``hash_n = sha256(bytes(hash_{n-1}) || 0x00 || canonical_json(record_n))``; the genesis
``prev_hash`` is 64 zeros. Triggers refuse UPDATE and DELETE (they stop bugs, not attackers);
signed checkpoints kept outside the database catch a rewrite or a truncated tail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import sqlite_utils
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import fr
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
    """Append one record; must run inside the transaction of the change it records."""
    if not db.conn.in_transaction:
        raise RuntimeError("audit.append must run inside the transaction of the change")
    seq, prev = head(db)
    record: dict[str, Any] = {
        "seq": seq + 1,
        "at": iso(now),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "event_id": event_id,
        "details": details or {},
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
    """The outcome of recomputing the chain (and checking checkpoints against it)."""

    ok: bool
    count: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str = ""
    checkpoints_checked: int = 0

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
                + "."
            )
        return f"Chaîne rompue à l'enregistrement n° {self.first_bad_seq} : {self.problem}."


def _chain(db: sqlite_utils.Database) -> tuple[Verification, dict[int, str]]:
    prev = GENESIS
    expected_seq = 1
    count = 0
    hashes: dict[int, str] = {}
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
            return Verification(False, count, expected_seq - 1, prev, expected_seq, bad), hashes
        prev = rec["hash"]
        hashes[expected_seq] = prev
        expected_seq += 1
    return Verification(True, count, expected_seq - 1, prev), hashes


def verify(
    db: sqlite_utils.Database,
    checkpoint: Checkpoint | None = None,
    public_key: Ed25519PublicKey | None = None,
) -> Verification:
    """Recompute the chain and name the first record that does not fit.

    Then check the given checkpoint (its signature, with ``public_key`` when given, and that the
    log still holds its record with the same hash) and every checkpoint stored in the database:
    a tail cut or rewritten after a checkpoint is named by the first record missing or differing.
    """
    result, hashes = _chain(db)
    if not result.ok:
        return result
    checks: list[tuple[str, Checkpoint | None, int, str]] = []
    if checkpoint is not None:
        checks.append(("checkpoint file", checkpoint, checkpoint.seq, checkpoint.hash))
    for r in db.query("SELECT * FROM audit_checkpoints ORDER BY id"):
        checks.append((f"stored checkpoint {r['id']}", None, r["seq"], r["hash"]))
        if public_key is not None and r["key_id"] == key_id(public_key):
            stored = Checkpoint(
                ORIGIN,
                r["seq"],
                r["hash"],
                r["signed_at"],
                r["reason"],
                r["key_id"],
                base64.b64encode(_raw_public(public_key)).decode(),
                r["signature"],
            )
            checks[-1] = (checks[-1][0], stored, r["seq"], r["hash"])
    n = 0
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
    sealed = check_seals(db)
    if sealed is not None:
        return _bad(result, *sealed)
    return Verification(True, result.count, result.head_seq, result.head_hash, None, "", n)


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
        r["details"] = details
    return out
