"""API tokens, login sessions and the audit log of ``tradebot serve``.

A token is 32 random bytes (``tb_`` + URL-safe base64), shown once at creation and stored
only as its SHA-256; a lookup hashes what the client sent and compares the stored hash in
constant time. Scopes are ordered: ``read`` < ``trade`` < ``admin``. A session (POST
/api/login) is another 32 random bytes kept as a hash, tied to its token (revoking the
token ends its sessions); its CSRF token is an HMAC of the session id, so nothing more is
stored and it cannot be computed without the HttpOnly cookie."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tradebot.core.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tradebot.data.api_models import ApiToken
    from tradebot.data.db import Store

SCOPES = ("read", "trade", "admin")
TOKEN_PREFIX = "tb_"
#: a session lasts this long unless its token expires first
SESSION_TTL = dt.timedelta(hours=12)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed (never its secret)."""

    id: int
    name: str
    scope: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    def state(self, now: dt.datetime | None = None) -> str:
        now = now or _now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@contextmanager
def write_session(store: Store) -> Iterator[Session]:
    """A unit of work that reads and then writes: on SQLite it takes the write lock at BEGIN
    (IMMEDIATE), so concurrent writers wait for each other (busy timeout) instead of failing
    with "database is locked" when a read transaction tries to become a write one."""
    with store.session() as session:
        session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        yield session


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise UsageError(f"--scope {scope!r}: expected one of {', '.join(SCOPES)}")
    return scope


def check_token_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(f"--name {name[:40]!r}: a token name is 1-64 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit")
    return name


def parse_expires(text: str | None) -> dt.timedelta | None:
    """``30d``, ``12h``, ``90m``, ``2w`` or ``never`` (None)."""
    if text is None or text == "never":
        return None
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) <= 0:
        raise UsageError(f"--expires {text!r}: expected a duration such as 30d, 12h, 90m, 2w, or never")
    return dt.timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(row.id, row.name, row.scope, row.prefix, row.created_at, row.expires_at,
                     row.revoked_at, row.last_used_at)


def create_token(store: Store, name: str, scope: str, expires: dt.timedelta | None) -> tuple[TokenInfo, str]:
    """A new token: its listing and the secret (returned once, never stored)."""
    from sqlalchemy import select

    from tradebot.data.api_models import ApiToken

    check_token_name(name)
    check_scope(scope)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = _now()
    with write_session(store) as session:
        if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
            raise UsageError(f"--name {name!r}: a token with this name exists (revoke it or choose another name)")
        row = ApiToken(name=name, token_sha256=sha256_hex(secret), prefix=secret[:7], scope=scope,
                       created_at=now, expires_at=None if expires is None else now + expires)
        session.add(row)
        session.flush()
        info = _info(row)
    return info, secret


def list_tokens(store: Store) -> list[TokenInfo]:
    from sqlalchemy import select

    from tradebot.data.api_models import ApiToken

    with store.session() as session:
        return [_info(r) for r in session.scalars(select(ApiToken).order_by(ApiToken.id))]


def revoke_token(store: Store, name: str) -> TokenInfo:
    """Revoke the token ``name`` (its sessions end with it)."""
    from sqlalchemy import delete, select

    from tradebot.data.api_models import ApiSession, ApiToken

    with write_session(store) as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == name))
        if row is None:
            known = [n for (n,) in session.execute(select(ApiToken.name).order_by(ApiToken.id))]
            hint = f" (tokens: {', '.join(known)})" if known else " (there are no tokens)"
            raise UsageError(f"no API token named {name!r}{hint}")
        if row.revoked_at is None:
            row.revoked_at = _now()
        session.execute(delete(ApiSession).where(ApiSession.token_id == row.id))
        session.flush()
        info = _info(row)
    forget_cached_tokens()
    return info


#: a token check is remembered this long (seconds): a revocation by another process (the CLI)
#: takes effect within it; one by this process at once
AUTH_CACHE_S = 1.0
_auth_cache: dict[tuple[str, str], tuple[float, TokenInfo | None]] = {}
_auth_lock = threading.Lock()


def forget_cached_tokens() -> None:
    with _auth_lock:
        _auth_cache.clear()


def authenticate(store: Store, secret: str) -> TokenInfo | None:
    """The active token whose secret is ``secret``, else None (unknown, expired, revoked)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    digest = sha256_hex(secret)
    key = (store.url, digest)
    now_s = time.monotonic()
    with _auth_lock:
        hit = _auth_cache.get(key)
    if hit is not None and hit[0] > now_s:
        info = hit[1]
        return info if info is not None and info.state() == "active" else None
    info = _authenticate(store, digest)
    with _auth_lock:
        if len(_auth_cache) > 10_000:
            _auth_cache.clear()
        _auth_cache[key] = (now_s + AUTH_CACHE_S, info)
    return info


def _authenticate(store: Store, digest: str) -> TokenInfo | None:
    from sqlalchemy import select, update

    from tradebot.core.errors import StoreError
    from tradebot.data.api_models import ApiToken

    with store.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest))
        if row is None or not hmac.compare_digest(row.token_sha256, digest):
            return None
        info = _info(row)
    if info.state() != "active":
        return None
    now = _now()
    if info.last_used_at is None or now - info.last_used_at > dt.timedelta(minutes=1):
        try:  # at most one write a minute per token; best effort (a busy store skips it)
            with store.session() as session:
                session.execute(update(ApiToken).where(ApiToken.id == info.id).values(last_used_at=now))
        except StoreError:
            pass
    return info


# -- sessions -------------------------------------------------------------------------------
def create_session(store: Store, token: TokenInfo, client: str) -> tuple[str, str, dt.datetime]:
    """A new session for ``token``: (session secret for the cookie, CSRF token, expiry)."""
    from tradebot.data.api_models import ApiSession

    secret = secrets.token_urlsafe(32)
    now = _now()
    expires = now + SESSION_TTL
    if token.expires_at is not None:
        expires = min(expires, token.expires_at)
    with store.session() as session:
        session.add(ApiSession(session_sha256=sha256_hex(secret), token_id=token.id, created_at=now,
                               expires_at=expires, client=client[:64]))
    return secret, csrf_token(secret), expires


def csrf_token(session_secret: str) -> str:
    return hmac.new(session_secret.encode("utf-8"), b"tradebot-csrf", hashlib.sha256).hexdigest()


def check_csrf(session_secret: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(csrf_token(session_secret), sent)


def session_token(store: Store, session_secret: str) -> TokenInfo | None:
    """The token behind an unexpired session, if that token is still active."""
    from sqlalchemy import select

    from tradebot.data.api_models import ApiSession, ApiToken

    if len(session_secret) > 100:
        return None
    digest = sha256_hex(session_secret)
    with store.session() as session:
        row = session.execute(select(ApiSession, ApiToken).join(ApiToken, ApiToken.id == ApiSession.token_id)
                              .where(ApiSession.session_sha256 == digest)).first()
        if row is None or not hmac.compare_digest(row[0].session_sha256, digest):
            return None
        if row[0].expires_at <= _now():
            return None
        info = _info(row[1])
    return info if info.state() == "active" else None


def end_session(store: Store, session_secret: str) -> None:
    from sqlalchemy import delete

    from tradebot.data.api_models import ApiSession

    with store.session() as session:
        session.execute(delete(ApiSession).where(ApiSession.session_sha256 == sha256_hex(session_secret)))


# -- audit ----------------------------------------------------------------------------------
def audit(store: Store, *, token: TokenInfo | None, client: str, method: str, path: str, status: int,
          detail: str | None = None) -> None:
    """One state-changing request in the audit log."""
    from tradebot.data.api_models import AuditEntry

    outcome = "ok" if status < 400 else ("refused" if status < 500 else "failed")
    with store.session() as session:
        session.add(AuditEntry(at=_now(), token_id=None if token is None else token.id,
                               token_name=None if token is None else token.name, client=client[:64],
                               method=method, path=path[:500], status=status, outcome=outcome,
                               detail=None if detail is None else detail[:500]))


def audit_log(store: Store, limit: int = 100) -> list[dict[str, object]]:
    from sqlalchemy import select

    from tradebot.data.api_models import AuditEntry

    with store.session() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
        return [{"id": r.id, "at": r.at.isoformat(), "token_id": r.token_id, "token": r.token_name,
                 "client": r.client, "method": r.method, "path": r.path, "status": r.status,
                 "outcome": r.outcome, "detail": r.detail} for r in rows]
