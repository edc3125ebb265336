"""W1's figures: medians over repeats, ratios against the raw baselines, the
tables and the targets (see benchmarks/w1.py for what is measured)."""

from __future__ import annotations

from typing import Any

from _common import format_table, median

#: SQLite: ops/s vs raw, append and load alike (sync and async against the
#: same sqlite3 baseline); load growth; append growth no worse than raw's.
#: SQLite: ops/s floors against each contender's baseline (raw; for
#: encryption at rest, the same store without it).
SQLITE_TARGETS = {"sync": 0.7, "async": 0.5, "sync_enc": 0.8}
SQLITE_LOAD_GROWTH = 1.3
#: Server engines: sync ops/s vs its raw driver (a target); async vs the
#: driver's async API (shown, not a target); long-variant growth.
SERVER_SYNC_TARGET = 0.7
SERVER_GROWTH = 1.2
NAN = float("nan")


def aggregate(name: str, runs: list[dict[str, dict]], baseline: str,
              size_keys: tuple[str, ...]) -> dict[str, Any]:
    """Medians over the repeats; ratios as medians of per-repeat ratios
    against ``baseline`` in the same repeat."""
    mine = [r[name] for r in runs]
    out: dict[str, Any] = {"baseline": baseline}
    for op in ("append", "load"):
        stats = [m[op] for m in mine]
        agg = {key: median(s[key] for s in stats) for key in stats[0]}
        agg["growth"] = median(s["last_mean_us"] / s["first_mean_us"] for s in stats)
        agg["growth_p50"] = median(s["last_p50_us"] / s["first_p50_us"] for s in stats)
        if baseline in runs[0]:
            ratios = [r[name][op]["ops_s"] / r[baseline][op]["ops_s"] for r in runs]
            agg["vs_raw"] = median(ratios)
            agg["vs_raw_min"], agg["vs_raw_max"] = min(ratios), max(ratios)
        out[op] = agg
    for key in (*size_keys, "peak_rss_kib", "peak_kib_setup", "peak_kib_at_10pct", "wall_s"):
        out[key] = median(m[key] for m in mine)
    out["rss_growth_kib"] = median(m["peak_rss_kib"] - m["peak_kib_at_10pct"] for m in mine)
    return out


def _header(report: dict[str, Any]) -> list[str]:
    m = report["machine"]
    load = (f"1-min load average {m.get('loadavg_1m_before', NAN):.2f} before, "
            f"{m.get('loadavg_1m_after', NAN):.2f} after")
    shape = f"{report['sessions']} session(s) x {report['turns']} turns"
    if report.get("engine", "sqlite") == "sqlite":
        lines = [
            f"W1 {report['variant']}: {shape}, WAL, synchronous={report['synchronous']}, "
            f"median of {report['repeat']} repeats",
            f"CPython {m['python']}, SQLite {m['sqlite']}, {m['cpus']} CPUs, {m['platform']}, "
            f"{load}",
        ]
    else:
        s = report["server"]
        lines = [
            f"W1 {report['variant']} on {s['server']}: {shape}, {s['durability']}, "
            f"median of {report['repeat']} repeats",
            f"CPython {m['python']}, {s['driver']}, {m['cpus']} CPUs, {m['platform']}, {load}",
        ]
    code = report["code"]
    lines.append(f"sessiondb source {code['src_sha256']} (git HEAD {code['git_head']}"
                 f" + working tree; measured: {code['measured']})")
    if "warning" in code:
        lines.append(f"WARNING: {code['warning']}")
    return [*lines, ""]


def render(report: dict[str, Any]) -> str:
    c = report["contenders"]
    long = report["variant"] == "long"
    server = report.get("engine", "sqlite") != "sqlite"
    lines = _header(report)
    headers = ["contender", "op", "count", "ops/s", "p50 µs", "p99 µs", "vs raw",
               "vs raw, range"]
    if server:
        headers.append("raw =")
    if long:
        headers += ["first100 mean µs", "last100 mean µs", "growth", "growth p50"]
    rows = []
    for name, agg in c.items():
        for op in ("append", "load"):
            a = agg[op]
            row = [name, op, int(a["count"]), a["ops_s"], a["p50_us"], a["p99_us"],
                   f"{a.get('vs_raw', NAN):.2f}x",
                   f"{a.get('vs_raw_min', NAN):.2f}..{a.get('vs_raw_max', NAN):.2f}"]
            if server:
                row.append(agg.get("baseline", "raw"))
            if long:
                row += [a["first_mean_us"], a["last_mean_us"], f"{a['growth']:.2f}x",
                        f"{a['growth_p50']:.2f}x"]
            rows.append(row)
    lines += [format_table(headers, rows), ""]
    lines += [_sizes(report), ""]
    if "import" in report:
        imp = report["import"]
        lines += [
            f"import sessiondb: {imp['import_ms']:.1f} ms over bare startup "
            f"({imp['python_import_ms']:.1f} vs {imp['python_pass_ms']:.1f} ms); "
            f"-X importtime cumulative {imp['importtime_cumulative_ms']:.1f} ms; "
            f"{imp['modules']} modules loaded; third-party: {imp['third_party'] or 'none'}",
            "",
        ]
    lines += [format_table(["target", "measured", "met"], targets(report)), ""]
    return "\n".join(lines)


def _rss(agg: dict[str, Any]) -> list[str]:
    return [f"{agg['peak_kib_setup'] / 1024:.1f}", f"{agg['peak_kib_at_10pct'] / 1024:.1f}",
            f"{agg['peak_rss_kib'] / 1024:.1f}", f"{agg['rss_growth_kib'] / 1024:.2f}"]


_RSS_HEADERS = ["peak RSS setup MiB", "peak RSS @10% MiB", "peak RSS end MiB",
                "RSS growth 10%→end MiB"]


def _sizes(report: dict[str, Any]) -> str:
    c = report["contenders"]
    engine = report.get("engine", "sqlite")
    if engine == "sqlite":
        rows = [[name, f"{agg['disk_open_bytes'] / 2**20:.2f}",
                 f"{agg['disk_closed_bytes'] / 2**20:.2f}", *_rss(agg)]
                for name, agg in c.items()]
        return format_table(["contender", "disk open MiB (db+wal)", "disk closed MiB",
                             *_RSS_HEADERS], rows)
    events = 2 * (report["sessions"] * report["turns"] + report.get("warmup", 0))
    what = ("store MiB (tables+indexes+TOAST)" if engine == "postgres"
            else "store MiB (MEMORY USAGE of its keys)")
    headers = ["contender", what, "bytes/event"]
    if engine != "postgres":
        headers.append("keys")
    rows = []
    for name, agg in c.items():
        row = [name, f"{agg['store_bytes'] / 2**20:.2f}", f"{agg['store_bytes'] / events:.0f}"]
        if engine != "postgres":
            row.append(f"{agg['store_keys']:.0f}")
        rows.append(row + _rss(agg))
    return format_table([*headers, *_RSS_HEADERS], rows)


def _verdict(ok: bool) -> str:
    return "yes" if ok else "NO"


def targets(report: dict[str, Any]) -> list[list[str]]:
    if report.get("engine", "sqlite") != "sqlite":
        return _server_targets(report)
    c = report["contenders"]
    rows: list[list[str]] = []
    if "raw" not in c:
        return rows
    for name, floor in SQLITE_TARGETS.items():
        for op in ("append", "load"):
            if name in c:
                r = c[name][op]["vs_raw"]
                rows.append([f"{name} {op} ops/s >= {floor}x {c[name].get('baseline', 'raw')}",
                             f"{r:.2f}x", _verdict(r >= floor)])
    if report["variant"] == "long":
        raw_growth = c["raw"]["append"]["growth"]
        for name in ("sync", "async"):
            if name not in c:
                continue
            g = c[name]["load"]["growth"]
            rows.append([f"{name} load growth <= {SQLITE_LOAD_GROWTH}", f"{g:.2f}x",
                         _verdict(g <= SQLITE_LOAD_GROWTH)])
            g = c[name]["append"]["growth"]
            rows.append([f"{name} append growth <= raw's ({raw_growth:.2f}x)", f"{g:.2f}x",
                         _verdict(g <= raw_growth)])
    rows += _rss_targets(c)
    return rows


def _server_targets(report: dict[str, Any]) -> list[list[str]]:
    c = report["contenders"]
    rows: list[list[str]] = []
    for name in ("sync", "async"):
        if name not in c or "vs_raw" not in c[name]["append"]:
            continue
        base = c[name]["baseline"]
        for op in ("append", "load"):
            r = c[name][op]["vs_raw"]
            if name == "sync":
                rows.append([f"sync {op} ops/s >= {SERVER_SYNC_TARGET}x {base}", f"{r:.2f}x",
                             _verdict(r >= SERVER_SYNC_TARGET)])
            else:
                rows.append([f"(shown, no target) async {op} ops/s vs {base}", f"{r:.2f}x",
                             "-"])
    if report["variant"] == "long":
        for name in ("sync", "async"):
            for op in ("append", "load") if name in c else ():
                g = c[name][op]["growth"]
                rows.append([f"{name} {op} growth (last100/first100 mean) <= {SERVER_GROWTH}",
                             f"{g:.2f}x (p50 {c[name][op]['growth_p50']:.2f}x)",
                             _verdict(g <= SERVER_GROWTH)])
    return rows + _rss_targets(c)


def _rss_targets(c: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name in ("sync", "async"):
        base = c.get(name, {}).get("baseline", "raw")
        if name in c and base in c:
            raw_rss = c[base]["rss_growth_kib"]
            g = c[name]["rss_growth_kib"]
            rows.append([f"{name} peak RSS flat 10%→end (<= {base}'s {raw_rss / 1024:.2f} MiB "
                         "+ 1 MiB)", f"{g / 1024:.2f} MiB", _verdict(g <= raw_rss + 1024)])
    return rows
