"""The catalogue's ``remote:`` block of a dataset, and the credentials file kept outside the base.

``remote:`` (one per dataset, optional)::

    remote:
      kind: ogcapi                  # or wfs (WFS 2.0 GetFeature, GeoJSON output)
      url: https://sig.grdf.example/ogc     # OGC API landing page, or the WFS endpoint
      collection: reseau-gaz        # OGC API collection id (``type_name`` for WFS)
      sync_every_min: 360           # how often the copy is refreshed (5 min to 7 days)
      credentials: grdf             # key in the credentials file (absent: anonymous)
      properties_param: true        # send ``properties=`` (OGC API Part 6); false if refused
      grant_param: crisis_grant     # optional: also send the grant id as this query parameter
      geometry_name: the_geom       # WFS only: the geometry property, needed for PROPERTYNAME

The credentials file (``CRISIS_REMOTE_CREDENTIALS``, YAML) maps a key to one way of signing in::

    grdf:
      bearer: "eyJhbGciOi..."                       # Authorization: Bearer …
    enedis:
      basic: {username: crise, password: "..."}    # Authorization: Basic …
    ddtm:
      header: {name: X-API-Key, value: "..."}       # any one header

Messages are French and name the file and the key, never a secret.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .. import fr
from ..catalogue import CatalogueError

log = logging.getLogger(__name__)

KINDS: dict[str, str] = {"ogcapi": "OGC API – Features", "wfs": "WFS 2.0"}
SYNC_MIN_MIN = 5
SYNC_MAX_MIN = 7 * 24 * 60
SYNC_DEFAULT_MIN = 60
_PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_HEADER = re.compile(r"[A-Za-z0-9-]{1,64}")
_FORBIDDEN_HEADERS = {"host", "content-length", "x-crisis-grant", "x-crisis-event"}


class RemoteConfigError(CatalogueError):
    """A refused ``remote:`` block or credentials file (French message naming the place)."""


@dataclass(frozen=True)
class RemoteSpec:
    """Where the owner serves a dataset, and how the console talks to that server."""

    kind: str
    url: str
    collection: str
    sync_every_min: int = SYNC_DEFAULT_MIN
    credentials: str | None = None
    properties_param: bool = True
    grant_param: str | None = None
    geometry_name: str | None = None

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, self.kind)

    @property
    def origin(self) -> tuple[str, str, int]:
        """(scheme, host, port): the only place a request or a redirect may go."""
        return origin_of(self.url)

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def label(self) -> str:
        """What the audit log and the pages name: host and collection, never a secret."""
        return f"{self.host}/{self.collection}"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.url,
            "collection": self.collection,
            "sync_every_min": self.sync_every_min,
            "credentials": self.credentials,
            "properties_param": self.properties_param,
            "grant_param": self.grant_param,
            "geometry_name": self.geometry_name,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RemoteSpec:
        return cls(
            kind=str(data["kind"]),
            url=str(data["url"]),
            collection=str(data["collection"]),
            sync_every_min=int(data.get("sync_every_min", SYNC_DEFAULT_MIN)),
            credentials=data.get("credentials"),
            properties_param=bool(data.get("properties_param", True)),
            grant_param=data.get("grant_param"),
            geometry_name=data.get("geometry_name"),
        )


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def parse_remote(entry: Mapping[str, Any], slug: str | None = None) -> RemoteSpec | None:
    """The ``remote:`` block of one catalogue dataset entry, validated; None when absent."""
    slug = slug or str(entry.get("slug") or "?")
    raw = entry.get("remote")
    if raw is None:
        return None
    where = f"{slug}.remote"
    if not isinstance(raw, dict):
        raise RemoteConfigError(f"{where} : un bloc (kind, url, collection…) est attendu")
    known = {
        "kind",
        "url",
        "collection",
        "type_name",
        "sync_every_min",
        "credentials",
        "properties_param",
        "grant_param",
        "geometry_name",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        keys = fr.plural(len(unknown), "clé inconnue", "clés inconnues")
        raise RemoteConfigError(f"{where} : {keys} {', '.join(unknown)}")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise RemoteConfigError(f"{where}.kind : « {kind} » inconnu ({', '.join(KINDS)})")
    url = raw.get("url")
    if not isinstance(url, str) or not url.strip():
        raise RemoteConfigError(f"{where}.url : adresse du serveur du gestionnaire manquante")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteConfigError(f"{where}.url : adresse http ou https attendue, pas « {url} »")
    if parts.username or parts.password:
        raise RemoteConfigError(
            f"{where}.url : pas d'identifiants dans l'adresse ; mettez-les dans le fichier"
            " désigné par CRISIS_REMOTE_CREDENTIALS et nommez leur clé dans « credentials »"
        )
    if parts.fragment:
        raise RemoteConfigError(f"{where}.url : pas de fragment (#…) dans l'adresse")
    if kind == "ogcapi" and parts.query:
        raise RemoteConfigError(f"{where}.url : la page d'accueil OGC API, sans paramètres")
    name_key = "collection" if kind == "ogcapi" else "type_name"
    collection = raw.get(name_key)
    if not isinstance(collection, str) or not collection.strip():
        raise RemoteConfigError(f"{where}.{name_key} : manquant")
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,128}", collection.strip()):
        raise RemoteConfigError(f"{where}.{name_key} : « {collection} » n'est pas un nom valide")
    every = raw.get("sync_every_min", SYNC_DEFAULT_MIN)
    if isinstance(every, bool) or not isinstance(every, int):
        raise RemoteConfigError(f"{where}.sync_every_min : un nombre entier de minutes")
    if not SYNC_MIN_MIN <= every <= SYNC_MAX_MIN:
        raise RemoteConfigError(
            f"{where}.sync_every_min : entre {SYNC_MIN_MIN} et {SYNC_MAX_MIN} minutes"
        )
    credentials = raw.get("credentials")
    if credentials is not None and (
        not isinstance(credentials, str) or not _KEY.fullmatch(credentials)
    ):
        raise RemoteConfigError(f"{where}.credentials : nom de clé du fichier de secrets attendu")
    properties_param = raw.get("properties_param", True)
    if not isinstance(properties_param, bool):
        raise RemoteConfigError(f"{where}.properties_param : true ou false")
    grant_param = raw.get("grant_param")
    if grant_param is not None and (
        not isinstance(grant_param, str) or not _PARAM.fullmatch(grant_param)
    ):
        raise RemoteConfigError(f"{where}.grant_param : nom de paramètre invalide")
    geometry_name = raw.get("geometry_name")
    if geometry_name is not None and (
        kind != "wfs" or not isinstance(geometry_name, str) or not _PARAM.fullmatch(geometry_name)
    ):
        raise RemoteConfigError(f"{where}.geometry_name : nom de propriété WFS attendu (WFS seul)")
    return RemoteSpec(
        kind=kind,
        url=url.rstrip("/") if kind == "ogcapi" else url,
        collection=collection.strip(),
        sync_every_min=every,
        credentials=credentials,
        properties_param=properties_param,
        grant_param=grant_param,
        geometry_name=geometry_name,
    )


# -- credentials ---------------------------------------------------------------------------


class Credentials:
    """The credentials file, read again when it changes (a rotated secret needs no restart)."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._headers: dict[str, dict[str, str]] = {}

    def headers_for(self, key: str | None) -> dict[str, str]:
        """The request headers that sign in with ``key``; {} when no key is named."""
        if key is None:
            return {}
        table = self._load()
        if key not in table:
            raise RemoteConfigError(
                f"identifiants « {key} » absents du fichier de secrets ({self._where()})"
            )
        return dict(table[key])

    def _where(self) -> str:
        return str(self.path) if self.path else "CRISIS_REMOTE_CREDENTIALS non défini"

    def _load(self) -> dict[str, dict[str, str]]:
        if self.path is None:
            return {}
        try:
            st = self.path.stat()
        except FileNotFoundError:
            raise RemoteConfigError(f"fichier de secrets introuvable : {self.path}") from None
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp == self._stamp:
                return self._headers
            if st.st_mode & 0o077:
                log.warning("credentials file %s is readable by others: chmod 600", self.path)
            self._headers = parse_credentials(self.path.read_text("utf-8"), str(self.path))
            self._stamp = stamp
            return self._headers


def parse_credentials(text: str, where: str) -> dict[str, dict[str, str]]:
    """The credentials file's keys, each turned into the headers it sends."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", ligne {mark.line + 1}" if mark is not None else ""
        raise RemoteConfigError(f"{where}{line} : YAML illisible") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise RemoteConfigError(f"{where} : une table clé → identifiants est attendue")
    out: dict[str, dict[str, str]] = {}
    for key, value in doc.items():
        here = f"{where}, clé « {key} »"
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise RemoteConfigError(f"{here} : nom de clé invalide")
        if not isinstance(value, dict) or len(value) != 1:
            raise RemoteConfigError(f"{here} : une seule méthode attendue (bearer, basic, header)")
        method, body = next(iter(value.items()))
        if method == "bearer":
            if not isinstance(body, str) or not body.strip() or "\n" in body:
                raise RemoteConfigError(f"{here} : jeton « bearer » vide ou invalide")
            out[key] = {"Authorization": f"Bearer {body.strip()}"}
        elif method == "basic":
            if (
                not isinstance(body, dict)
                or not isinstance(body.get("username"), str)
                or not isinstance(body.get("password"), str)
                or ":" in body["username"]
            ):
                raise RemoteConfigError(f"{here} : « basic » attend username et password")
            token = base64.b64encode(f"{body['username']}:{body['password']}".encode()).decode()
            out[key] = {"Authorization": f"Basic {token}"}
        elif method == "header":
            if (
                not isinstance(body, dict)
                or not isinstance(body.get("name"), str)
                or not _HEADER.fullmatch(body["name"])
                or body["name"].lower() in _FORBIDDEN_HEADERS
                or not isinstance(body.get("value"), str)
                or "\n" in body["value"]
                or "\r" in body["value"]
            ):
                raise RemoteConfigError(f"{here} : « header » attend name et value valides")
            out[key] = {body["name"]: body["value"]}
        else:
            raise RemoteConfigError(
                f"{here} : méthode « {method} » inconnue (bearer, basic, header)"
            )
    return out


_default_lock = threading.Lock()
_default: Credentials | None = None


def use_credentials_file(path: str | Path | None) -> Credentials:
    """Name the process's credentials file (the application and the scheduler call this once)."""
    global _default
    with _default_lock:
        if _default is None or _default.path != (Path(path) if path else None):
            _default = Credentials(path)
        return _default


def default_credentials() -> Credentials:
    """The process's credentials file: as named by :func:`use_credentials_file`, else the
    ``CRISIS_REMOTE_CREDENTIALS`` setting."""
    if _default is not None:
        return _default
    from ..config import from_environment

    return use_credentials_file(from_environment().get("REMOTE_CREDENTIALS") or None)
