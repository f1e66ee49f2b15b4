"""Addresses: the Base Adresse Nationale CSV imported into a local table, searched offline.

A BAN file (``adresses-<dep>.csv``, ``;``-separated, UTF-8) is read twice, streaming: a first
pass validates every row (the place of each fault named: line and column) and collects the
communes it covers; only a clean file is written, in one transaction that replaces the addresses
of those communes, rebuilds the full-text index and appends the audit record. Rows outside the
territory's extent are skipped and counted (a département file covers far more than the
agglomeration).

Search is normalised and accent-insensitive (FTS5 ``unicode61 remove_diacritics``, the usual
French abbreviations expanded on both sides): "12 r victor hugo lillebonne" finds
"12 Rue Victor Hugo, 76170 Lillebonne". Results come from the local table only.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from . import audit, catalogue
from .catalogue import CatalogueError
from .db import rows, scalar, transaction
from .imports import MAX_ERRORS, ImportFailed, Progress, ProgressTracker, csv_file_rows

REQUIRED = ("id", "numero", "nom_voie", "code_insee", "nom_commune", "lon", "lat")
# Every column of the BAN "adresses" CSV (adresse.data.gouv.fr, schéma adresses-csv).
BAN_COLUMNS = (
    "id",
    "id_fantoir",
    "numero",
    "rep",
    "nom_voie",
    "code_postal",
    "code_insee",
    "nom_commune",
    "code_insee_ancienne_commune",
    "nom_ancienne_commune",
    "x",
    "y",
    "lon",
    "lat",
    "type_position",
    "alias",
    "nom_ld",
    "libelle_acheminement",
    "nom_afnor",
    "source_position",
    "source_nom_voie",
    "certification_commune",
    "cad_parcelles",
)
TOPONYM_NUMBER = 99999  # the BAN's number for a named place without a house number
MAX_QUERY = 200
DEFAULT_SOURCE = "real (Base Adresse Nationale)"

_ABBREVIATIONS = {
    "r": "rue",
    "av": "avenue",
    "ave": "avenue",
    "bd": "boulevard",
    "bld": "boulevard",
    "bvd": "boulevard",
    "ch": "chemin",
    "chem": "chemin",
    "pl": "place",
    "imp": "impasse",
    "rte": "route",
    "all": "allee",
    "sq": "square",
    "fg": "faubourg",
    "qu": "quai",
    "res": "residence",
    "st": "saint",
    "ste": "sainte",
}
_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise(text: str) -> str:
    """Lower case, no accents, no punctuation, abbreviations expanded: the indexed form."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = _NON_WORD.sub(" ", plain.replace("œ", "oe").replace("æ", "ae")).split()
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words)


@dataclass(frozen=True)
class Address:
    id: str
    label: str
    numero: int | None
    rep: str
    nom_voie: str
    code_postal: str
    code_insee: str
    nom_commune: str
    lon: float
    lat: float
    source: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "numero": self.numero,
            "rep": self.rep or None,
            "street": self.nom_voie,
            "postcode": self.code_postal or None,
            "insee": self.code_insee,
            "commune": self.nom_commune,
            "lon": self.lon,
            "lat": self.lat,
            "source": self.source,
        }


@dataclass(frozen=True)
class AddressImport:
    addresses: int
    communes: int
    removed: int
    skipped: int


def label(numero: int | None, rep: str, nom_voie: str, code_postal: str, commune: str) -> str:
    """ "12 bis Rue Victor Hugo, 76170 Lillebonne" (no number for a named place)."""
    street = nom_voie
    if numero is not None and numero != TOPONYM_NUMBER:
        street = f"{numero}{' ' + rep if rep else ''} {nom_voie}"
    return f"{street}, {(code_postal + ' ') if code_postal else ''}{commune}"


def count(db: sqlite_utils.Database) -> int:
    return int(scalar(db, "SELECT count(*) FROM addresses") or 0)


def _row(values: dict[str, str], where: str, problems: list[str]) -> dict[str, Any] | None:
    """One CSV row as an addresses row, or None with its problems recorded."""
    before = len(problems)
    for column in ("id", "nom_voie", "code_insee", "nom_commune"):
        if not values.get(column, "").strip():
            problems.append(f"{where}, colonne « {column} » : valeur obligatoire absente")
    numero: int | None = None
    text = values.get("numero", "").strip()
    if text:
        try:
            numero = int(text)
        except ValueError:
            problems.append(f"{where}, colonne « numero » : entier attendu, trouvé « {text} »")
        else:
            if numero < 0:
                problems.append(f"{where}, colonne « numero » : entier positif attendu")
    coords: list[float] = []
    for column in ("lon", "lat"):
        text = values.get(column, "").strip()
        try:
            value = float(text.replace(",", "."))
        except ValueError:
            problems.append(f"{where}, colonne « {column} » : nombre attendu, trouvé « {text} »")
            continue
        if not math.isfinite(value):
            problems.append(f"{where}, colonne « {column} » : nombre fini attendu (« {text} »)")
            continue
        coords.append(value)
    if len(coords) == 2 and not (-180 <= coords[0] <= 180 and -90 <= coords[1] <= 90):
        problems.append(f"{where} : lon/lat hors des bornes WGS84 ({coords[0]}, {coords[1]})")
    if len(problems) > before:
        return None
    rep = values.get("rep", "").strip()
    nom_voie = values["nom_voie"].strip()
    code_postal = values.get("code_postal", "").strip()
    commune = values["nom_commune"].strip()
    ancienne = values.get("nom_ancienne_commune", "").strip()
    lieu_dit = values.get("nom_ld", "").strip()
    text_label = label(numero, rep, nom_voie, code_postal, commune)
    search = normalise(" ".join([text_label, ancienne, lieu_dit]))
    return {
        "id": values["id"].strip(),
        "numero": numero,
        "rep": rep,
        "nom_voie": nom_voie,
        "code_postal": code_postal,
        "code_insee": values["code_insee"].strip(),
        "nom_commune": commune,
        "nom_ancienne_commune": ancienne,
        "lieu_dit": lieu_dit,
        "lon": coords[0],
        "lat": coords[1],
        "type_position": values.get("type_position", "").strip(),
        "label": text_label,
        "search": search,
        "source": values.get("source", "").strip() or DEFAULT_SOURCE,
    }


def _rows(
    path: Path,
    name: str,
    extent: tuple[float, float, float, float],
    problems: list[str],
    counts: dict[str, Any],
    progress: Progress | None = None,
) -> Any:
    """Every valid row inside the extent; problems and counts filled as the file is read."""
    seen: set[str] = set()
    checked_header = False
    tracker = ProgressTracker(path.stat().st_size, progress)
    for line, values in csv_file_rows(path, name, progress=tracker.add_bytes):
        tracker.features += 1
        if not checked_header:
            missing = [c for c in REQUIRED if c not in values]
            if missing:
                problems.append(
                    f"{name}, ligne 1 : colonnes de la Base Adresse Nationale manquantes :"
                    f" {', '.join(missing)} (séparateur « ; », en-tête id;id_fantoir;numero;…)"
                )
                return
            checked_header = True
        where = f"{name}, ligne {line}"
        if "__bad__" in values:
            problems.append(f"{where} : {values['__bad__']}")
            continue
        if len(problems) >= MAX_ERRORS:
            counts["more"] += 1
            continue
        out = _row(values, where, problems)
        if out is None:
            continue
        if out["id"] in seen:
            problems.append(f"{where} : identifiant « {out['id']} » en double dans le fichier")
            continue
        seen.add(out["id"])
        ex = extent
        if not (ex[0] <= out["lon"] <= ex[2] and ex[1] <= out["lat"] <= ex[3]):
            counts["skipped"] += 1
            continue
        yield out
    tracker.emit(force=True)


def import_ban(
    db: sqlite_utils.Database,
    now: datetime,
    path: str | Path,
    *,
    actor: str | None,
    file_name: str | None = None,
    progress: Progress | None = None,
) -> AddressImport:
    """Import a BAN CSV: the communes it covers are replaced; ImportFailed writes nothing."""
    path = Path(path)
    name = file_name or path.name
    if not path.exists():
        raise ImportFailed(name, [f"{name} : fichier introuvable"])
    if path.stat().st_size == 0:
        raise ImportFailed(name, [f"{name} : fichier vide"])
    extent = catalogue.territory_extent(db)
    problems: list[str] = []
    counts: dict[str, Any] = {"skipped": 0, "more": 0}
    communes: set[str] = set()
    kept = 0
    try:
        for r in _rows(path, name, extent, problems, counts, progress):
            communes.add(r["code_insee"])
            kept += 1
    except CatalogueError as exc:
        problems.append(str(exc))
    if not problems and kept == 0:
        problems.append(
            f"{name} : aucune adresse dans l'emprise du territoire"
            f" ({counts['skipped']} hors emprise)"
        )
    if problems:
        raise ImportFailed(
            name, problems[:MAX_ERRORS], counts["more"] + max(0, len(problems) - MAX_ERRORS)
        )
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        while chunk := raw.read(1 << 20):
            digest.update(chunk)
    columns = (
        "id, numero, rep, nom_voie, code_postal, code_insee, nom_commune, nom_ancienne_commune,"
        " lieu_dit, lon, lat, type_position, label, search, source"
    )
    insert = f"INSERT OR REPLACE INTO addresses ({columns}) VALUES ({','.join('?' * 15)})"
    keys = [c.strip() for c in columns.split(",")]
    marks = ",".join("?" * len(communes))
    with transaction(db):
        removed = int(
            scalar(
                db, f"SELECT count(*) FROM addresses WHERE code_insee IN ({marks})", list(communes)
            )
            or 0
        )
        db.execute(f"DELETE FROM addresses WHERE code_insee IN ({marks})", list(communes))
        batch: list[list[Any]] = []
        written = 0
        again: list[str] = []
        for r in _rows(path, name, extent, again, {"skipped": 0, "more": 0}):
            batch.append([r[k] for k in keys])
            written += 1
            if len(batch) >= 5000:
                db.conn.executemany(insert, batch)
                batch = []
        if batch:
            db.conn.executemany(insert, batch)
        if again or written != kept:  # the file changed between the two passes
            raise ImportFailed(name, [f"{name} : le fichier a changé pendant l'import"])
        db.execute("INSERT INTO addresses_fts(addresses_fts) VALUES ('rebuild')")
        audit.append(
            db,
            now,
            "addresses.import",
            actor=actor,
            object_type="addresses",
            object_id=name,
            details={
                "file": name,
                "sha256": digest.hexdigest(),
                "addresses": written,
                "communes": sorted(communes),
                "replaced": removed,
                "skipped_outside": counts["skipped"],
            },
        )
    return AddressImport(written, len(communes), removed, counts["skipped"])


def _fts_query(words: list[str]) -> str:
    # Numbers match whole (12 must not find 120); words match as prefixes (typing goes on).
    return " ".join(f'"{w}"' if w.isdigit() else f'"{w}"*' for w in words)


def search(db: sqlite_utils.Database, q: str, limit: int = 10) -> list[Address]:
    """Addresses matching every word of ``q`` (normalised), best first; [] for an empty query."""
    words = normalise(q[:MAX_QUERY]).split()[:12]
    if not words:
        return []
    number = next((int(w) for w in words if w.isdigit() and len(w) <= 5), None)
    limit = max(1, min(limit, 50))
    found = rows(
        db,
        "SELECT a.* FROM addresses_fts f JOIN addresses a ON a.rowid = f.rowid"
        " WHERE addresses_fts MATCH ? ORDER BY (a.numero IS ?) DESC, f.rank, a.label"
        " LIMIT ?",
        [_fts_query(words), number, limit],
    )
    if not found and number is not None:
        # No such number in that street: the street's nearest numbers, as a postman would.
        rest = [w for w in words if w != str(number)]
        if rest:
            found = rows(
                db,
                "SELECT a.* FROM addresses_fts f JOIN addresses a ON a.rowid = f.rowid"
                " WHERE addresses_fts MATCH ? ORDER BY abs(coalesce(a.numero, 0) - ?), f.rank"
                " LIMIT ?",
                [_fts_query(rest), number, limit],
            )
    return [
        Address(
            id=r["id"],
            label=r["label"],
            numero=r["numero"],
            rep=r["rep"],
            nom_voie=r["nom_voie"],
            code_postal=r["code_postal"],
            code_insee=r["code_insee"],
            nom_commune=r["nom_commune"],
            lon=r["lon"],
            lat=r["lat"],
            source=r["source"],
        )
        for r in found
    ]
