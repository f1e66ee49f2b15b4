"""Progress of the imports running in this process, for the upload page's progress bar.

The console serves from one process with threads (DESIGN §6b): the request that imports a file
reports its progress here and the page polls it (a token the form carries, bound to the user).
Entries are dropped a while after they finish and the table is bounded.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

_lock = threading.Lock()
_MAX = 256
_KEEP_S = 300.0


@dataclass
class Job:
    fraction: float | None = None
    features: int = 0
    done: bool = False
    updated: float = 0.0


_jobs: dict[tuple[int, str], Job] = {}


def new_token() -> str:
    return secrets.token_urlsafe(12)


def valid_token(token: str) -> bool:
    return 8 <= len(token) <= 64 and all(c.isalnum() or c in "-_" for c in token)


def start(user_id: int, token: str) -> Job:
    now = time.monotonic()
    with _lock:
        for key in [k for k, j in _jobs.items() if now - j.updated > _KEEP_S]:
            del _jobs[key]
        while len(_jobs) >= _MAX:
            _jobs.pop(next(iter(_jobs)))
        job = _jobs[(user_id, token)] = Job(updated=now)
    return job


def update(job: Job, fraction: float | None, features: int) -> None:
    job.fraction, job.features, job.updated = fraction, features, time.monotonic()


def finish(job: Job) -> None:
    job.done, job.updated = True, time.monotonic()


def get(user_id: int, token: str) -> Job | None:
    with _lock:
        return _jobs.get((user_id, token))
