"""Who is calling, and what they may reach.

An :class:`Authenticator` turns a bearer token into a :class:`Principal`;
:meth:`Principal.allows` decides whether that principal may act on an app
and user. Both are free of any web framework, so the MCP server and other
front ends can use them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["ANONYMOUS", "RESERVED_PREFIX", "Authenticator", "Principal", "is_reserved"]

#: Apps whose name starts with this belong to SessionDB itself (API keys,
#: health probes): the service never serves them.
RESERVED_PREFIX = "_sessiondb"


def is_reserved(app: str) -> bool:
    return app.startswith(RESERVED_PREFIX)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``app`` set: only that app (an API key). ``user`` set: only that user
    (a user's token, whose ``sub`` it is). ``admin``: any user of the apps
    it may reach, and app-wide routes.
    """

    kind: str
    """``"api-key"``, ``"jwt"`` or ``"anonymous"`` (authentication disabled)."""
    subject: str
    """The key id, or the token's ``sub``."""
    app: str | None = None
    user: str | None = None
    admin: bool = False

    def allows(self, app: str | None, user: str | None) -> bool:
        """Whether this principal may act on ``app`` (and ``user``; ``None``
        for app-wide routes)."""
        if app is not None and is_reserved(app):
            return False
        if self.app is not None and app != self.app:
            return False
        if self.admin or self.user is None:
            return True
        return user == self.user


#: The principal of every request when authentication is disabled.
ANONYMOUS = Principal("anonymous", "anonymous", admin=True)


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> Principal | None:
        """The principal a bearer ``token`` proves; ``None`` if the token is
        not of this authenticator's kind (the next one is asked). Raises
        :class:`~sessiondb.AuthError` for a token of its kind that fails."""
        ...
