"""The load side of the HTTP API benchmark (``http_api.py``): the ``wrk`` Lua
script, and one ``wrk`` run read back as numbers.

The script spreads requests round-robin over the pre-created sessions
(thread ``t`` of ``T`` sends request ``n`` to session ``(t + n·T) mod N``),
so concurrent appends rarely meet on one session. Appends send W1 turns
(a ~200 B user and a ~800 B assistant message, state delta ``{"turn": i,
"cart_items": i % 7}``) from a pool of pre-rendered bodies. Every request
carries the API key; the contenders without authentication ignore it. Its
``done`` hook prints one ``WRK_JSON`` line: request count, duration, error
counts (``status`` = responses 400 and up) and latency percentiles (µs).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from _common import TextPool

WRK = "wrk"

_LUA = r"""
local paths = {%(paths)s}
local bodies = {%(bodies)s}
local method = "%(method)s"
local headers = {["Content-Type"] = "application/json",
                 ["Authorization"] = "Bearer %(token)s"}
local nthreads = %(threads)d
local made = 0
local n = 0

function setup(thread)
  thread:set("tid", made)
  made = made + 1
end

function init(args)
  n = tid
end

function request()
  local i = n
  n = n + nthreads
  local body = nil
  if method == "POST" then
    body = bodies[math.floor(i / #paths) %% #bodies + 1]
  end
  return wrk.format(method, paths[i %% #paths + 1], headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %%d, "duration_us": %%d, "bytes": %%d, "connect": %%d, ' ..
    '"read": %%d, "write": %%d, "status": %%d, "timeout": %%d, "p50_us": %%d, ' ..
    '"p90_us": %%d, "p99_us": %%d, "mean_us": %%.1f, "max_us": %%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max))
end
"""


def w1_body(pool: TextPool, session: int, turn: int) -> dict[str, Any]:
    """One W1 append: two messages and the turn's state delta."""
    user, assistant = pool.turn(session, turn)
    return {"events": [{"role": "user", "content": user},
                       {"role": "assistant", "content": assistant}],
            "state_delta": {"turn": turn, "cart_items": turn % 7}}


def lua_script(op: str, paths: list[str], token: str, threads: int, bodies: int = 64) -> str:
    """The script for ``op`` (``append`` or ``get``) over session ``paths``."""
    pool = TextPool(seed=606)
    rendered = [json.dumps(w1_body(pool, 0, turn), separators=(",", ":"))
                for turn in range(bodies)]
    assert not any("]==]" in b for b in rendered)
    suffix = "/events" if op == "append" else "?last=20"
    return _LUA % {
        "paths": ", ".join(f'"{p}{suffix}"' for p in paths),
        "bodies": ", ".join(f"[==[{b}]==]" for b in rendered),
        "method": "POST" if op == "append" else "GET",
        "token": token, "threads": threads,
    }


@dataclass(frozen=True)
class Load:
    threads: int
    connections: int
    duration: float
    timeout: float = 10.0

    def command(self, script: str, port: int, duration: float | None = None) -> list[str]:
        seconds = self.duration if duration is None else duration
        return [WRK, f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds:g}s",
                f"--timeout={self.timeout:g}s", "--latency", "-s", script,
                f"http://127.0.0.1:{port}"]


def check_wrk() -> None:
    if shutil.which(WRK) is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")


def run_wrk(command: list[str]) -> dict[str, Any]:
    """Run ``wrk``; its ``WRK_JSON`` figures plus req/s, errors and the raw output."""
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no WRK_JSON line:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    result["req_s"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status",
                                                "timeout"))
    result["output"] = done.stdout
    return result
