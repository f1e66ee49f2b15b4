"""Layer files: a built layer kept on disk, memory-mapped back at the next start.

A server restarted during a crisis must answer its first impact request in seconds, whatever the
size of the territory: building a département's layers from the database takes seconds of CPU
per million features. So each built layer is also written, off the request path, as numpy
arrays (coordinates, offsets, the UTF-8 texts of ids and properties; lines and polygons as their
ragged Lambert-93 coordinates) in a directory of its own, named by the content it holds
(dataset id, revision, last write, count: ``LayerRows.token``). At the next start the arrays are
memory-mapped (nothing is parsed; pages are read when used) and only the STRtree is rebuilt.
A file whose name does not match the dataset's current content is never read; a file that
cannot be read is ignored (the layer is built from the database). Files are written with mode
0600 in a directory of mode 0700: they hold what the database holds. Personal datasets are
never written (``LayerRows.token`` empty); ``prune`` removes the files of datasets gone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from app.geo.index import Layer, PropertyTable, Texts

__all__ = ["LayerStore"]

log = logging.getLogger(__name__)
FORMAT = 1


def _key(slug: str, token: str) -> str:
    return hashlib.sha256(f"{FORMAT}:{slug}:{token}".encode()).hexdigest()[:24]


class LayerStore:
    """Layer files under ``root`` (one directory per dataset, one sub-directory per content)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    def _dir(self, slug: str) -> Path:
        if not slug or "/" in slug or slug.startswith("."):
            raise ValueError(f"bad dataset slug {slug!r}")
        return self.root / slug

    def load(self, slug: str, token: str) -> Layer | None:
        """The layer kept for ``token``, memory-mapped; None when there is none (or unreadable)."""
        if not token:
            return None
        where = self._dir(slug) / _key(slug, token)
        meta_path = where / "meta.json"
        if not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            if meta.get("format") != FORMAT or meta.get("token") != token:
                return None
            return _read(where, meta)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("layer file of %s unreadable (%s): built from the database", slug, exc)
            return None

    def save(self, layer: Layer, token: str) -> bool:
        """Write ``layer`` for ``token`` (atomically) and remove the dataset's older files."""
        if not token:
            return False
        try:
            arrays = _arrays(layer)
        except (ValueError, TypeError) as exc:  # e.g. mixed geometry types: not kept
            log.info("layer %s not kept in a file: %s", layer.slug, exc)
            return False
        meta = {
            "format": FORMAT,
            "token": token,
            "slug": layer.slug,
            "revision": layer.revision,
            "geometry_type": layer.geometry_type,
            **arrays.pop("__meta__"),
        }
        with self._lock:
            base = self._dir(layer.slug)
            try:
                self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
                base.mkdir(mode=0o700, exist_ok=True)
                final = base / _key(layer.slug, token)
                if final.exists():
                    return True
                tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=base))
                for name, value in arrays.items():
                    _write(tmp / f"{name}.npy", value)
                _write_text(tmp / "meta.json", json.dumps(meta))
                try:
                    tmp.rename(final)
                except OSError:  # another process wrote it meanwhile
                    shutil.rmtree(tmp, ignore_errors=True)
                for other in base.iterdir():
                    if other.name != final.name:
                        shutil.rmtree(other, ignore_errors=True)
            except OSError as exc:
                log.warning("layer file of %s not written: %s", layer.slug, exc)
                return False
        return True

    def save_later(self, layer: Layer, token: str) -> threading.Thread | None:
        """:meth:`save` in a daemon thread (off the request that built the layer)."""
        if not token:
            return None
        thread = threading.Thread(
            target=self.save, args=(layer, token), name=f"layer-file-{layer.slug}", daemon=True
        )
        thread.start()
        return thread

    def prune(self, keep: set[str]) -> None:
        """Remove the files of every dataset not in ``keep`` (datasets gone or now personal)."""
        if not self.root.is_dir():
            return
        with self._lock:
            for entry in self.root.iterdir():
                if entry.is_dir() and entry.name not in keep:
                    shutil.rmtree(entry, ignore_errors=True)


def _write(path: Path, value: np.ndarray) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        np.save(f, value, allow_pickle=False)


def _write_text(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _texts_arrays(prefix: str, texts: Texts) -> dict[str, np.ndarray]:
    buf, off, order = texts.parts()
    out = {f"{prefix}_buf": np.frombuffer(buf, dtype=np.uint8), f"{prefix}_off": off}
    if order is not None:
        out[f"{prefix}_order"] = order
    return out


def _arrays(layer: Layer) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out.update(_texts_arrays("ids", layer.ids))
    out.update(_texts_arrays("props", layer.properties.texts))
    meta: dict[str, Any] = {"kind": layer.kind, "n": len(layer)}
    if layer.kind == "point":
        assert layer.x is not None and layer.y is not None
        assert layer.lon is not None and layer.lat is not None
        out.update(x=layer.x, y=layer.y, lon=layer.lon, lat=layer.lat)
    else:
        assert layer.geoms is not None
        gtype, coords, offsets = shapely.to_ragged_array(layer.geoms)
        out["coords"] = coords
        for k, o in enumerate(offsets):
            out[f"offsets{k}"] = o
        meta.update(ragged_type=int(gtype), offsets=len(offsets))
    out["__meta__"] = meta
    return out


def _load(where: Path, name: str) -> np.ndarray:
    value: np.ndarray = np.load(where / f"{name}.npy", mmap_mode="r", allow_pickle=False)
    return value


def _texts(where: Path, prefix: str) -> Texts:
    buf = _load(where, f"{prefix}_buf")
    order = _load(where, f"{prefix}_order") if (where / f"{prefix}_order.npy").exists() else None
    view = memoryview(buf) if len(buf) else b""  # type: ignore[arg-type]
    return Texts(view, _load(where, f"{prefix}_off"), order)


def _read(where: Path, meta: dict[str, Any]) -> Layer:
    ids = _texts(where, "ids")
    props = PropertyTable(_texts(where, "props"))
    if len(ids) != meta["n"] or len(props) != meta["n"]:
        raise ValueError("row counts differ")
    if meta["kind"] == "point":
        return Layer(
            meta["slug"],
            meta["revision"],
            meta["geometry_type"],
            ids,
            props,
            x=_load(where, "x"),
            y=_load(where, "y"),
            lon=_load(where, "lon"),
            lat=_load(where, "lat"),
        )
    offsets = tuple(_load(where, f"offsets{k}") for k in range(meta["offsets"]))
    geoms = shapely.from_ragged_array(
        shapely.GeometryType(meta["ragged_type"]), _load(where, "coords"), offsets
    )
    if len(geoms) != meta["n"]:
        raise ValueError("geometry count differs")
    return Layer(meta["slug"], meta["revision"], meta["geometry_type"], ids, props, geoms=geoms)
