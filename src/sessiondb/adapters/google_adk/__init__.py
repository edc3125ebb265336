"""Google ADK on SessionDB: a ``BaseSessionService`` and a ``BaseMemoryService``.

    from sessiondb import open_async_store
    from sessiondb.adapters.google_adk import SessionDBSessionService

    service = SessionDBSessionService(open_async_store("sqlite:///agents.db"))
    runner = Runner(app_name="travel", agent=agent, session_service=service)

Needs the ``google-adk`` extra (``pip install 'sessiondb[google-adk]'``);
importing this module without it raises :class:`sessiondb.ConfigurationError`.
See docs/integrations/google_adk.md.
"""

from __future__ import annotations

from ...errors import ConfigurationError

try:
    import google.adk.memory.base_memory_service
    import google.adk.sessions.base_session_service  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised with the module hidden
    raise ConfigurationError(
        "sessiondb.adapters.google_adk needs Google ADK: "
        "pip install 'sessiondb[google-adk]'") from exc

from ._convert import from_adk, to_adk
from ._memory import SessionDBMemoryService
from ._service import SessionDBSessionService

__all__ = ["SessionDBMemoryService", "SessionDBSessionService", "from_adk", "to_adk"]
