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
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any, NamedTuple

from .._core.events import EventDraft, EventRow, WindowRow, events_from_window
from .._core.jsonvalue import IMMUTABLE, decode, is_flat_object, join_object
from .._core.records import ScopeState, SessionBundle
from .._core.requests import AppendRequest, CreateRequest, Key, ListRequest, SharedRequest
from .._core.state import APP_PREFIX, EMPTY_DELTA, TEMP_PREFIX, USER_PREFIX, ScopedDelta, replay
from ..errors import AuthError
from ..models import Event, Session
from .cipher import USER_KEY_ID, Cipher, fresh_nonces
from .keyring import KeyRing

_new_event = tuple.__new__
_set = object.__setattr__

#: Text the remembered opened windows may hold in all (see ``_open_window``).
WINDOW_BUDGET = 4 << 20
#: What one more session's window counts for against that budget.
_WINDOW_ENTRY = 256

#: A user's own data key (an AESGCM), or None: the key ring's primary key.
UserKey = Any


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


#: The prefixes of shared state keys, as a reader sees them.
_SHARED_SCOPES = (APP_PREFIX, USER_PREFIX)

#: A remembered value not decoded yet, or one decoded per read (mutable).
_PENDING = object()
_MUTABLE = object()


class Opened:
    """An event token, opened and remembered: the place it was opened for
    (its session's place prefix, its id, role and kind), the user key that
    opened it, and its plaintext parts as framed. Decoded values that no
    reader can mutate are kept and handed out again; mutable ones are decoded
    per read, except a delta of immutable values, copied per read.

    ``twin`` is the sealed event as a backend last returned it: a read event
    equal to it (same token, id, role, kind, seq and time, nothing outside
    the token) in the same session is that same event, known in one compare.
    """

    __slots__ = ("content", "data", "delta", "delta_value", "flag", "flat", "id", "kind",
                 "places", "role", "shared", "stored", "token", "twin", "uk")

    def __init__(self, token: str, places: str, event_id: str, role: str, kind: str,
                 uk: UserKey, flag: str, stored: str, data: str | None,
                 delta: str | None) -> None:
        self.token, self.places, self.id, self.role, self.kind, self.uk = (
            token, places, event_id, role, kind, uk)
        self.flag, self.stored, self.data, self.delta = flag, stored, data, delta
        self.content: Any = stored if flag == "s" else _PENDING
        self.delta_value: Any = None if delta is None else _PENDING
        self.twin: Event | None = None
        #: The Event last built, when nothing in it is mutable: shared.
        self.shared: Event | None = None
        #: When only its delta is mutable, and flat: the delta, to copy per read.
        self.flat: dict[str, Any] | None = None

    def event(self, seq: int, created: float) -> Event:
        """An Event of this plaintext at ``seq``."""
        content = self.content
        if content is _PENDING:
            content = decode(self.stored)
            self.content = content if type(content) in IMMUTABLE else _MUTABLE
        elif content is _MUTABLE:
            content = decode(self.stored)
        delta = self.delta_value
        if delta is _PENDING:
            delta = decode(self.delta)  # type: ignore[arg-type]
            self.delta_value = delta.copy() if is_flat_object(delta) else _MUTABLE
        elif delta is _MUTABLE:
            delta = decode(self.delta)  # type: ignore[arg-type]
        elif delta is not None:
            delta = delta.copy()
        event = _new_event(Event, (
            self.role, content, self.kind, None if self.data is None else decode(self.data),
            self.id, seq, created, delta))
        if self.data is None and self.content is not _MUTABLE:
            if self.delta is None:
                self.shared = event
            elif self.delta_value is not _MUTABLE:
                self.flat = self.delta_value
        return event  # type: ignore[no-any-return]


class Places(NamedTuple):
    """The place prefixes of one session's values (see :meth:`Encryption.state_place`)."""

    events: str
    session: str
    user: str
    app: str

    def state(self, name: str) -> str:
        if name[:4] == APP_PREFIX:
            return self.app + name
        if name[:5] == USER_PREFIX:
            return self.user + name
        return self.session + name


def _places_of(app: str, user_id: str, session_id: str) -> Places:
    return Places(f"e|{app}|{user_id}|{session_id}|", f"s|{app}|{user_id}|{session_id}|",
                  f"u|{app}|{user_id}|", f"a|{app}|")


class Encryption:
    """Seals requests and opens results for one key ring.

    Opened values are remembered (bounded caches): an agent rereads its
    recent events every turn. So are the values this process seals
    (``remember_sealed``): it reads its own writes back next turn. A hit is
    used only when the whole token and its place (and user key) are the same,
    so anything changed in storage is authenticated afresh.
    """

    def __init__(self, ring: KeyRing, cache_size: int = 1024,
                 remember_sealed: bool = True) -> None:
        self.cipher = Cipher(ring)
        self._fingerprint_key = ring.derive("idempotency-fingerprint")
        # Oldest-first eviction needs an OrderedDict: popping the front of a
        # plain dict leaves holes that every later eviction scans again.
        # State values, by the tail of their token (its GCM tag): [token,
        # place, user key, JSON text, value], the value _PENDING until its
        # first read, then kept if immutable, else _MUTABLE (decoded per read).
        self._values: OrderedDict[str, list[Any]] = OrderedDict()
        # Events, by event id.
        self._events: OrderedDict[str, Opened] = OrderedDict()
        self._places: dict[tuple[str, str, str], Places] = {}
        # The last window read of each session (by its events' place): its
        # first seq, its sealed rows, them opened, and the user key.
        self._windows: dict[str, tuple[int, tuple[WindowRow, ...], tuple[WindowRow, ...],
                                       UserKey]] = {}
        self._window_bytes = 0
        self._cache_size = cache_size
        self.remember_sealed = remember_sealed

    # A place is "|"-joined: ids, roles and kinds cannot hold "|", and the one
    # free-form part, a state or metadata key, always comes last, so two
    # different places never give the same text.

    @staticmethod
    def state_place(key: Key, name: str) -> str:
        """The place of state key ``name`` (as the reader sees it, with its
        ``app:``/``user:`` prefix) of the session at ``key``."""
        return _places_of(key.app, key.user_id, key.session_id).state(name)

    def places(self, app: str, user_id: str, session_id: str) -> Places:
        """The place prefixes of a session (the same object while remembered)."""
        address = (app, user_id, session_id)
        found = self._places.get(address)
        if found is None:
            if len(self._places) >= self._cache_size:
                self._places.clear()
            found = self._places[address] = _places_of(app, user_id, session_id)
        return found

    def _event_places(self, key: Key) -> str:
        return self.places(key.app, key.user_id, key.session_id).events

    def forget(self) -> None:
        """Drop every remembered plaintext (after a user's key is destroyed)."""
        self._values.clear()
        self._events.clear()
        self._windows = {}
        self._window_bytes = 0

    # -- sealing ------------------------------------------------------------

    def _seal_value(self, text: str, place: str, uk: UserKey = None,
                    nonce: bytes | None = None) -> str:
        """A JSON value's text -> the JSON text of its token. App-scope values
        are never sealed by a user's key: every user reads them."""
        if uk is not None and place[0] == "a":
            uk = None
        token = self.cipher.seal(text.encode(), place.encode(), uk, nonce)
        if self.remember_sealed:
            self._remember(self._values, token[-24:], [token, place, uk, text, _PENDING])
        return '"' + token + '"'

    def _seal_delta(self, key: Key, delta: ScopedDelta, uk: UserKey = None,
                    nonces: Iterator[bytes] | None = None) -> ScopedDelta:
        """A delta with each value sealed for its state key (deletions, a
        recorded ``null``, stay as they are: a key's absence is not secret).
        ``nonces``: at least one per value (:func:`.cipher.fresh_nonces`)."""
        if not delta.persisted:
            return delta
        if nonces is None:
            nonces = fresh_nonces(len(delta.persisted))
        places = self.places(key.app, key.user_id, key.session_id)
        seal = self._seal_value
        if not delta.user and not delta.app:  # session keys only (the common case)
            prefix = places.session
            persisted: dict[str, str] = {}
            session: dict[str, str | None] = {}
            for name, text in delta.persisted.items():
                if text == "null":
                    persisted[name], session[name] = text, None
                else:
                    persisted[name] = session[name] = seal(text, prefix + name, uk, next(nonces))
            return ScopedDelta(session, {}, {}, persisted)
        place = places.state
        persisted = {name: text if text == "null" else seal(text, place(name), uk, next(nonces))
                     for name, text in delta.persisted.items()}
        scopes: tuple[dict[str, str | None], ...] = ({}, {}, {})
        session, user, shared = scopes
        for name, sealed in persisted.items():
            value = None if sealed == "null" else sealed
            if name[:4] == APP_PREFIX:
                shared[name[4:]] = value
            elif name[:5] == USER_PREFIX:
                user[name[5:]] = value
            elif name[:5] != TEMP_PREFIX:
                session[name] = value
        return ScopedDelta(session, user, shared, persisted)

    def seal_create(self, request: CreateRequest, uk: UserKey = None) -> CreateRequest:
        return replace(request, state=self._seal_delta(request.key, request.state, uk),
                       metadata=self.seal_metadata(request.key.app, request.metadata))

    def seal_append(self, request: AppendRequest, uk: UserKey = None) -> AppendRequest:
        places = self._event_places(request.key)
        seal = self.cipher.seal
        remember = self._remember if self.remember_sealed else None
        drafts = request.events
        last = len(drafts) - 1
        nonces = fresh_nonces(len(drafts) + len(request.delta.persisted))
        sealed = []
        for i, d in enumerate(drafts):
            # What the backend would record on this event (see event_rows).
            recorded = request.last_delta if i == last else d.delta.persisted
            delta = join_object(recorded) if recorded else None
            flag = "j" if d.content_is_json else "s"
            event_id, role, kind = d.id, d.role, d.kind
            token = seal(_frame(flag, d.stored, d.data_json, delta).encode(),
                         f"{places}{event_id}|{role}|{kind}".encode(), uk, next(nonces))
            if remember is not None:
                remember(self._events, event_id, Opened(
                    token, places, event_id, role, kind, uk, flag, d.stored, d.data_json,
                    delta))
            sealed.append(EventDraft(event_id, role, kind, token, 0, None, EMPTY_DELTA,
                                     d.id_given))
        fingerprint = request.fingerprint
        if fingerprint is not None:
            fingerprint = hmac.new(self._fingerprint_key, fingerprint.encode(),
                                   hashlib.sha256).hexdigest()
        return AppendRequest(request.key, request.now, sealed,
                             self._seal_delta(request.key, request.delta, uk, nonces), {},
                             request.expected_version, request.idempotency_key, fingerprint)

    def seal_metadata(self, app: str, metadata: Mapping[str, str]) -> dict[str, str]:
        det = self.cipher.seal_deterministic
        return {k: det(v.encode(), f"m|{app}|{k}".encode()) for k, v in metadata.items()}

    @staticmethod
    def shared_places(app: str, user_id: str | None) -> str:
        """The place prefix of a shared scope's values: the place a session's
        ``app:name`` / ``user:name`` key gets, without the name."""
        places = _places_of(app, "-" if user_id is None else user_id, "-")
        return places.app + APP_PREFIX if user_id is None else places.user + USER_PREFIX

    def seal_shared(self, request: SharedRequest, uk: UserKey = None) -> SharedRequest:
        """A shared-state change with each value sealed for its key (a
        deletion stays ``None``)."""
        prefix = self.shared_places(request.app, request.user_id)
        seal = self._seal_value
        return SharedRequest(request.app, request.user_id, request.now, {
            name: None if text is None else seal(text, prefix + name, uk)
            for name, text in request.changes.items()})

    def open_shared(self, request: SharedRequest, stored: Mapping[str, str],
                    uk: UserKey = None) -> dict[str, str]:
        """A shared scope's stored values (JSON texts of tokens) opened: the
        JSON text of each value."""
        prefix = self.shared_places(request.app, request.user_id)
        scope = APP_PREFIX if request.user_id is None else USER_PREFIX
        opened = {}
        for name, text in stored.items():
            try:
                token = decode(text)
            except ValueError:
                token = None  # not even JSON: refused below as not encrypted
            opened[name] = self._open_value(token, prefix + name, scope + name, uk)
        return opened

    def seal_list(self, request: ListRequest) -> ListRequest:
        if not request.metadata:
            return request
        return replace(request, metadata=self.seal_metadata(request.app, request.metadata))

    # -- opening ------------------------------------------------------------

    def _remember(self, cache: OrderedDict[str, Any], name: str, entry: Any) -> None:
        if len(cache) >= self._cache_size:
            cache.popitem(last=False)
        cache[name] = entry

    def _value_entry(self, token: object, place: str, name: str, uk: UserKey) -> list[Any]:
        """The remembered entry of a state token opened for ``place``."""
        hit = self._values.get(token[-24:]) if type(token) is str else None
        if hit is None or hit[0] != token or hit[1] != place or hit[2] is not uk:
            text = self.cipher.open(token, place.encode(), f"state[{name!r}]", uk).decode()
            hit = [token, place, uk, text, _PENDING]
            self._remember(self._values, token[-24:], hit)  # type: ignore[index]
        return hit

    def _open_value(self, token: object, place: str, name: str, uk: UserKey = None) -> str:
        """The JSON text of a state token."""
        return self._value_entry(token, place, name, uk)[3]  # type: ignore[no-any-return]

    def open_state(self, places: Places, state: Mapping[str, Any],
                   uk: UserKey = None) -> dict[str, Any]:
        opened = {}
        get = self._values.get
        session_places = places.session
        for name, token in state.items():
            place = (places.state(name) if name.startswith(_SHARED_SCOPES)
                     else session_places + name)
            hit = get(token[-24:]) if type(token) is str else None
            if hit is None or hit[0] != token or hit[1] != place or hit[2] is not uk:
                hit = self._value_entry(token, place, name, uk)
            value = hit[4]
            if value is _PENDING or value is _MUTABLE:
                value = decode(hit[3])
                if hit[4] is _PENDING:  # its first read
                    hit[4] = value if type(value) in IMMUTABLE else _MUTABLE
            opened[name] = value
        return opened

    def open_metadata(self, app: str, metadata: Mapping[str, str]) -> dict[str, str]:
        det = self.cipher.open_deterministic
        return {k: det(v, f"m|{app}|{k}".encode(), f"metadata[{k!r}]").decode()
                for k, v in metadata.items()}

    def _open_event(self, token: object, places: str, event_id: str, role: str, kind: str,
                    seq: int, uk: UserKey = None) -> Opened:
        plain = self.cipher.open(token, f"{places}{event_id}|{role}|{kind}".encode(),
                                 f"event {seq}", uk).decode()
        opened = Opened(token, places, event_id, role, kind, uk,  # type: ignore[arg-type]
                        *_unframe(plain))
        self._remember(self._events, event_id, opened)
        return opened

    def _opened(self, hit: Opened | None, token: object, data: object, delta: object,
                places: str, event_id: str, role: str, kind: str, seq: int,
                uk: UserKey) -> Opened:
        """A sealed event opened: ``hit``, the event remembered under its id,
        when it is this same token opened for the same place and user key;
        else the token opened afresh. Data beside the token is refused."""
        if data is not None or delta is not None:
            raise AuthError(f"event {seq} holds data outside its encrypted content")
        if (hit is None or hit.token != token or hit.places != places or hit.role != role
                or hit.kind != kind or hit.uk is not uk):
            hit = self._open_event(token, places, event_id, role, kind, seq, uk)
        return hit

    def open_events(self, key: Key, events: list[Event] | tuple[Event, ...],
                    uk: UserKey = None) -> list[Event]:
        return self._open_events(self._event_places(key), events, uk)

    def _open_events(self, places: str, events: list[Event] | tuple[Event, ...],
                     uk: UserKey) -> list[Event]:
        get = self._events.get
        opened = []
        for e in events:
            hit = get(e[4])
            # The same sealed event as last time, in the same session.
            if hit is not None and hit.twin == e and hit.places == places and hit.uk is uk:
                event = hit.shared
                if event is None:
                    flat = hit.flat
                    event = hit.event(e[5], e[6]) if flat is None else _new_event(Event, (
                        hit.role, hit.content, hit.kind, None, hit.id, e[5], e[6], flat.copy()))
                opened.append(event)
                continue
            role, token, kind, data, event_id, seq, created, delta = e
            hit = self._opened(hit, token, data, delta, places, event_id, role, kind, seq, uk)
            opened.append(hit.event(seq, created))
            hit.twin = e
        return opened

    def _open_row(self, row: WindowRow, places: str, seq: int, uk: UserKey) -> WindowRow:
        """A sealed window row opened: the row its plaintext would have had."""
        event_id, role, kind, token, data, delta, created = row
        kind = kind or "message"
        hit = self._opened(self._events.get(event_id), token, data, delta, places, event_id,
                           role, kind, seq, uk)
        stored = hit.stored
        return (event_id, role, kind, stored if hit.flag == "s" else stored.encode(),
                hit.data, hit.delta, created)

    def _open_window(self, places: str, rows: tuple[WindowRow, ...], first: int,
                     uk: UserKey) -> tuple[Event, ...]:
        """The events of a window of sealed rows (seqs ``first``…): each row
        opened, then made into events as a plain window's rows are.

        A session's last window is remembered opened: the rows this one shares
        with it are not opened again. They are found in one compare of the
        overlap (equal sealed rows of the same session, under the same user
        key, open to the same plaintext; rows a backend keeps are the same
        objects, compared at once), so an agent's reload opens only the
        events appended since. Bounded: ``WINDOW_BUDGET`` bytes of text."""
        memo = self._windows.get(places)
        opened: tuple[WindowRow, ...] = ()
        if memo is not None:
            memo_first, memo_rows, memo_opened, memo_uk = memo
            shift = first - memo_first
            same = min(len(memo_rows) - shift, len(rows))
            if (shift >= 0 and same > 0 and memo_uk is uk
                    and rows[:same] == memo_rows[shift:shift + same]):
                opened = memo_opened[shift:shift + same]
        done = len(opened)
        if done < len(rows):
            size = _WINDOW_ENTRY
            new = []
            for seq, row in enumerate(rows[done:], first + done):
                new.append(self._open_row(row, places, seq, uk))
                size += len(row[3])
            opened += tuple(new)
            size *= 2  # the token's text, and about as much plaintext
            if self._window_bytes + size > WINDOW_BUDGET:
                self._windows = {}
                self._window_bytes = 0
            self._window_bytes += size
        self._windows[places] = (first, rows, opened, uk)
        return events_from_window(opened, first)

    def open_session(self, s: Session, uk: UserKey = None, rows: tuple[WindowRow, ...] = (),
                     first: int = 0) -> Session:
        """``s`` opened in place: a backend hands out a new Session per call,
        which nothing else holds yet (cheaper than building it again). Its
        events are ``s.events``, or the window ``rows`` (seqs ``first``…) a
        backend's ``get_rows`` returned with it."""
        places = self.places(s.app, s.user_id, s.id)
        _set(s, "state", self.open_state(places, s.state, uk))
        if rows:
            _set(s, "events", self._open_window(places.events, rows, first, uk))
        elif s.events:
            _set(s, "events", tuple(self._open_events(places.events, s.events, uk)))
        if s.metadata:
            _set(s, "metadata", self.open_metadata(s.app, s.metadata))
        return s

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
            opened = self._open_event(stored, old_places, event_id, role, kind, seq, uk)
            if moved or not self._current(stored, uk):
                plain = _frame(opened.flag, opened.stored, opened.data, opened.delta)
                stored = self.cipher.seal(plain.encode(),
                                          f"{new_places}{event_id}|{role}|{kind}".encode(), uk)
            rows.append((seq, event_id, role, kind, stored, 0, None, None, created))
            deltas.append(None if opened.delta is None else decode(opened.delta))
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
