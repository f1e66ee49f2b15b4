"""The command line's start: ``crisis-console report`` against ``crisis-console --help``.

    python -m bench.bench_cli [--rounds N]

On a copy of the demo database with a declared event, each round runs ``crisis-console --help``
then ``crisis-console report EVENT OUT.pdf`` (a real situation report: stored, numbered, its
PDF written), each a fresh process; ``--rounds`` (>= 5) rounds; min and median wall time; the
ratio is report / help in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import print_table
from bench.scale import territory

TARGET = 1.5


def _run(env: dict[str, str], *args: str) -> float:
    exe = Path(sys.executable).with_name("crisis-console")
    t0 = time.perf_counter()
    done = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"crisis-console {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the same (it is quick)")
    parser.add_argument("--rounds", type=int, default=None, help="runs of each (>= 5)")
    args = parser.parse_args(argv)
    rounds = max(5, args.rounds or 7)
    work = Path(tempfile.mkdtemp(prefix="crisis-bench-cli-"))
    demo = territory("demo", work)
    event = demo.events["toxic"]
    times: dict[str, list[float]] = {"help": [], "report": []}
    for r in range(rounds):
        times["help"].append(_run(demo.env, "--help"))
        times["report"].append(_run(demo.env, "report", str(event), str(work / f"ps-{r}.pdf")))
    rows = []
    for name, label in (("help", "crisis-console --help"), ("report", "crisis-console report")):
        v = times[name]
        rows.append([label, min(v), statistics.median(v)])
    print(f"Fresh processes, {rounds} alternating runs of each; wall seconds\n")
    print_table(rows, ["command", "min", "median"])
    ratio = statistics.median(times["report"]) / statistics.median(times["help"])
    lo = min(times["report"]) / min(times["help"])
    state = "met" if ratio <= TARGET else ("met on min only" if lo <= TARGET else "NOT met")
    print(
        f"\ntarget: crisis-console report / --help: {ratio:.2f} (min {lo:.2f}; target <= "
        f"{TARGET:g}): {state}"
    )
    import shutil

    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
