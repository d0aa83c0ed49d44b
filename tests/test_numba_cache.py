"""Where compiled kernels are cached: keyed by the sources in every case, scoped to tradebot.

A kernel's cache entry is checked by numba only against its own file; the kernels also
freeze helpers and constants of other modules. tradebot therefore caches its kernels in a
directory named after a fingerprint of all kernel packages (tradebot/_jit.py). These tests
run real processes with fresh cache directories.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tradebot
from tradebot import _jit

PACKAGE = Path(tradebot.__file__).resolve().parent


def copy_package(dest: Path) -> Path:
    """A copy of the tradebot sources (no caches) under ``dest``; returns the package dir."""
    target = dest / "tradebot"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    return target


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NUMBA_", "TRADEBOT_", "XDG_CACHE_HOME", "PYTHONPATH"))}
    env.update(extra)
    return env


def run_py(code: str, env: dict[str, str], cwd: Path) -> str:
    """Run ``code`` in a fresh interpreter in ``cwd`` (not the checkout: ``python -c``
    puts the working directory first on sys.path)."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


# --------------------------------------------------------------------- the cache key


def test_editing_a_helper_module_changes_the_key(tmp_path: Path) -> None:
    copy = copy_package(tmp_path)
    same = _jit.fingerprint(copy)
    assert same == _jit.fingerprint()  # content, not location: a fresh clone reuses the cache
    risk = copy / "engine" / "risk_nb.py"
    os.utime(risk, (1, 1))  # a touch (reinstall, checkout) is not a change
    assert _jit.fingerprint(copy) == same
    # Modules no kernel imports (the batch runner's Python side, the CLI) are not part of it.
    for name in ("engine/backtest.py", "engine/step.py", "cli/app.py"):
        path = copy / name
        path.write_text(path.read_text() + "\n# an edit\n")
    assert _jit.fingerprint(copy) == same
    text = risk.read_text()
    assert "OPTF_STEP = 1e-4" in text
    risk.write_text(text.replace("OPTF_STEP = 1e-4", "OPTF_STEP = 2e-4"))
    assert _jit.fingerprint(copy) != same


def test_the_key_covers_every_kernel_module_and_what_it_imports() -> None:
    files = {p.relative_to(PACKAGE).as_posix() for p in _jit.source_files()}
    kernel_modules = set(_jit.find_kernel_modules())
    assert kernel_modules == set(_jit.KERNEL_MODULES)  # a new kernel module must be listed
    assert kernel_modules <= files
    assert {"engine/kernels.py", "engine/risk_nb.py", "engine/config.py", "engine/layout.py",
            "engine/matching_nb.py", "engine/stops_nb.py", "optimize/kernels.py",
            "exchanges/sim.py", "indicators/fallback.py"} <= files
    # Every compiled module decorates with tradebot._jit.njit (else it escapes the key).
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert "from numba import njit" not in text and "numba.njit(" not in text.replace(
            "disp = numba.njit(", ""), path


def test_explicit_numba_cache_dir_still_gets_a_fingerprint_subdirectory(tmp_path: Path) -> None:
    fp = _jit.fingerprint()
    assert _jit.cache_dir(environ={"NUMBA_CACHE_DIR": str(tmp_path)}) == tmp_path / "tradebot" / fp
    assert _jit.cache_dir(environ={"XDG_CACHE_HOME": str(tmp_path)}) == (
        tmp_path / "tradebot" / "numba" / fp)


def test_fingerprint_is_fast() -> None:
    import time

    t = time.perf_counter()
    _jit.fingerprint(PACKAGE)  # not memoized for an explicit root
    assert time.perf_counter() - t < 0.5  # a few ms in practice; generous for a loaded machine


# ------------------------------------------------------------------ scoped, not global


def test_import_tradebot_sets_no_environment_variable(tmp_path: Path) -> None:
    out = run_py("""
        import os, sys
        import tradebot
        a = "NUMBA_CACHE_DIR" in os.environ
        b = "numba" in sys.modules
        import tradebot.engine.kernels
        print(a, b, "NUMBA_CACHE_DIR" in os.environ)
    """, clean_env(XDG_CACHE_HOME=str(tmp_path / "xdg")), tmp_path)
    assert out == "False False False"


USER_MODULE = """
from numba import njit

@njit(cache=True)
def plus_one(x):
    return x + 1
"""


@pytest.mark.parametrize("explicit", [False, True], ids=["default", "NUMBA_CACHE_DIR"])
def test_tradebot_kernels_cache_under_the_fingerprint_and_other_code_where_numba_would(
        tmp_path: Path, explicit: bool) -> None:
    user_dir = tmp_path / "userpkg"
    user_dir.mkdir()
    (user_dir / "usermod.py").write_text(USER_MODULE)
    if explicit:
        env = clean_env(NUMBA_CACHE_DIR=str(tmp_path / "ncd"))
        base = tmp_path / "ncd" / "tradebot" / _jit.fingerprint()
    else:
        env = clean_env(XDG_CACHE_HOME=str(tmp_path / "xdg"))
        base = tmp_path / "xdg" / "tradebot" / "numba" / _jit.fingerprint()
    env["PYTHONPATH"] = str(user_dir)
    out = run_py("""
        import numpy as np
        from tradebot.engine.kernels import max_drawdown_nb
        import usermod
        print(max_drawdown_nb(np.array([1.0, 2.0, 1.0])), usermod.plus_one(1))
        print(usermod.plus_one._cache.cache_path)
    """, env, tmp_path)
    lines = out.splitlines()
    assert lines[0] == "0.5 2"
    assert list((base / "engine").glob("kernels.max_drawdown_nb-*.nbi"))
    assert list((base / "engine").glob("kernels.max_drawdown_nb-*.nbc"))
    user_cache = Path(lines[1])
    if explicit:  # numba's own rule for NUMBA_CACHE_DIR: <dir>/<parent>_<hash of the path>
        assert user_cache.parent == tmp_path / "ncd"
        assert user_cache.name.startswith("userpkg_")
    else:  # numba's default: __pycache__ next to the source
        assert user_cache == user_dir / "__pycache__"
    assert list(user_cache.glob("usermod.plus_one-*.nbi"))
    tradebot_files = [p.name for p in base.rglob("*")]
    assert not any("plus_one" in name for name in tradebot_files)


# ------------------------------------------------------------------ the original bug


def test_edit_of_a_helper_module_is_seen_with_a_fixed_numba_cache_dir(tmp_path: Path) -> None:
    """Issue 17.2: with NUMBA_CACHE_DIR fixed, a kernel of kernels.py was cached with the
    risk_nb.py helpers it calls frozen in; after an edit of risk_nb.py alone the old code
    ran (a broken rule passed on a warm cache). Now the edit gives a new cache directory."""
    src = tmp_path / "src"
    copy = copy_package(src)
    env = clean_env(NUMBA_CACHE_DIR=str(tmp_path / "ncd"), PYTHONPATH=str(src))
    code = f"""
        import tradebot, numpy as np
        from tradebot.engine.config import EngineConfig
        from tradebot.engine.kernels import _trade_closed_nb, new_state_nb
        from tradebot.engine.layout import N_TRADE_COLS, S_N_CLOSED, T_PNL, T_RETURN
        assert tradebot.__file__.startswith({str(src)!r}), tradebot.__file__
        params = EngineConfig().to_vector()
        state = new_state_nb(params)
        trades = np.zeros((1, N_TRADE_COLS))
        trades[0, T_PNL], trades[0, T_RETURN] = 5.0, 0.01
        _trade_closed_nb(0, params, state, trades, 1)  # kernels.py -> risk_nb.on_trade_closed_nb
        print(state[S_N_CLOSED])
    """
    assert run_py(code, env, tmp_path) == "1.0"
    assert run_py(code, env, tmp_path) == "1.0"  # warm: served from the cache
    risk = copy / "engine" / "risk_nb.py"
    text = risk.read_text()
    assert "    state[S_N_CLOSED] = n + 1.0\n" in text
    risk.write_text(text.replace("    state[S_N_CLOSED] = n + 1.0\n", "    state[S_N_CLOSED] = n + 2.0\n"))
    assert run_py(code, env, tmp_path) == "2.0"  # the edited helper runs, not the cached one
    dirs = sorted(p.name for p in (tmp_path / "ncd" / "tradebot").iterdir())
    assert len(dirs) == 2  # one per fingerprint
