"""Fixtures of the operations tests: the CLI's fresh home and in-process runner, the local
HTTP receiver of the notification tests, and a home holding one cached market."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Result, home, run, run_subprocess  # noqa: F401
from tests.notify.conftest import HttpReceiver, http_receiver  # noqa: F401

EXCHANGE, SYMBOL = "testex", "TEST/USDT"

#: secrets configured in the logging tests; none may appear in any log, output or stored row
SECRETS = {
    "api_key": "AKIAk3yV4lu3SHOULDNOTLEAK",
    "secret": "s3cr3tV4lu3SHOULDNOTLEAK",
    "password": "p4ssphr4seSHOULDNOTLEAK",
    "url_password": "hookPassw0rdNOTLEAK",
    "url_token": "Tok3nInQueryNOTLEAK",
}


def cache_market(root: Path, n: int = 300, seed: int = 1) -> Path:
    """Cache ``n`` hourly candles of testex TEST/USDT under ``root``; returns the file."""
    from tradebot.data.cache import CandleCache
    from tradebot.testing.markets import regime_market

    return CandleCache(root / "data").save(regime_market(n, seed, True, symbol=SYMBOL, exchange=EXCHANGE)).path


def write_config(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "config.toml"
    path.write_text(text)
    return path


def paper_args(account: str = "a1", strategy: str = "rsi") -> list[str]:
    return ["paper", "-a", account, "--source", "cache", "--exchange", EXCHANGE, "--symbol", SYMBOL,
            "--timeframe", "1h", "--strategy", strategy]


__all__ = ["EXCHANGE", "SECRETS", "SYMBOL", "HttpReceiver", "Result", "cache_market", "paper_args",
           "write_config"]
