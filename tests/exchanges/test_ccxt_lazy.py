"""ccxt's exchange classes imported on first use: the same package names and classes as a
plain ``import ccxt``, and a step on one exchange imports that exchange's module only."""

from __future__ import annotations

import json
import subprocess
import sys

LAZY = r"""
import json, sys
from tradebot.exchanges.ccxt_exchange import CcxtExchange
import ccxt
before = sorted(k for k in sys.modules if k.startswith("ccxt.") and k.split(".")[1] in ccxt.exchanges)
ex = CcxtExchange("binance", rate_limit=False)
after = sorted(k for k in sys.modules if k.startswith("ccxt.") and k.split(".")[1] in ccxt.exchanges)
from ccxt.okx import okx
print(json.dumps({"lazy": getattr(ccxt, "__tradebot_lazy__", False), "before": before, "after": after,
                  "names": sorted(n for n in dir(ccxt) if not n.startswith("_")), "version": ccxt.__version__,
                  "okx_same": ccxt.okx is okx, "exchanges": ccxt.exchanges,
                  "binance": ccxt.binance.__module__, "tick": ccxt.TICK_SIZE}))
"""
PLAIN = r"""
import json
import ccxt
print(json.dumps({"names": sorted(n for n in dir(ccxt) if not n.startswith("_")), "version": ccxt.__version__,
                  "exchanges": ccxt.exchanges, "binance": ccxt.binance.__module__, "tick": ccxt.TICK_SIZE}))
"""


def _run(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_lazy_ccxt_has_the_plain_package_names_and_imports_one_exchange():
    lazy, plain = _run(LAZY), _run(PLAIN)
    assert lazy["lazy"] is True
    assert lazy["before"] == [] and lazy["after"] == ["ccxt.binance"]
    assert lazy["okx_same"] is True
    for key in ("version", "exchanges", "binance", "tick"):
        assert lazy[key] == plain[key], key
    assert set(plain["names"]) <= set(lazy["names"])  # every name of the package, exchanges included


def test_unknown_attribute_is_an_attribute_error():
    code = ("from tradebot.exchanges import ccxt_lazy\nccxt_lazy.install()\nimport ccxt\n"
            "try:\n    ccxt.not_an_exchange\nexcept AttributeError as e:\n    print('ok', e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr
