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
