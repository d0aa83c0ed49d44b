"""A process that settles intents with submit_or_adopt, to be killed at random instants
(tests/engine/test_submit_or_adopt.py). Arguments: server URL, journal path, intents.

It prints ``ready`` once markets are loaded, then one line per settled intent. The
receive window is shortened to 1 s on both sides (ccxt's ``recvWindow`` and
``recv_window_ms``) so that resending after a crash-before-send waits 1.5 s, not 15.
"""

from __future__ import annotations

import sys
import time

from tradebot.core.errors import ExchangeError
from tradebot.core.orders import OrderRecord, OrderState
from tradebot.engine.order_journal import JsonOrderJournal
from tradebot.engine.orders import submit_or_adopt
from tradebot.exchanges.ccxt_exchange import CcxtExchange
from tradebot.exchanges.retry import RetryPolicy

KEY, SECRET = "engine-key", "engine-secret-value"
T0 = 1_700_000_000_000
SETTLED = {OrderState.FILLED, OrderState.ACKNOWLEDGED, OrderState.PARTIALLY_FILLED, OrderState.CANCELLED,
           OrderState.REJECTED, OrderState.EXPIRED}


def main() -> None:
    url, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ex = CcxtExchange("binance", base_url=url, api_key=KEY, secret=SECRET, rate_limit=False, timeout_ms=300,
                      retry=RetryPolicy(max_attempts=3, base_delay_s=0.005, max_delay_s=0.02), recv_window_ms=1000)
    ex.load_markets()
    journal = JsonOrderJournal(path)
    print("ready", flush=True)
    for i in range(count):
        intent = OrderRecord.intend("chaos", "BTC/USDT", T0 + i * 60_000, "entry", "buy" if i % 2 else "sell",
                                    "market", 0.01, None, now_ms=T0)
        while True:
            try:
                result = submit_or_adopt(journal, ex, intent, int(time.time() * 1000), recv_window_ms=ex.recv_window_ms,
                                         grace_ms=500)
            except ExchangeError:
                continue
            if result.record.state in SETTLED:
                print(i, result.action, result.record.state.value, flush=True)
                break
            time.sleep(0.05)


if __name__ == "__main__":
    main()
