"""Running the response (PCS / PICS): the crisis directory and call-outs, the vulnerable-persons
call campaign, reception centres (CARE), means and tasks (issue 18).

One module per part: :mod:`.phones` (French numbers), :mod:`.contacts` (the directory, its
import and its audited reads), :mod:`.callouts`, :mod:`.calls` (under a break-glass grant on the
register), :mod:`.centres`, :mod:`.means`, :mod:`.tasks`, and :mod:`.summary` (counts for the
dashboard, the tablet, the report and the EMSI message). Domain code: no Flask; functions take
the database and ``now``. Every per-event record is an append-only history (the state at any
past time can be rebuilt) whose changes write their main-courante entry (calls: their audit
record only) and audit record in one transaction.
"""

from __future__ import annotations

from . import callouts, calls, centres, contacts, means, phones, tasks
from .common import PcsError
from .summary import Summary, summarise

__all__ = [
    "PcsError",
    "Summary",
    "callouts",
    "calls",
    "centres",
    "contacts",
    "means",
    "phones",
    "summarise",
    "tasks",
]
