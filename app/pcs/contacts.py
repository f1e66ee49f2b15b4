"""The crisis directory (annuaire de crise): people and services the cell calls out, by their
function in the PCS, with their numbers and on-call periods.

Every number and e-mail of the directory is treated as personal data (a named person's direct
line is personal data whatever the line): shown only to :data:`NUMBER_ROLES`, and every read of
them writes a ``contact.read`` audit record (who, which contacts, for what, which request) in the
transaction of the read. Other readers get the names and functions only.

Import (``crisis-console contacts import FILE.csv``): columns ``nom,organisation,fonction,
telephone,email`` and optionally ``astreinte``; every line is checked first, and a bad number,
a bad e-mail or a duplicate names its line and nothing is written. A line whose name,
organisation and function match a contact already in the directory updates it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from .. import audit, fr
from ..clock import PARIS, iso, local
from ..db import dumps, row, rows, transaction
from ..errors import DomainError
from . import phones
from .common import Actor, PcsError, clean_text, holds

NUMBER_ROLES: tuple[str, ...] = ("director", "cell")  # see the numbers (each read audited)
EDIT_ROLES: tuple[str, ...] = ("director", "cell")
COLUMNS: tuple[str, ...] = ("nom", "organisation", "fonction", "telephone", "email")
OPTIONAL_COLUMNS: tuple[str, ...] = ("astreinte",)
PERMANENT = "permanent"
IMPORT_ERRORS_SHOWN = 20
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ContactImportError(DomainError):
    """A refused import: each problem names the file and its line; nothing was written."""

    def __init__(self, file_name: str, problems: Sequence[str]):
        shown = list(problems[:IMPORT_ERRORS_SHOWN])
        more = len(problems) - len(shown)
        lines = [f"{file_name} : {p}" for p in shown]
        if more:
            lines.append(f"… et {fr.count(more, 'autre erreur', 'autres erreurs')}.")
        super().__init__("\n".join(lines), status=422)
        self.problems = list(problems)


@dataclass(frozen=True)
class Contact:
    """One person or service of the directory. ``phones`` and ``email`` are empty when the
    reader may not see them (:func:`directory`)."""

    id: int
    name: str
    organisation: str
    function: str
    phones: tuple[str, ...]  # E.164
    email: str
    oncall: tuple[tuple[str, str], ...]  # (start, end) ISO UTC; ((PERMANENT, ""),) for always
    source: str
    updated_at: str
    archived_at: str | None = None
    numbers_shown: bool = False

    @property
    def phones_shown(self) -> list[tuple[str, str]]:
        """(display, tel: link) of each number."""
        return [(phones.display(p), phones.tel_uri(p)) for p in self.phones]

    def on_call(self, now: datetime) -> bool | None:
        """On call now (True), not now (False), or no rota recorded (None)."""
        if not self.oncall:
            return None
        if self.oncall[0][0] == PERMANENT:
            return True
        stamp = iso(now)
        return any(start <= stamp < end for start, end in self.oncall)

    def oncall_label(self, now: datetime) -> str:
        """ "d'astreinte jusqu'au 30/11 08:00", "hors astreinte (prochaine : …)", or ""."""
        if not self.oncall:
            return ""
        if self.oncall[0][0] == PERMANENT:
            return "astreinte permanente"
        stamp = iso(now)
        for start, end in self.oncall:
            if start <= stamp < end:
                return f"d'astreinte jusqu'au {local(end, '%d/%m %H:%M')}"
        upcoming = [start for start, _ in self.oncall if start > stamp]
        if upcoming:
            return f"hors astreinte (prochaine le {local(min(upcoming), '%d/%m %H:%M')})"
        return "hors astreinte"

    def oncall_text(self) -> str:
        """The rota as the import and the form write it."""
        if not self.oncall:
            return ""
        if self.oncall[0][0] == PERMANENT:
            return PERMANENT
        fmt = "%Y-%m-%d %H:%M"
        return " ; ".join(f"{local(s, fmt)}/{local(e, fmt)}" for s, e in self.oncall)

    def to_json(self) -> dict[str, Any]:
        """The API shape (numbers only when they were shown to the reader)."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "organisation": self.organisation,
            "function": self.function,
            "oncall": self.oncall_text(),
        }
        if self.numbers_shown:
            out["phones"] = list(self.phones)
            out["email"] = self.email
        return out


def _contact(r: dict[str, Any]) -> Contact:
    return Contact(
        id=r["id"],
        name=r["name"],
        organisation=r["organisation"],
        function=r["function"],
        phones=tuple(json.loads(r["phones"] or "[]")),
        email=r["email"],
        oncall=tuple(tuple(p) for p in json.loads(r["oncall"] or "[]")),  # type: ignore[misc]
        source=r["source"],
        updated_at=r["updated_at"],
        archived_at=r["archived_at"],
    )


def _fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(plain.lower().split())


def contact_key(name: str, organisation: str, function: str) -> str:
    """What makes two contacts the same: name, organisation and function, case and accents
    aside."""
    return "|".join(_fold(x) for x in (name, organisation, function))


def same_function(a: str, b: str) -> bool:
    """Whether two functions are the same, case and accents aside."""
    return _fold(a) == _fold(b)


# --- reading ---------------------------------------------------------------------------------


def all_contacts(db: sqlite_utils.Database, include_archived: bool = False) -> list[Contact]:
    """Every contact of the directory (numbers included: domain use only), by function."""
    sql = "SELECT * FROM contacts"
    if not include_archived:
        sql += " WHERE archived_at IS NULL"
    return [_contact(r) for r in rows(db, sql + " ORDER BY function, name")]


def get_contact(db: sqlite_utils.Database, contact_id: int) -> Contact | None:
    """A contact by id (numbers included: for the domain, never shown as such)."""
    r = row(db, "SELECT * FROM contacts WHERE id = ?", [contact_id])
    return _contact(r) if r else None


def functions(db: sqlite_utils.Database) -> list[str]:
    """The functions of the directory (for the form's suggestions), by name."""
    return [
        r["function"]
        for r in rows(
            db,
            "SELECT DISTINCT function FROM contacts WHERE archived_at IS NULL ORDER BY function",
        )
    ]


def may_see_numbers(reader: Actor) -> bool:
    return holds(reader, NUMBER_ROLES)


def directory(
    db: sqlite_utils.Database,
    now: datetime,
    reader: Actor,
    *,
    purpose: str,
    request_id: str,
    event_id: int | None = None,
    select: Iterable[int] | None = None,
    include_archived: bool = False,
) -> list[Contact]:
    """The directory (or the ``select``ed contacts) as ``reader`` may see it.

    For :data:`NUMBER_ROLES` the numbers and e-mails are shown and the read is recorded
    (``contact.read``: ids, purpose, request) in the same transaction; for everyone else they
    are left out and nothing personal is read.
    """
    wanted = None if select is None else set(select)
    with transaction(db):
        found = [
            c
            for c in all_contacts(db, include_archived)
            if wanted is None or c.id in wanted or (include_archived and c.id in wanted)
        ]
        if not may_see_numbers(reader):
            return [replace(c, phones=(), email="", numbers_shown=False) for c in found]
        if found:
            audit.append(
                db,
                now,
                "contact.read",
                actor=reader.login,
                object_type="contacts",
                event_id=event_id,
                details={
                    "purpose": purpose,
                    "count": len(found),
                    "ids": [c.id for c in found],
                    "request_id": request_id,
                },
            )
        return [replace(c, numbers_shown=True) for c in found]


# --- checking a contact --------------------------------------------------------------------


def parse_oncall(text: str) -> list[tuple[str, str]]:
    """On-call periods: ``permanent``, or ``AAAA-MM-JJ HH:MM/AAAA-MM-JJ HH:MM`` (Paris time)
    separated by ``;``; PcsError naming the faulty period."""
    text = (text or "").strip()
    if not text:
        return []
    if _fold(text) == PERMANENT:
        return [(PERMANENT, "")]
    out: list[tuple[str, str]] = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        bounds = part.split("/")
        try:
            if len(bounds) != 2:
                raise ValueError
            start, end = (
                datetime.fromisoformat(b.strip().replace(" ", "T")).replace(tzinfo=PARIS)
                for b in bounds
            )
        except ValueError:
            raise PcsError(
                f"astreinte « {part} » illisible (attendu : AAAA-MM-JJ HH:MM/AAAA-MM-JJ HH:MM,"
                " séparées par « ; », ou « permanent »)",
                field="oncall",
            ) from None
        if end <= start:
            raise PcsError(f"astreinte « {part} » : la fin précède le début", field="oncall")
        out.append((iso(start), iso(end)))
    return sorted(out)


def _check(
    name: Any, organisation: Any, function: Any, phone_text: Any, email: Any, oncall: Any
) -> dict[str, Any]:
    clean_name = clean_text(name, "Nom", "name")
    clean_org = " ".join(str(organisation or "").split())[:200]
    clean_function = clean_text(function, "Fonction", "function", 120)
    try:
        numbers = phones.normalise_many(str(phone_text or ""))
    except phones.PhoneError as exc:
        raise PcsError(f"téléphone : {exc}", field="phones") from None
    if not numbers:
        raise PcsError("téléphone : au moins un numéro est obligatoire", field="phones")
    clean_email = str(email or "").strip()
    if clean_email and not EMAIL.match(clean_email):
        raise PcsError(f"e-mail « {clean_email} » invalide", field="email")
    periods = parse_oncall(str(oncall or ""))
    return {
        "name": clean_name,
        "organisation": clean_org,
        "function": clean_function,
        "phones": numbers,
        "email": clean_email,
        "oncall": periods,
        "key": contact_key(clean_name, clean_org, clean_function),
    }


def _changed_fields(old: Contact, new: dict[str, Any]) -> list[str]:
    pairs = {
        "name": (old.name, new["name"]),
        "organisation": (old.organisation, new["organisation"]),
        "function": (old.function, new["function"]),
        "phones": (list(old.phones), new["phones"]),
        "email": (old.email, new["email"]),
        "oncall": ([list(p) for p in old.oncall], [list(p) for p in new["oncall"]]),
    }
    return [k for k, (a, b) in pairs.items() if a != b]


def _write(
    db: sqlite_utils.Database,
    now: datetime,
    clean: dict[str, Any],
    existing: Contact | None,
    source: str,
) -> int:
    values = [
        clean["name"],
        clean["organisation"],
        clean["function"],
        dumps(clean["phones"]),
        clean["email"],
        dumps([list(p) for p in clean["oncall"]]),
        clean["key"],
        iso(now),
    ]
    if existing is None:
        cur = db.execute(
            "INSERT INTO contacts (name, organisation, function, phones, email, oncall, key,"
            " updated_at, source, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [*values, source, iso(now)],
        )
        return int(cur.lastrowid or 0)
    db.execute(
        "UPDATE contacts SET name = ?, organisation = ?, function = ?, phones = ?, email = ?,"
        " oncall = ?, key = ?, updated_at = ? WHERE id = ?",
        [*values, existing.id],
    )
    return existing.id


def _by_key(db: sqlite_utils.Database, key: str) -> Contact | None:
    r = row(db, "SELECT * FROM contacts WHERE key = ? AND archived_at IS NULL", [key])
    return _contact(r) if r else None


def save_contact(
    db: sqlite_utils.Database,
    now: datetime,
    actor: Actor,
    *,
    contact_id: int | None = None,
    name: Any,
    organisation: Any = "",
    function: Any,
    phones_text: Any,
    email: Any = "",
    oncall: Any = "",
) -> Contact:
    """Add a contact, or edit one (``contact_id``); audited (the fields changed, no values)."""
    try:
        clean = _check(name, organisation, function, phones_text, email, oncall)
    except PcsError as exc:
        raise PcsError(exc.message[:1].upper() + exc.message[1:] + ".", field=exc.field) from None
    with transaction(db):
        existing = get_contact(db, contact_id) if contact_id is not None else None
        if contact_id is not None and (existing is None or existing.archived_at):
            raise PcsError("Contact introuvable.", status=404)
        twin = _by_key(db, clean["key"])
        if twin is not None and (existing is None or twin.id != existing.id):
            raise PcsError(
                f"« {clean['name']} » ({clean['function']}) est déjà dans l'annuaire"
                f" (contact n°{twin.id}).",
                field="name",
                status=409,
            )
        new_id = _write(db, now, clean, existing, "console")
        audit.append(
            db,
            now,
            "contact.updated" if existing else "contact.created",
            actor=actor.login,
            object_type="contact",
            object_id=new_id,
            details={
                "function": clean["function"],
                "fields": _changed_fields(existing, clean) if existing else ["*"],
            },
        )
    found = get_contact(db, new_id)
    assert found is not None
    return found


def archive_contact(
    db: sqlite_utils.Database, now: datetime, actor: Actor, contact_id: int
) -> None:
    """Take a contact out of the directory (kept for the events that called it)."""
    with transaction(db):
        found = get_contact(db, contact_id)
        if found is None or found.archived_at:
            raise PcsError("Contact introuvable.", status=404)
        db.execute("UPDATE contacts SET archived_at = ? WHERE id = ?", [iso(now), contact_id])
        audit.append(
            db,
            now,
            "contact.archived",
            actor=actor.login,
            object_type="contact",
            object_id=contact_id,
            details={"function": found.function},
        )


# --- import --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    unchanged: int

    def message(self) -> str:
        return (
            "Annuaire importé : "
            + fr.count(self.added, "contact ajouté", "contacts ajoutés")
            + ", "
            + fr.count(self.updated, "mis à jour", "mis à jour")
            + ", "
            + fr.count(self.unchanged, "inchangé", "inchangés")
            + "."
        )


def _read_csv(text: str, file_name: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ContactImportError(file_name, ["fichier vide (en-tête attendu)"]) from None
    missing = [c for c in COLUMNS if c not in header]
    unknown = [h for h in header if h not in COLUMNS + OPTIONAL_COLUMNS]
    problems = []
    if missing:
        problems.append(f"ligne 1 : colonnes manquantes : {', '.join(missing)}")
    if unknown:
        problems.append(
            f"ligne 1 : colonnes inconnues : {', '.join(unknown)} (attendu :"
            f" {', '.join(COLUMNS)}, et en option {', '.join(OPTIONAL_COLUMNS)})"
        )
    if problems:
        raise ContactImportError(file_name, problems)
    out = []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise ContactImportError(
                file_name,
                [f"ligne {line} : {len(values)} valeurs pour {len(header)} colonnes"],
            )
        out.append((line, dict(zip(header, values, strict=True))))
    return header, out


def import_csv(
    db: sqlite_utils.Database,
    now: datetime,
    content: str | bytes | Path,
    *,
    actor: str,
    file_name: str = "",
    source: str = "import",
) -> ImportResult:
    """Import a directory CSV: every line checked first; any bad line → ContactImportError
    naming each faulty line, nothing written; else one transaction and one audit record."""
    if isinstance(content, Path):
        file_name = file_name or content.name
        try:
            content = content.read_bytes()
        except OSError as exc:
            raise ContactImportError(file_name, [f"illisible ({exc.strerror})"]) from None
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ContactImportError(
                file_name or "fichier", ["encodage non UTF-8 (enregistrez le fichier en UTF-8)"]
            ) from None
    file_name = file_name or "fichier"
    _, lines = _read_csv(content, file_name)
    if not lines:
        raise ContactImportError(file_name, ["aucun contact (le fichier n'a que son en-tête)"])
    problems: list[str] = []
    seen: dict[str, int] = {}
    checked: list[tuple[int, dict[str, Any]]] = []
    for line, values in lines:
        try:
            clean = _check(
                values.get("nom"),
                values.get("organisation"),
                values.get("fonction"),
                values.get("telephone"),
                values.get("email"),
                values.get("astreinte"),
            )
        except PcsError as exc:
            problems.append(f"ligne {line} : {exc.message}")
            continue
        if clean["key"] in seen:
            problems.append(
                f"ligne {line} : doublon de la ligne {seen[clean['key']]} (« {clean['name']} »,"
                f" {clean['organisation'] or 'sans organisation'}, {clean['function']})"
            )
            continue
        seen[clean["key"]] = line
        checked.append((line, clean))
    if problems:
        raise ContactImportError(file_name, problems)
    added = updated = unchanged = 0
    with transaction(db):
        for _, clean in checked:
            existing = _by_key(db, clean["key"])
            if existing is not None and not _changed_fields(existing, clean):
                unchanged += 1
                continue
            _write(db, now, clean, existing, source)
            if existing is None:
                added += 1
            else:
                updated += 1
        audit.append(
            db,
            now,
            "contacts.imported",
            actor=actor,
            object_type="contacts",
            details={
                "file": file_name,
                "lines": len(checked),
                "added": added,
                "updated": updated,
                "unchanged": unchanged,
            },
        )
    return ImportResult(added, updated, unchanged)


def on_call_sort_key(contact: Contact, now: datetime) -> tuple[int, str]:
    """On call first, then no rota, then off duty; by name."""
    state = contact.on_call(now)
    return (0 if state else 1 if state is None else 2, contact.name)
