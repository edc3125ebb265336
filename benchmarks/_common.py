"""Shared helpers for the workload benchmarks (standard library only).

- deterministic seeded message text;
- latency samples and their summary (count, ops/s, p50, p99, first/last means);
- process measurements: peak RSS, store size on disk;
- ``import sessiondb`` cost and a check that it pulls in no third-party module;
- plain-text tables.
"""

from __future__ import annotations

import compileall
import hashlib
import importlib.util
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
from array import array
from collections.abc import Iterable, Sequence
from time import perf_counter_ns

__all__ = [
    "Samples",
    "TextPool",
    "check_third_party_imports",
    "disk_bytes",
    "format_table",
    "import_time",
    "median",
    "peak_rss_kib",
    "package_dir",
    "perf_counter_ns",
    "snapshot_package",
]

_VOCABULARY = (
    "the a order cart item price ship delivery return refund customer agent tool call "
    "result please thanks size colour blue red green small large medium week day today "
    "tomorrow address payment card invoice discount code total tax stock available "
    "warehouse track parcel status update question answer help need want would could "
    "should check find search book flight hotel room night date time confirm cancel"
)
_WORDS = _VOCABULARY.split()


class TextPool:
    """Deterministic message text: pools of user (~200 B) and assistant (~800 B)
    messages drawn from a seeded generator, plus a per-turn prefix so no two
    messages are equal. Pools keep text generation out of the timed code and
    its memory flat whatever the number of turns."""

    def __init__(self, seed: int, size: int = 64) -> None:
        rng = random.Random(seed)
        self.user = [_sentence(rng, 200) for _ in range(size)]
        self.assistant = [_sentence(rng, 800) for _ in range(size)]
        self._rng = random.Random(seed + 1)

    def turn(self, session: int, turn: int) -> tuple[str, str]:
        rng = self._rng
        prefix = f"[s{session} t{turn}] "
        return (prefix + rng.choice(self.user), prefix + rng.choice(self.assistant))


def _sentence(rng: random.Random, target: int) -> str:
    size = rng.randint(int(target * 0.9), int(target * 1.1))
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


class Samples:
    """Latencies of one operation, in nanoseconds (compact: an ``array``)."""

    def __init__(self) -> None:
        self.ns = array("q")

    def add(self, ns: int) -> None:
        self.ns.append(ns)

    def summary(self, edge: int = 100) -> dict[str, float]:
        """count, total, ops/s (1 / mean latency), mean, p50, p99 (µs) and the
        mean and median of the first and of the last ``edge`` samples."""
        data = self.ns
        n = len(data)
        if n == 0:
            return {"count": 0}
        ordered = sorted(data)
        total = sum(data)
        head = data[:edge]
        tail = data[-edge:]
        head_sorted = sorted(head)
        tail_sorted = sorted(tail)
        return {
            "count": n,
            "total_s": total / 1e9,
            "ops_s": n / (total / 1e9),
            "mean_us": total / n / 1e3,
            "p50_us": _rank(ordered, 0.50) / 1e3,
            "p99_us": _rank(ordered, 0.99) / 1e3,
            "first_mean_us": sum(head) / len(head) / 1e3,
            "last_mean_us": sum(tail) / len(tail) / 1e3,
            "first_p50_us": _rank(head_sorted, 0.50) / 1e3,
            "last_p50_us": _rank(tail_sorted, 0.50) / 1e3,
        }


def _rank(ordered: Sequence[int], q: float) -> float:
    """Nearest-rank percentile of sorted data."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def peak_rss_kib() -> int:
    """Peak resident set size of this process so far, KiB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def disk_bytes(path: str) -> dict[str, int]:
    """Sizes of a SQLite database and its WAL and shared-memory files."""
    sizes = {}
    for suffix, name in (("", "db"), ("-wal", "wal"), ("-shm", "shm")):
        try:
            sizes[name] = os.path.getsize(path + suffix)
        except OSError:
            sizes[name] = 0
    return sizes


def package_dir(package: str = "sessiondb") -> str:
    """The directory ``import package`` would load, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"cannot find the package {package!r}")
    return next(iter(spec.submodule_search_locations))


def snapshot_package(dest: str, package: str = "sessiondb") -> dict[str, str]:
    """Copy the package's ``.py`` files under ``dest`` (put ``dest`` first on
    ``PYTHONPATH`` to measure that frozen copy: the library may change while
    a benchmark runs). The copy is compiled to bytecode, as installing a
    wheel does: with ``PYTHONDONTWRITEBYTECODE`` set, an uncompiled copy would
    be compiled again by every process, and the import figure would measure
    the compiler. Returns where it came from, a digest of the copied sources
    and the git commit of the checkout (read-only ``git rev-parse``)."""
    root = package_dir(package)
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        target = os.path.join(dest, package, os.path.relpath(folder, root))
        os.makedirs(target, exist_ok=True)
        for name in sorted(files):
            if name.endswith((".py", ".pyi", ".typed")):
                with open(os.path.join(folder, name), "rb") as f:
                    data = f.read()
                digest.update(os.path.relpath(os.path.join(folder, name), root).encode())
                digest.update(data)
                with open(os.path.join(target, name), "wb") as f:
                    f.write(data)
    compileall.compile_dir(os.path.join(dest, package), quiet=1)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"source": root, "src_sha256": digest.hexdigest()[:12], "git_head": commit}


# -- import cost ------------------------------------------------------------
def import_time(module: str, runs: int = 21, python: str = sys.executable,
                env: dict[str, str] | None = None) -> dict[str, float]:
    """Wall time of ``python -c "import module"`` minus ``python -c "pass"``
    (medians over ``runs`` alternating runs), plus the module's cumulative
    time as ``-X importtime`` reports it (median)."""
    bare: list[float] = []
    loaded: list[float] = []
    cumulative: list[float] = []
    for _ in range(runs):
        for code, sink in (("pass", bare), (f"import {module}", loaded)):
            start = perf_counter_ns()
            subprocess.run([python, "-c", code], check=True, env=env)
            sink.append((perf_counter_ns() - start) / 1e6)
        done = subprocess.run([python, "-X", "importtime", "-c", f"import {module}"],
                              check=True, capture_output=True, text=True, env=env)
        cumulative.append(_importtime_cumulative(done.stderr, module) / 1e3)
    return {
        "python_pass_ms": median(bare),
        "python_import_ms": median(loaded),
        "import_ms": median(loaded) - median(bare),
        "importtime_cumulative_ms": median(cumulative),
    }


def _importtime_cumulative(report: str, module: str) -> float:
    """The cumulative µs of ``module`` in a ``-X importtime`` report."""
    for line in report.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return float(parts[1])
    raise ValueError(f"{module} not found in the -X importtime report")


_NEW_MODULES = """
import json, sys
before = set(sys.modules)
import {module}
new = sorted(set(sys.modules) - before)
tops = sorted({{m.split('.')[0] for m in new}})
third = [t for t in tops if t != '{module}' and t not in sys.stdlib_module_names
         and not t.startswith('_')]
print(json.dumps({{"modules": len(new), "top_level": tops, "third_party": third}}))
"""


def check_third_party_imports(module: str, python: str = sys.executable,
                              env: dict[str, str] | None = None) -> dict:
    """Which top-level modules ``import module`` loads, and which of them are
    not in the standard library (private ``_x`` extension modules count as
    stdlib: they are CPython's accelerators)."""
    done = subprocess.run([python, "-c", _NEW_MODULES.format(module=module)],
                          check=True, capture_output=True, text=True, env=env)
    return json.loads(done.stdout)


# -- tables -----------------------------------------------------------------
def format_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table (readable as plain text too)."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_is_number(r[i]) for r in cells[1:]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        padded = (c.rjust(w) if num else c.ljust(w)
                  for c, w, num in zip(row, widths, numeric, strict=True))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        "-" * (w + 1) + (":" if num else "-") for w, num in zip(widths, numeric, strict=True)
    ) + "|"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value >= 1000:
            return f"{value:,.0f}"
        if value >= 100:
            return f"{value:.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "").rstrip("x"))
    except ValueError:
        return False
    return True
