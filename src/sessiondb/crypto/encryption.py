"""What an encrypting store seals, and where each sealed value belongs.

Values are sealed after validation (limits apply to the plaintext) and
before the backend sees them; a backend stores tokens as it stores any JSON
string, so every backend encrypts alike.

- An event is one token: its content, ``data`` and recorded state delta
  sealed together (its ``data`` and delta columns stay empty).
- Each state value is its own token (top-level keys are the unit of storage
  and merging); metadata values are deterministic tokens, so listings can
  still filter on them; idempotency fingerprints are HMACs.
- Clear: ids, roles, kinds, seqs, versions, times, expiry and state *keys*,
  which addressing, ordering and expiry need.

Each token's associated data names its place, so a token copied anywhere
else fails to open. An event is bound to its session and its id, role and
kind rather than its seq: the seq is assigned inside the backend's
transaction (on PostgreSQL and Redis, on the server), after sealing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .._core.events import EventDraft, EventRow
from .._core.jsonvalue import decode, join_object
from .._core.records import ScopeState, SessionBundle
from .._core.requests import AppendRequest, CreateRequest, Key, ListRequest
from .._core.state import APP_PREFIX, EMPTY_DELTA, TEMP_PREFIX, USER_PREFIX, ScopedDelta, replay
from ..errors import AuthError
from ..models import Event, Session
from .cipher import USER_KEY_ID, Cipher
from .keyring import KeyRing

_new_event = tuple.__new__

#: A user's own data key (an AESGCM), or None: the key ring's primary key.
UserKey = Any

#: An opened event: [token, place, content if a string, content JSON text
#: otherwise, data JSON text, delta JSON text, the user key that opened it,
#: the last Event built from it when that is immutable].
Opened = list[Any]


def _frame(flag: str, stored: str, data: str | None, delta: str | None) -> str:
    """An event's plaintext: its content, data and delta, length-prefixed."""
    data = data or ""
    return f"{flag}{len(stored)}:{stored}{len(data)}:{data}{delta or ''}"


def _unframe(text: str) -> tuple[str, str, str | None, str | None]:
    i = text.index(":", 1)
    end = i + 1 + int(text[1:i])
    j = text.index(":", end)
    data_end = j + 1 + int(text[end:j])
    return text[0], text[i + 1:end], text[j + 1:data_end] or None, text[data_end:] or None


class Encryption:
    """Seals requests and opens results for one key ring.

    Opened values are remembered (a bounded cache keyed by the token): an
    agent rereads its recent events every turn. A hit is used only when the
    whole token and its place are the same, so anything changed in storage
    is authenticated afresh.
    """

    def __init__(self, ring: KeyRing, cache_size: int = 1024) -> None:
        self.cipher = Cipher(ring)
        self._fingerprint_key = ring.derive("idempotency-fingerprint")
        # Oldest-first eviction needs an OrderedDict: popping the front of a
        # plain dict leaves holes that every later eviction scans again.
        self._values: OrderedDict[str, tuple[str, str, str, UserKey]] = OrderedDict()
        self._events: OrderedDict[str, Opened] = OrderedDict()
        self._cache_size = cache_size

    # A place is "|"-joined: ids, roles and kinds cannot hold "|", and the one
    # free-form part, a state or metadata key, always comes last, so two
    # different places never give the same text.

    @staticmethod
    def state_place(key: Key, name: str) -> str:
        """The place of state key ``name`` (as the reader sees it, with its
        ``app:``/``user:`` prefix) of the session at ``key``."""
        if name[:4] == APP_PREFIX:
            return f"a|{key.app}|{name}"
        if name[:5] == USER_PREFIX:
            return f"u|{key.app}|{key.user_id}|{name}"
        return f"s|{key.app}|{key.user_id}|{key.session_id}|{name}"

    @staticmethod
    def _event_places(key: Key) -> str:
        return f"e|{key.app}|{key.user_id}|{key.session_id}|"

    def forget(self) -> None:
        """Drop every remembered plaintext (after a user's key is destroyed)."""
        self._values.clear()
        self._events.clear()

    # -- sealing ------------------------------------------------------------

    def _seal_value(self, text: str, place: str, uk: UserKey = None) -> str:
        """A JSON value's text -> the JSON text of its token. App-scope values
        are never sealed by a user's key: every user reads them."""
        if uk is not None and place[0] == "a":
            uk = None
        return '"' + self.cipher.seal(text.encode(), place.encode(), uk) + '"'

    def _seal_delta(self, key: Key, delta: ScopedDelta, uk: UserKey = None) -> ScopedDelta:
        """A delta with each value sealed for its state key (deletions, a
        recorded ``null``, stay as they are: a key's absence is not secret)."""
        if not delta.persisted:
            return delta
        persisted = {name: text if text == "null" else
                     self._seal_value(text, self.state_place(key, name), uk)
                     for name, text in delta.persisted.items()}
        scopes: tuple[dict[str, str | None], ...] = ({}, {}, {})
        session, user, app = scopes
        for name, sealed in persisted.items():
            value = None if sealed == "null" else sealed
            if name[:4] == APP_PREFIX:
                app[name[4:]] = value
            elif name[:5] == USER_PREFIX:
                user[name[5:]] = value
            elif name[:5] != TEMP_PREFIX:
                session[name] = value
        return ScopedDelta(session, user, app, persisted)

    def seal_create(self, request: CreateRequest, uk: UserKey = None) -> CreateRequest:
        return replace(request, state=self._seal_delta(request.key, request.state, uk),
                       metadata=self.seal_metadata(request.key.app, request.metadata))

    def seal_append(self, request: AppendRequest, uk: UserKey = None) -> AppendRequest:
        places = self._event_places(request.key)
        drafts = request.events
        last = len(drafts) - 1
        sealed = []
        for i, d in enumerate(drafts):
            # What the backend would record on this event (see event_rows).
            recorded = request.last_delta if i == last else d.delta.persisted
            plain = _frame("j" if d.content_is_json else "s", d.stored, d.data_json,
                           join_object(recorded) if recorded else None)
            token = self.cipher.seal(plain.encode(),
                                     f"{places}{d.id}|{d.role}|{d.kind}".encode(), uk)
            sealed.append(EventDraft(d.id, d.role, d.kind, token, 0, None, EMPTY_DELTA,
                                     d.id_given))
        fingerprint = request.fingerprint
        if fingerprint is not None:
            fingerprint = hmac.new(self._fingerprint_key, fingerprint.encode(),
                                   hashlib.sha256).hexdigest()
        return AppendRequest(request.key, request.now, sealed,
                             self._seal_delta(request.key, request.delta, uk), {},
                             request.expected_version, request.idempotency_key, fingerprint)

    def seal_metadata(self, app: str, metadata: Mapping[str, str]) -> dict[str, str]:
        det = self.cipher.seal_deterministic
        return {k: det(v.encode(), f"m|{app}|{k}".encode()) for k, v in metadata.items()}

    def seal_list(self, request: ListRequest) -> ListRequest:
        if not request.metadata:
            return request
        return replace(request, metadata=self.seal_metadata(request.app, request.metadata))

    # -- opening ------------------------------------------------------------

    def _remember(self, cache: OrderedDict[str, Any], token: str, entry: Any) -> None:
        if len(cache) >= self._cache_size:
            cache.popitem(last=False)
        cache[token[-24:]] = entry

    def _open_value(self, token: object, place: str, name: str, uk: UserKey = None) -> str:
        if type(token) is str:
            hit = self._values.get(token[-24:])
            if hit is not None and hit[0] == token and hit[1] == place and hit[3] is uk:
                return hit[2]  # type: ignore[return-value]
        text = self.cipher.open(token, place.encode(), f"state[{name!r}]", uk).decode()
        self._remember(self._values, token, (token, place, text, uk))  # type: ignore[arg-type]
        return text

    def open_state(self, key: Key, state: Mapping[str, Any],
                   uk: UserKey = None) -> dict[str, Any]:
        return {name: decode(self._open_value(token, self.state_place(key, name), name, uk))
                for name, token in state.items()}

    def open_metadata(self, app: str, metadata: Mapping[str, str]) -> dict[str, str]:
        det = self.cipher.open_deterministic
        return {k: det(v, f"m|{app}|{k}".encode(), f"metadata[{k!r}]").decode()
                for k, v in metadata.items()}

    def _open_event(self, token: object, place: str, seq: int, uk: UserKey = None) -> Opened:
        plain = self.cipher.open(token, place.encode(), f"event {seq}", uk).decode()
        flag, stored, data, delta = _unframe(plain)
        opened: Opened = [token, place, None if flag == "j" else stored,
                          stored if flag == "j" else None, data, delta, uk, None]
        self._remember(self._events, token, opened)  # type: ignore[arg-type]
        return opened

    def open_events(self, key: Key, events: list[Event] | tuple[Event, ...],
                    uk: UserKey = None) -> list[Event]:
        places = self._event_places(key)
        cache = self._events
        opened = []
        for e in events:
            role, token, kind, data, event_id, seq, created, delta = e
            if data is not None or delta is not None:
                raise AuthError(f"event {seq} holds data outside its encrypted content")
            place = f"{places}{event_id}|{role}|{kind}"
            hit = cache.get(token[-24:]) if type(token) is str else None
            if hit is None or hit[0] != token or hit[1] != place or hit[6] is not uk:
                hit = self._open_event(token, place, seq, uk)
            event = hit[7]
            if event is not None and event[5] == seq and event[6] == created:
                opened.append(event)  # immutable (string content, nothing else): shared
                continue
            text, data, delta = hit[3], hit[4], hit[5]
            event = _new_event(Event, (
                role, hit[2] if text is None else decode(text), kind,
                None if data is None else decode(data), event_id, seq, created,
                None if delta is None else decode(delta)))
            if text is None and data is None and delta is None:
                hit[7] = event
            opened.append(event)
        return opened

    def open_session(self, s: Session, uk: UserKey = None) -> Session:
        key = Key(s.app, s.user_id, s.id)
        return Session(s.app, s.user_id, s.id, self.open_state(key, s.state, uk), s.version,
                       tuple(self.open_events(key, s.events, uk)) if s.events else (),
                       self.open_metadata(s.app, s.metadata) if s.metadata else s.metadata,
                       s.created_at, s.updated_at, s.expires_at)

    # -- re-sealing (fork, key rotation) -------------------------------------

    def _current(self, token: str, uk: UserKey) -> bool:
        """Whether ``token`` is sealed by the key new values get."""
        return self.cipher.key_id(token) == (USER_KEY_ID if uk is not None
                                             else self.cipher.primary_id)

    def _reseal_value(self, text: str, source: str, target: str, name: str,
                      uk: UserKey = None) -> str:
        """The JSON text of a state token, sealed anew for ``target`` by the
        current key (unchanged when that is what it already is)."""
        token = decode(text)
        plain = self._open_value(token, source, name, uk)
        if source == target and self._current(token, None if source[0] == "a" else uk):
            return text
        return self._seal_value(plain, target, uk)

    def _reseal_state(self, state: Mapping[str, str], source: Key, target: Key,
                      prefix: str = "", uk: UserKey = None) -> dict[str, str]:
        return {k: self._reseal_value(v, self.state_place(source, prefix + k),
                                      self.state_place(target, prefix + k), prefix + k, uk)
                for k, v in state.items()}

    def reseal_bundle(self, bundle: SessionBundle, source: Key | None = None,
                      uk: UserKey = None) -> SessionBundle:
        """``bundle`` with every value sealed by the primary key for its own
        place. ``source`` is the session a fork copied it from: the fork's
        state is then computed here, since its backend could not read the
        deltas sealed inside the copied events."""
        target = Key(bundle.app, bundle.user_id, bundle.id)
        moved = source is not None and source != target
        source = source or target
        new = bundle.copy()
        new.metadata = self.seal_metadata(bundle.app, self.open_metadata(bundle.app,
                                                                        bundle.metadata))
        new.base_state = self._reseal_state(bundle.base_state, source, target, uk=uk)
        rows: list[EventRow] = []
        deltas = []
        old_places, new_places = self._event_places(source), self._event_places(target)
        for seq, event_id, role, kind, stored, _, data, delta, created in bundle.events:
            if data is not None or delta is not None:
                raise AuthError(f"event {seq} holds data outside its encrypted content")
            place = f"{old_places}{event_id}|{role}|{kind}"
            opened = self._open_event(stored, place, seq, uk)
            if moved or not self._current(stored, uk):
                flag = "j" if opened[2] is None else "s"
                plain = _frame(flag, opened[2] if opened[3] is None else opened[3],
                               opened[4], opened[5])
                stored = self.cipher.seal(plain.encode(),
                                          f"{new_places}{event_id}|{role}|{kind}".encode(), uk)
            rows.append((seq, event_id, role, kind, stored, 0, None, None, created))
            deltas.append(None if opened[5] is None else decode(opened[5]))
        new.events = rows
        if moved:
            base = {k: self._open_value(decode(v), self.state_place(target, k), k, uk)
                    for k, v in new.base_state.items()}
            new.state = {k: self._seal_value(v, self.state_place(target, k), uk)
                         for k, v in replay(base, deltas).items()}
        else:
            new.state = self._reseal_state(bundle.state, source, target, uk=uk)
        return new

    def reseal_scope(self, scope: ScopeState, uk: UserKey = None) -> ScopeState:
        """Shared state re-sealed by the current key."""
        if scope.user_id is None:
            key, prefix = Key(scope.app, "-", "-"), APP_PREFIX
        else:
            key, prefix = Key(scope.app, scope.user_id, "-"), USER_PREFIX
        return ScopeState(scope.app, scope.user_id,
                          self._reseal_state(scope.state, key, key, prefix, uk))
