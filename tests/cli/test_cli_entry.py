"""The console script's guard: a Ctrl-C while the app is still being imported ends with one
line and exit 130, like one during a command (tests/cli/test_cli_interrupt.py)."""

from __future__ import annotations

import subprocess
import sys

# A Ctrl-C that lands while Python imports tradebot.cli.app: an import hook raises it there.
SCRIPT = """
import sys
class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "tradebot.cli.app":
            raise KeyboardInterrupt
        return None
sys.meta_path.insert(0, CtrlC())
from tradebot.cli.entry import main
sys.argv = ["tradebot", "--help"]
main()
"""


def test_ctrl_c_while_starting_is_one_line_and_exit_130() -> None:
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert res.returncode == 130, res
    assert res.stderr.strip().splitlines() == ["interrupted: tradebot was still starting; nothing was done"]
    assert "Traceback" not in res.stderr and res.stdout == ""


def test_the_console_script_runs_the_app() -> None:
    res = subprocess.run([sys.executable, "-c", "import sys; sys.argv = ['tradebot', '--help'];"
                          "from tradebot.cli.entry import main; main()"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res
    assert "Usage: tradebot" in res.stdout


# A Ctrl-C that lands inside a ctypes callback (as llvmlite's object-cache callbacks run while
# numba loads a kernel): raised there, it would be printed as "Exception ignored on calling
# ctypes callback function ..." and lost, and the C caller would get a garbage answer.
CALLBACK = """
import ctypes, os, signal, time
from tradebot.cli import app
signal.signal(signal.SIGINT, app._on_sigint)
libc = ctypes.CDLL(None)
CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
src = ("def cmp(a, b):\\n"
       "    if not sent:\\n"
       "        sent.append(1)\\n"
       "        os.kill(os.getpid(), signal.SIGINT)\\n"
       "        t = time.time()\\n"
       "        while time.time() - t < 0.02:\\n"
       "            pass\\n"
       "    return a[0] - b[0]\\n")
ns = {"os": os, "signal": signal, "time": time, "sent": []}
exec(compile(src, "/venv/site-packages/llvmlite/binding/executionengine.py", "exec"), ns)
values = (ctypes.c_int * 5)(5, 3, 1, 4, 2)
try:
    libc.qsort(values, 5, ctypes.sizeof(ctypes.c_int), CMP(ns["cmp"]))
    time.sleep(5)
    print("not interrupted", list(values))
except KeyboardInterrupt:
    print("interrupted", list(values))
"""


def test_ctrl_c_inside_a_library_callback_is_delivered_after_it() -> None:
    res = subprocess.run([sys.executable, "-c", CALLBACK], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res
    assert res.stdout.strip() == "interrupted [1, 2, 3, 4, 5]"  # the callback answered; then the interrupt
    assert res.stderr == ""  # no "Exception ignored on calling ctypes callback function"


# A Ctrl-C that lands while a C extension initialises and imports a Python module:
# numba._dispatcher imports numba._devicearray and, on any error, prints it with PyErr_Print
# (a traceback on stderr) and raises "ImportError: numba._devicearray failed to import".
EXTENSION = """
import os, signal, sys, time
from tradebot.cli import app
signal.signal(signal.SIGINT, app._on_sigint)
class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "numba._devicearray":
            os.kill(os.getpid(), signal.SIGINT)
            t = time.time()
            while time.time() - t < 0.02:
                pass
        return None
sys.meta_path.insert(0, CtrlC())
try:
    import numba
    time.sleep(5)
    print("not interrupted")
except KeyboardInterrupt:
    print("interrupted", "numba._dispatcher" in sys.modules)
"""


def test_ctrl_c_while_an_extension_initialises_is_delivered_after_it() -> None:
    res = subprocess.run([sys.executable, "-c", EXTENSION], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res
    assert res.stdout.strip() == "interrupted True"  # the extension loaded; then the interrupt
    assert "Traceback" not in res.stderr and "failed to import" not in res.stderr, res.stderr


# A Ctrl-C that lands in a finalizer: raised there, it is printed as "Exception ignored in ..."
# and lost.
FINALIZER = """
import os, signal, time
from tradebot.cli import app
signal.signal(signal.SIGINT, app._on_sigint)
class Handle:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        t = time.time()
        while time.time() - t < 0.02:
            pass
try:
    handle = Handle()
    del handle
    time.sleep(5)
    print("not interrupted")
except KeyboardInterrupt:
    print("interrupted")
"""


def test_ctrl_c_inside_a_finalizer_is_delivered_after_it() -> None:
    res = subprocess.run([sys.executable, "-c", FINALIZER], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res
    assert res.stdout.strip() == "interrupted"
    assert res.stderr == ""  # no "Exception ignored in: <function Handle.__del__ ...>"
