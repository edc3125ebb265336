"""LangGraph checkpointer on SessionDB: ``SessionDBSaver``.

    >>> import sessiondb
    >>> from sessiondb.adapters.langgraph import SessionDBSaver
    >>> saver = SessionDBSaver(sessiondb.open_store("sqlite:///threads.db"))  # doctest: +SKIP
    >>> graph = builder.compile(checkpointer=saver)                          # doctest: +SKIP

Needs the ``langgraph`` extra: ``pip install 'sessiondb[langgraph]'``. See
docs/integrations/langgraph.md for what is stored and what is guaranteed.
"""

from __future__ import annotations

from ... import ConfigurationError

try:
    import langchain_core.messages  # noqa: F401
    import langgraph.checkpoint.base
    import langgraph.types  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ConfigurationError(
        "sessiondb.adapters.langgraph needs LangGraph: "
        "pip install 'sessiondb[langgraph]'") from exc

from ._codec import StoredError
from ._read import CorruptThreadError
from ._saver import SessionDBSaver

__all__ = ["CorruptThreadError", "SessionDBSaver", "StoredError"]
