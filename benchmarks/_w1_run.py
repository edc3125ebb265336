"""W1's definition and its timed loops, shared by every engine.

- the workload's constants and the state delta of a turn;
- the sessiondb contenders (sync and async), which differ between engines
  only by their store URL;
- the timed loops: per turn of each session (round-robin), one **load**
  (state + last 20 events) then one **append** (2 events + the state delta),
  each call timed apart; peak RSS after setup and after 10% of the turns.

A contender is any object with ``create(user, sid)``, ``load(user, sid)``,
``append(user, sid, user_text, reply, turn)``, ``check(user, sid, turns)``
and ``close()`` (coroutines for an async contender); a sync one may have
``between()``, called before every load, untimed.
"""

from __future__ import annotations

from typing import Any

from _common import Samples, TextPool, peak_rss_kib, perf_counter_ns

APP = "w1"
WINDOW = 20
EDGE = 100  # turns in the "first" and "last" windows of the growth figures
VARIANTS = {"default": (20, 200), "long": (1, 10_000)}


def delta(turn: int) -> dict[str, int]:
    return {"turn": turn, "cart_items": turn % 7}


def events(user_text: str, reply: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": user_text}, {"role": "assistant", "content": reply}]


# -- sessiondb, sync and async ------------------------------------------------
def _keys(encrypted: bool) -> str | None:
    """A fresh key ring for the encrypting contenders (any key will do)."""
    if not encrypted:
        return None
    from sessiondb.crypto.keyring import new_key

    return f"bench:{new_key()}"


class SyncStore:
    def __init__(self, url: str, encrypted: bool = False) -> None:
        import sessiondb

        self.store = sessiondb.open_store(url, keys=_keys(encrypted))

    def create(self, user: str, sid: str) -> None:
        self.store.create(APP, user, sid)

    def load(self, user: str, sid: str) -> Any:
        return self.store.get(APP, user, sid, last=WINDOW)

    def append(self, user: str, sid: str, user_text: str, reply: str, turn: int) -> int:
        return self.store.append(APP, user, sid, events(user_text, reply),
                                 state_delta=delta(turn))

    def check(self, user: str, sid: str, turns: int) -> None:
        check_session(self.load(user, sid), turns)

    def close(self) -> None:
        self.store.close()


class AsyncStore:
    def __init__(self, url: str, encrypted: bool = False) -> None:
        import sessiondb

        self.store = sessiondb.open_async_store(url, keys=_keys(encrypted))

    async def create(self, user: str, sid: str) -> None:
        await self.store.create(APP, user, sid)

    async def load(self, user: str, sid: str) -> Any:
        return await self.store.get(APP, user, sid, last=WINDOW)

    async def append(self, user: str, sid: str, user_text: str, reply: str, turn: int) -> int:
        return await self.store.append(APP, user, sid, events(user_text, reply),
                                       state_delta=delta(turn))

    async def check(self, user: str, sid: str, turns: int) -> None:
        check_session(await self.load(user, sid), turns)

    async def close(self) -> None:
        await self.store.close()


def check_session(s: Any, turns: int) -> None:
    assert s.state["turn"] == turns - 1 and s.version == 2 * turns, s.state
    assert len(s.events) == min(WINDOW, 2 * turns) and s.events[-1].seq == 2 * turns


# -- the timed loops ----------------------------------------------------------
class Recorder:
    """Latencies per operation and the peak RSS along the way."""

    def __init__(self, turns: int) -> None:
        self.load = Samples()
        self.append = Samples()
        self.turns = turns
        self.rss: dict[str, int] = {}

    def mark(self, turn: int) -> None:
        """Record peak RSS after 10% of the turns (the memory-growth reference)."""
        if turn == max(1, self.turns // 10) - 1:
            self.rss["peak_kib_at_10pct"] = peak_rss_kib()


def _schedule(sessions: int) -> list[tuple[int, str, str]]:
    return [(k, f"user{k % 5}", f"session-{k}") for k in range(sessions)]


def run_sync(store: Any, sessions_n: int, turns: int, warmup: int, seed: int) -> Recorder:
    sessions = _schedule(sessions_n)
    texts = TextPool(seed)
    for _, user, sid in [*sessions, (-1, "warmup", "warmup")]:
        store.create(user, sid)
    for turn in range(warmup):  # code paths and statement cache, not timed
        store.load("warmup", "warmup")
        store.append("warmup", "warmup", *texts.turn(-1, turn), turn)
    rec = Recorder(turns)
    rec.rss["peak_kib_setup"] = peak_rss_kib()
    clock = perf_counter_ns
    between = getattr(store, "between", None)
    for turn in range(turns):
        for k, user, sid in sessions:
            user_text, reply = texts.turn(k, turn)
            if between is not None:
                between()
            t0 = clock()
            store.load(user, sid)
            t1 = clock()
            store.append(user, sid, user_text, reply, turn)
            t2 = clock()
            rec.load.add(t1 - t0)
            rec.append.add(t2 - t1)
        rec.mark(turn)
    for _, user, sid in sessions:
        store.check(user, sid, turns)
    return rec


async def run_async(store: Any, sessions_n: int, turns: int, warmup: int,
                    seed: int) -> Recorder:
    sessions = _schedule(sessions_n)
    texts = TextPool(seed)
    for _, user, sid in [*sessions, (-1, "warmup", "warmup")]:
        await store.create(user, sid)
    for turn in range(warmup):
        await store.load("warmup", "warmup")
        await store.append("warmup", "warmup", *texts.turn(-1, turn), turn)
    rec = Recorder(turns)
    rec.rss["peak_kib_setup"] = peak_rss_kib()
    clock = perf_counter_ns
    for turn in range(turns):
        for k, user, sid in sessions:
            user_text, reply = texts.turn(k, turn)
            t0 = clock()
            await store.load(user, sid)
            t1 = clock()
            await store.append(user, sid, user_text, reply, turn)
            t2 = clock()
            rec.load.add(t1 - t0)
            rec.append.add(t2 - t1)
        rec.mark(turn)
    for _, user, sid in sessions:
        await store.check(user, sid, turns)
    return rec
