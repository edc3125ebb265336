"""The session a request handler sees: a dict-like view that records what
the request changed.

Only the changed top-level keys are written back, as one state delta, so
two requests of one session that change different keys both keep their
change (a whole-session overwrite would lose one). A value changed in place
(``session["cart"].append(x)``) is noticed too: every list or dict handed
out is compared with its JSON at hand-out time when the request ends.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from .._core.jsonvalue import dumps
from .._core.limits import Limits
from .._core.state import APP_PREFIX, TEMP_PREFIX, USER_PREFIX, split_delta
from ..errors import InvalidInputError

__all__ = ["WebSession"]

#: Prefixes that route a key to a scope shared by other sessions (or to
#: nowhere): refused, since every web session shares one store user.
RESERVED = (APP_PREFIX, USER_PREFIX, TEMP_PREFIX)


def own_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of a stored state that belong to the session itself."""
    return {k: v for k, v in state.items() if not k.startswith(RESERVED)}


class WebSession(MutableMapping[str, Any]):
    """One request's session: JSON values under string keys.

    Setting a key to ``None`` deletes it (as in a state delta). Call
    :meth:`regenerate` when the user logs in and :meth:`logout` (or
    :meth:`clear`) when they log out; both take effect when the response
    starts. Flask's session attributes (``new``, ``modified``, ``accessed``,
    ``permanent``) are there too.
    """

    def __init__(self, session_id: str | None = None, state: Mapping[str, Any] | None = None,
                 *, limits: Limits | None = None, expires_at: float | None = None,
                 created_at: float = 0.0, stale_cookie: bool = False) -> None:
        self.id = session_id
        """The server-side session id; None until something is stored."""
        self.accessed = False
        self.expires_at = expires_at
        self.created_at = created_at
        self.stale_cookie = stale_cookie
        """The request carried a session cookie that is invalid or whose
        session is gone: the response deletes it unless it sets a new one."""
        self.regenerate_requested = False
        self.ended: list[str] = []
        """Ids of server-side sessions to delete (logged out)."""
        self._data: dict[str, Any] = own_state(state or {})
        self._changed: set[str] = set()
        self._handed: dict[str, str] = {}
        self._limits = limits or Limits()

    # -- Flask's SessionMixin attributes ----------------------------------
    @property
    def new(self) -> bool:
        return self.id is None

    @property
    def modified(self) -> bool:
        return bool(self._changed or self.regenerate_requested or self.ended
                    or self._mutated())

    @property
    def permanent(self) -> bool:
        """Flask's flag; expiry here comes from the idle and absolute timeouts."""
        return bool(self._data.get("_permanent", False))

    @permanent.setter
    def permanent(self, value: bool) -> None:
        self["_permanent"] = bool(value)

    def mark_accessed(self) -> None:
        """Called by Starlette's ``request.session``: the response gets ``Vary: Cookie``."""
        self.accessed = True

    # -- the mapping -------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        value = self._data[key]
        if isinstance(value, list | dict) and key not in self._handed:
            self._handed[key] = dumps(value)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self.accessed = True
        self._check(key, value)
        if value is None:
            self._data.pop(key, None)
        else:
            self._data[key] = value
        self._changed.add(key)

    def __delitem__(self, key: str) -> None:
        self.accessed = True
        del self._data[key]
        self._changed.add(key)

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return iter(list(self._data))

    def __len__(self) -> int:
        self.accessed = True
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return key in self._data

    def __repr__(self) -> str:
        return f"<WebSession id={'new' if self.id is None else 'set'} keys={sorted(self._data)}>"

    def _check(self, key: object, value: Any) -> None:
        if isinstance(key, str) and key.startswith(RESERVED):
            raise InvalidInputError(
                f"session key {key!r} starts with a reserved prefix ({', '.join(RESERVED)})",
                field="session")
        split_delta({key: value}, self._limits, field="session")

    # -- lifecycle -----------------------------------------------------------
    def regenerate(self) -> None:
        """Give this session a new id, keeping its data, and delete the old
        one: call it at login, so an id planted before login is worthless."""
        self.accessed = True
        self.regenerate_requested = True

    def logout(self) -> None:
        """Delete the server-side session and expire the cookie. Anything
        stored after this starts a new session with a new id."""
        self.accessed = True
        if self.id is not None:
            self.ended.append(self.id)
        self.id = None
        self.regenerate_requested = False
        self._data.clear()
        self._changed.clear()
        self._handed.clear()

    def clear(self) -> None:
        """The same as :meth:`logout`."""
        self.logout()

    # -- what to write -----------------------------------------------------
    def _mutated(self) -> list[str]:
        return [k for k, text in self._handed.items()
                if k not in self._changed and k in self._data and dumps(self._data[k]) != text]

    def delta(self) -> dict[str, Any]:
        """The changed keys with their values (``None``: deleted)."""
        keys = self._changed.union(self._mutated())
        return {k: self._data.get(k) for k in sorted(keys)}

    def data(self) -> dict[str, Any]:
        """A shallow copy of the session's data, without marking it accessed."""
        return dict(self._data)
