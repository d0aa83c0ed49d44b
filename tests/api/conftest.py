"""Fixtures of the API tests: a home with a store, tokens of every kind, and a real uvicorn
server on 127.0.0.1 (a random free port) in a thread, reached with httpx."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")


@dataclass
class Tokens:
    read: str
    trade: str
    admin: str
    expired: str
    revoked: str


@dataclass
class Server:
    url: str
    ctx: object
    app: object
    tokens: Tokens
    home: Path

    def client(self, token: str | None = None, **kw: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0, **kw)


def make_ctx(home: Path):  # type: ignore[no-untyped-def]
    from tradebot.core.config import load_settings
    from tradebot.services.context import Context

    return Context(load_settings(overrides={"home": str(home)}, env={}))


def make_tokens(ctx) -> Tokens:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from tradebot.data.api_models import ApiToken
    from tradebot.services.api_tokens import create_token, revoke_token

    store = ctx.store
    read = create_token(store, "reader", "read", dt.timedelta(days=1))[1]
    trade = create_token(store, "trader", "trade", dt.timedelta(days=1))[1]
    admin = create_token(store, "admin", "admin", None)[1]
    expired = create_token(store, "old", "admin", dt.timedelta(days=1))[1]
    with store.session() as session:  # expired a minute ago
        session.execute(update(ApiToken).where(ApiToken.name == "old")
                        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    revoked = create_token(store, "gone", "admin", None)[1]
    revoke_token(store, "gone")
    return Tokens(read, trade, admin, expired, revoked)


class ServerThread:
    """uvicorn in a thread on 127.0.0.1, port chosen by the OS."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        # no logging config of uvicorn's own: its access and error lines reach the root logger
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="info",
                                                    log_config=None, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def server(home: Path) -> Iterator[Server]:
    from tradebot.api.app import create_app

    ctx = make_ctx(home)
    tokens = make_tokens(ctx)
    app = create_app(ctx)
    try:
        with ServerThread(app) as url:
            yield Server(url, ctx, app, tokens, home)
    finally:
        ctx.close()
