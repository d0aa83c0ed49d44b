"""One sub-command built per process (cli/app.py, decision 0029): the command a command line
names is found after the root options, the app built with only that command behaves as the
whole app for it (same help), and a command's process imports no other command's module."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tradebot.cli import app as cli_app
from tradebot.cli.app import COMMANDS, build_app, command_named


@pytest.mark.parametrize(("args", "name"), [
    (["live", "--account", "a"], "live"),
    (["--log-level", "INFO", "paper", "--account", "a"], "paper"),
    (["--log-level=INFO", "--log-json", "backtest"], "backtest"),
    (["--help"], None),
    (["-h", "live"], None),
    (["--version"], None),
    (["lvie"], None),
    ([], None),
    (["--log-level", "live"], None),  # "live" is the option's value here, not a command
])
def test_the_command_is_found_after_the_root_options(args: list[str], name: str | None) -> None:
    assert command_named(args) == name


def test_the_whole_app_has_every_command_once() -> None:
    whole = cli_app.app
    names = [c.name for c in whole.registered_commands] + [g.name for g in whole.registered_groups]
    assert sorted(names) == sorted(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_one_command_app_shows_the_same_help_as_the_whole_app(name: str) -> None:
    runner = CliRunner()
    alone = runner.invoke(build_app(name), [name, "--help"], prog_name="tradebot", terminal_width=100)
    whole = runner.invoke(cli_app.app, [name, "--help"], prog_name="tradebot", terminal_width=100)
    assert alone.exit_code == whole.exit_code == 0, (alone.output, whole.output)
    assert alone.output == whole.output and f"tradebot {name}" in alone.output


PROBE = """
import json, sys
sys.argv = ["tradebot", "live", "--help"]
from tradebot.cli.entry import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("tradebot.cli."))))
"""


def test_a_command_imports_no_other_command(tmp_path) -> None:
    res = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
                         env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    loaded = json.loads(res.stdout.strip().splitlines()[-1])
    others = {m for name, (m, _, _) in COMMANDS.items() if name != "live" and m != "tradebot.cli.live"}
    assert "tradebot.cli.live" in loaded and not others & set(loaded), loaded
