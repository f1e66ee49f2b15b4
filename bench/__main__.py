"""Run every benchmark in bench/ and write docs/benchmarks.md.

    python -m bench [--quick] [--only NAME ...] [--update] [--output PATH]

Each ``bench/bench_*.py`` present is run in its own subprocess (``python -m bench.<name>``, with
``--quick`` when asked and when the module accepts it), so that one benchmark's memory and caches
do not colour the next one's figures, and a failing benchmark does not stop the others. The
report gives the machine (CPU model, cores, memory), the Python and library versions, then each
benchmark's own output (its tables put our figures beside the peer's). With ``--only NAME
--update`` the named sections are measured again and the others are kept from the file as it
was (each section says when it was run).
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import re
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT = BENCH_DIR.parent
ORDER = (
    "bench_impact",
    "bench_api",
    "bench_restart",
    "bench_memory",
    "bench_cli",
    "bench_import",
    "bench_departement",
    "bench_render",
    "bench_report",
    "bench_load",
    "bench_poll",
)
LIBRARIES = (
    "Flask",
    "gunicorn",
    "sqlite-utils",
    "shapely",
    "pyproj",
    "numpy",
    "reportlab",
    "geopandas",
    "pandas",
    "APScheduler",
    "Flask-Limiter",
    "argon2-cffi",
    "psutil",
    "pyogrio",
    "pyarrow",
)


def discover() -> list[str]:
    """The benchmark modules present, in a fixed order (known ones first)."""
    found = sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))
    return [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]


def summary(name: str) -> str:
    """The first line of a benchmark module's docstring."""
    try:
        tree = ast.parse((BENCH_DIR / f"{name}.py").read_text("utf-8"))
    except (OSError, SyntaxError):
        return ""
    doc = ast.get_docstring(tree) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def accepts_quick(name: str) -> bool:
    return "--quick" in (BENCH_DIR / f"{name}.py").read_text("utf-8")


def machine() -> list[tuple[str, str]]:
    """CPU model, cores, memory, OS: what the figures depend on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    os_name = platform.platform()
    try:
        release = dict(
            line.split("=", 1)
            for line in Path("/etc/os-release").read_text().splitlines()
            if "=" in line
        )
        os_name = release.get("PRETTY_NAME", os_name).strip('"') + f" ({platform.release()})"
    except OSError:
        pass
    return [
        ("CPU", cpu),
        ("cores (nproc)", str(os.cpu_count())),
        (
            "usable cores",
            str(len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else "?",
        ),
        ("memory", memory),
        ("OS", os_name),
    ]


def versions() -> list[tuple[str, str]]:
    """Python, SQLite, GEOS/PROJ and the libraries the benchmarks exercise."""
    out = [
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("SQLite", sqlite3.sqlite_version),
    ]
    try:
        import shapely

        out.append(("GEOS", shapely.geos_version_string))
    except ImportError:
        pass
    try:
        import pyproj

        out.append(("PROJ", pyproj.proj_version_str))
    except ImportError:
        pass
    try:
        import pyogrio

        out.append(("GDAL (pyogrio's)", pyogrio.__gdal_version_string__))
    except ImportError:
        pass
    try:
        done = subprocess.run(["ogr2ogr", "--version"], capture_output=True, text=True, check=False)
        out.append(("ogr2ogr", done.stdout.strip() or "?"))
    except OSError:
        out.append(("ogr2ogr", "not installed"))
    for lib in LIBRARIES:
        try:
            out.append((lib, metadata.version(lib)))
        except metadata.PackageNotFoundError:
            out.append((lib, "not installed"))
    return out


def run(name: str, quick: bool, timeout: float) -> tuple[int, float, str, str]:
    """Run one benchmark module; return (exit code, seconds, stdout, stderr tail)."""
    cmd = [sys.executable, "-m", f"bench.{name}"]
    if quick and accepts_quick(name):
        cmd.append("--quick")
    t0 = time.perf_counter()
    try:
        done = subprocess.run(
            cmd, cwd=PROJECT, capture_output=True, text=True, timeout=timeout, check=False
        )
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        code = -1
        stdout = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode()
        stderr = f"timed out after {timeout:.0f} s"
    tail = "\n".join(stderr.strip().splitlines()[-15:])
    return code, time.perf_counter() - t0, stdout, tail


def _table(rows: list[tuple[str, str]]) -> list[str]:
    return ["| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows]]


def target_lines(out: str) -> list[tuple[str, str, str]]:
    """``target: WHAT: MEASURED: STATE`` lines of a benchmark's output."""
    found = []
    for line in out.splitlines():
        if line.startswith("target: "):
            body = line[len("target: ") :]
            what, _, rest = body.partition(": ")
            measured, _, state = rest.rpartition(": ")
            found.append((what, measured, state))
    return found


Result = tuple[str, list[str], int, float, str, str]


def _written_on(text: str) -> str | None:
    """When a report was written (its first line: "Written by … on DATE")."""
    found = re.search(r"\bon (\d{4}-\d\d-\d\d \d\d:\d\d UTC)", text.split("\n## ", 1)[0])
    return found.group(1) if found else None


def kept_sections(path: Path) -> dict[str, tuple[str, str]]:
    """The sections of an existing report: name -> (summary row, section text)."""
    if not path.exists():
        return {}
    text = path.read_text("utf-8")
    row = re.compile(r"^\| \[(bench_\w+)\]\(#\1\) .*$", re.M)
    rows: dict[str, str] = {}
    for m in row.finditer(text):  # the Summary's row (the Targets table comes after it)
        rows.setdefault(m.group(1), m.group(0))
    written = _written_on(text)
    out: dict[str, tuple[str, str]] = {}
    parts = re.split(r"^## (bench_\w+)\n", text, flags=re.M)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name not in rows:
            continue
        if written and ", run on " not in body:  # a section of a whole run: its run's date
            body = re.sub(r"^(`python -m [^`]+` — \d+ s)$", rf"\1, run on {written}",
                          body, count=1, flags=re.M)  # fmt: skip
        out[name] = (rows[name], f"## {name}\n{body}".rstrip() + "\n")
    return out


_RAN_ON = re.compile(r"run on (\d{4}-\d\d-\d\d \d\d:\d\d UTC)")
_SETTING = "### Machine and versions of the run of "


def _tables(block: str) -> list[str]:
    """The ``| … |`` lines of a block of Markdown (its key/value tables)."""
    return [line for line in block.splitlines() if line.startswith("|")]


def setting() -> list[str]:
    """This run's machine and versions, as the table lines they are written with."""
    return [*_table(machine()), *_table(versions())]


def kept_settings(path: Path) -> dict[str, list[str]]:
    """Where each earlier run of an existing report ran: date -> its machine and versions tables.

    The report's own run (its top ``## Machine`` and ``## Versions``) and every run it already
    kept sections of (``### Machine and versions of the run of DATE``)."""
    if not path.exists():
        return {}
    text = path.read_text("utf-8")
    out: dict[str, list[str]] = {}
    written = _written_on(text)
    own = re.search(r"^## Machine\n(.*?)^## Versions\n(.*?)^#", text, re.M | re.S)
    if written and own:
        out[written] = _tables(own.group(1)) + _tables(own.group(2))
    for m in re.finditer(
        rf"^{re.escape(_SETTING)}(.+?)\n(.*?)(?=^#|^>)", text, re.M | re.S
    ):  # fmt: skip
        out.setdefault(m.group(1).strip(), _tables(m.group(2)))
    return out


def _settings_lines(
    kept: dict[str, tuple[str, str]], settings: dict[str, list[str]], current: list[str]
) -> list[str]:
    """Where the kept sections ran: each earlier run's date, said to be this machine with these
    versions, or given with its own tables (once per run, however many updates follow)."""
    dates = sorted({m.group(1) for _, text in kept.values() if (m := _RAN_ON.search(text))})
    same = [d for d in dates if settings.get(d) == current]
    lines: list[str] = []
    if same:
        lines += [f"The kept sections run on {', '.join(same)} ran on this machine with these"
                  " versions.", ""]  # fmt: skip
    for date in dates:
        if date in same:
            continue
        lines += [f"{_SETTING}{date}", ""]
        for line in settings.get(date) or ["(not recorded)"]:
            if line == "| | |" and lines[-1] != "":
                lines.append("")  # the versions table after the machine's
            lines.append(line)
        lines.append("")
    return lines


def render(
    results: list[Result],
    quick: bool,
    kept: dict[str, tuple[str, str]] | None = None,
    settings: dict[str, list[str]] | None = None,
) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    kept = kept or {}
    lines = [
        "# Benchmarks",
        "",
        f"Written by `python -m bench{' --quick' if quick else ''}` (`make bench`) on {stamp}."
        " Do not edit by hand: run it again.",
        "",
    ]
    if quick:
        lines += [
            "> **Quick run**: smaller sizes and shorter durations, for smoke checks. These are not",
            "> the reference figures; run `make bench` for those.",
            "",
        ]
    lines += ["## Machine", "", *_table(machine()), "", "## Versions", "", *_table(versions()), ""]
    if kept:
        lines += _settings_lines(kept, settings or {}, setting())
        lines += [
            "> Rows marked *(kept)* come from an earlier run (`--update` measured only the",
            "> others); each section says when it ran, and where is said above.",
            "",
        ]
    ran = {r[0]: r for r in results}
    order = [n for n in discover() if n in ran or n in kept]
    lines += ["## Summary", "", "| benchmark | what | status | time |", "|---|---|---|---|"]
    for name in order:
        if name not in ran:
            cells = kept[name][0].split(" | ")
            if len(cells) >= 4 and "(kept)" not in cells[2]:
                cells[2] += " *(kept)*"
            lines.append(" | ".join(cells))
            continue
        _name, _cmd, code, seconds, _out, _err = ran[name]
        status = "ok" if code == 0 else ("timed out" if code == -1 else f"exit {code}")
        lines.append(f"| [{name}](#{name}) | {summary(name)} | {status} | {seconds:.0f} s |")
    lines.append("")
    # The targets of each benchmark shown, in order: measured now, or read from a kept section.
    outputs = {r[0]: r[4] for r in results}
    outputs.update({n: kept[n][1] for n in kept if n not in outputs})
    shown = [n for n in discover() if n in outputs]
    targets = [(name, t) for name in shown for t in target_lines(outputs[name])]
    if targets:
        lines += [
            "## Targets",
            "",
            "Each figure is a ratio to a reference measured in the same run (or a size); the",
            "benchmark's own section says how. Judged on medians; the min is the figure least",
            "touched by other work on the machine.",
            "",
            "| benchmark | target | measured | state |",
            "|---|---|---|---|",
        ]
        for name, (what, measured, state) in targets:
            lines.append(f"| [{name}](#{name}) | {what} | {measured} | {state} |")
        lines.append("")
    for name in order:
        if name not in ran:
            lines += [kept[name][1]]
            continue
        name, cmd, code, seconds, out, err = ran[name]
        lines += [
            f"## {name}",
            "",
            summary(name),
            "",
            f"`{' '.join(cmd)}` — {seconds:.0f} s, run on {stamp}",
            "",
        ]
        lines += ["```text", out.rstrip() or "(no output)", "```", ""]
        if code != 0:
            lines += [f"**Failed** ({'timed out' if code == -1 else f'exit {code}'}):", ""]
            lines += ["```text", err or "(no error output)", "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller and shorter runs")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="e.g. bench_load bench_impact")
    parser.add_argument("--output", type=Path, default=PROJECT / "docs" / "benchmarks.md")
    parser.add_argument(
        "--update",
        action="store_true",
        help="with --only: keep the other benchmarks' sections of the existing output",
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds per benchmark")
    args = parser.parse_args(argv)
    names = discover()
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"no such benchmark: {', '.join(unknown)} (present: {', '.join(names)})")
        names = [n for n in names if n in args.only]
    timeout = args.timeout or (900.0 if args.quick else 3600.0)
    results = []
    for name in names:
        print(f"== {name} …", file=sys.stderr, flush=True)
        code, seconds, out, err = run(name, args.quick, timeout)
        cmd = ["python", "-m", f"bench.{name}"] + (
            ["--quick"] if args.quick and accepts_quick(name) else []
        )
        print(out, end="", flush=True)
        status = "ok" if code == 0 else f"FAILED ({code})"
        print(f"== {name}: {status} in {seconds:.0f} s", file=sys.stderr, flush=True)
        if code != 0 and err:
            print(err, file=sys.stderr)
        results.append((name, cmd, code, seconds, out, err))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    kept: dict[str, tuple[str, str]] = {}
    settings: dict[str, list[str]] = {}
    if args.update and args.only:
        kept = {k: v for k, v in kept_sections(args.output).items() if k not in args.only}
        settings = kept_settings(args.output)
    args.output.write_text(render(results, args.quick, kept, settings) + "\n", "utf-8")
    print(f"written: {args.output}", file=sys.stderr)
    return 0 if all(r[2] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
