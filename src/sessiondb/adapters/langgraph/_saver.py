"""``SessionDBSaver``: a LangGraph checkpointer on a SessionDB store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from ... import AsyncSessionStore, ConfigurationError, SessionStore
from ._admin import Admin
from ._codec import Codec
from ._io import Cache, Plan, aiterate, arun, iterate, run


class SessionDBSaver(BaseCheckpointSaver[int], Admin):
    """A LangGraph checkpointer that keeps each thread in SessionDB sessions.

    ``store`` is a :class:`~sessiondb.SessionStore` or an
    :class:`~sessiondb.AsyncSessionStore`. With a sync store both APIs work:
    the async methods run each store call in a worker thread. With an async
    store only the async methods work (``ainvoke``, ``astream``…); the sync
    ones raise :class:`~sessiondb.ConfigurationError`.

    A thread lives in the app ``app``, owned by
    ``config["configurable"]["user_id"]`` or else ``user_id``. Sessions are
    created with ``idle_ttl`` / ``max_lifetime`` (seconds): an expired thread
    reads as empty and is removed by ``store.purge_expired()``.

    Storage grows with what each step adds: unchanged channels are stored
    once and referenced, and a list channel (``add_messages``) that grew is
    stored as the new items only. Values are stored as JSON data; Pydantic
    models or dataclasses in the graph state must be listed in
    ``allowed_types`` (they are rebuilt from that list, never imported by
    name). Nothing is pickled, and the saver's ``serde`` is never used.

    A run that started from the latest checkpoint of a thread may only
    extend it: if another run stored a checkpoint in the meantime, the
    slower run's next ``put`` raises :class:`~sessiondb.ConflictError`
    instead of silently forking the thread (retry the run).
    """

    def __init__(
        self,
        store: SessionStore | AsyncSessionStore,
        *,
        app: str = "langgraph",
        user_id: str = "default",
        idle_ttl: float | None = None,
        max_lifetime: float | None = None,
        allowed_types: Iterable[type] = (),
        cache_size: int = 256,
    ) -> None:
        super().__init__()
        if isinstance(store, AsyncSessionStore):
            self._async = True
        elif isinstance(store, SessionStore):
            self._async = False
        else:
            raise ConfigurationError(
                "SessionDBSaver needs a sessiondb.SessionStore or AsyncSessionStore, "
                f"not {type(store).__name__}")
        self.store = store
        self.app = app
        self.user_id = user_id
        self.idle_ttl = idle_ttl
        self.max_lifetime = max_lifetime
        self._codec = Codec(allowed_types)
        self._cache = Cache(cache_size)
        self._limits = store.limits
        self._window = min(store.limits.max_window, 1000)
        self._event_budget = store.limits.max_event_bytes - 1024
        self._touched: dict[tuple[str, str, str], float] = {}

    def _now(self) -> float:
        if len(self._touched) > 100_000:  # when each items session was last slid on
            self._touched.clear()
        return float(self.store.clock.now())

    def __repr__(self) -> str:
        return f"<SessionDBSaver app={self.app!r} store={self.store!r}>"

    # -- running plans --------------------------------------------------------
    def _sync(self) -> SessionStore:
        if self._async:
            raise ConfigurationError(
                "this SessionDBSaver was given an AsyncSessionStore, so only its async "
                "methods work (ainvoke, astream, aget_state…); for sync use, give it a "
                "SessionStore (sessiondb.open_store)")
        return self.store  # type: ignore[return-value]

    def _run(self, plan: Plan[Any]) -> Any:
        return run(self._sync(), plan)

    async def _arun(self, plan: Plan[Any]) -> Any:
        return await arun(self.store, plan, hop=not self._async)

    # -- sync API ---------------------------------------------------------------
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._run(self._get_tuple(config))  # type: ignore[no-any-return]

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        yield from iterate(self._sync(), self._list(config, filter, before, limit))

    def put(self, config: RunnableConfig, checkpoint: Checkpoint,
            metadata: CheckpointMetadata, new_versions: ChannelVersions) -> RunnableConfig:
        return self._run(self._put(config, checkpoint, metadata, new_versions))  # type: ignore[no-any-return]

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]],
                   task_id: str, task_path: str = "") -> None:
        self._run(self._put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._run(self._delete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._run(self._delete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._run(self._copy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._run(self._prune(thread_ids, strategy))

    # -- async API --------------------------------------------------------------
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._arun(self._get_tuple(config))  # type: ignore[no-any-return]

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        plan = self._list(config, filter, before, limit)
        async for item in aiterate(self.store, plan, hop=not self._async):
            yield item

    async def aput(self, config: RunnableConfig, checkpoint: Checkpoint,
                   metadata: CheckpointMetadata, new_versions: ChannelVersions) -> RunnableConfig:
        return await self._arun(  # type: ignore[no-any-return]
            self._put(config, checkpoint, metadata, new_versions))

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]],
                          task_id: str, task_path: str = "") -> None:
        await self._arun(self._put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._arun(self._delete_thread(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._arun(self._delete_for_runs(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._arun(self._copy_thread(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self._arun(self._prune(thread_ids, strategy))
