"""Where tradebot's compiled kernels are cached, and the decorator they are compiled with.

numba invalidates a cached kernel only when *its own* source file changes, but a kernel
also freezes the helpers it calls and the constants it reads from other modules
(engine/risk_nb.py, engine/config.py...): after an edit or an upgrade a stale kernel
could run. So tradebot's kernels are cached in a directory named after a fingerprint of
the sources they can depend on (:func:`source_files`: every kernel module and every
tradebot module it imports, directly or not)::

    <NUMBA_CACHE_DIR>/tradebot/<fingerprint>/<package>/     when NUMBA_CACHE_DIR is set
    ~/.cache/tradebot/numba/<fingerprint>/<package>/       otherwise ($XDG_CACHE_HOME/...)

Any change to those sources starts from a clean directory; identical sources (a
reinstall, a fresh clone elsewhere) reuse it. The fingerprint is a SHA-256 of the files'
contents (not their times).

Only tradebot's own kernels are redirected: a cache locator for files under this package
is put in front of numba's locators the first time a kernel module is imported (through
:func:`njit`). ``os.environ`` and numba's configuration are left alone, so other numba
code in the process, and child processes, cache where they would have anyway.

Kernel modules use ``from tradebot._jit import njit`` instead of numba's. It is numba's
``njit`` with one difference: a kernel called from another kernel is compiled for the
plain types of its arguments, not for each constant it is called with (numba would
otherwise compile ``record_fill_nb(..., ORDER_MARKET, ...)`` and ``(..., ORDER_LIMIT,
...)`` separately), so each kernel compiles once per argument types.

This module does not import numba until a kernel is decorated: ``import tradebot`` and
:func:`cache_dir` stay cheap.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

PACKAGE_ROOT = Path(__file__).resolve().parent
# The modules that hold kernels (they decorate with this module's njit; a test checks
# that this list names every one of them).
KERNEL_MODULES = (
    "engine/kernels.py", "engine/matching_nb.py", "engine/portfolio_nb.py", "engine/risk_nb.py",
    "engine/stops_nb.py",
    "exchanges/sim.py",
    "indicators/chart_patterns_nb.py", "indicators/fallback.py",
    "indicators/fallback_candlestick.py", "indicators/fallback_momentum.py",
    "indicators/fallback_trend.py", "indicators/fallback_volatility.py",
    "indicators/fallback_volume.py",
    "ml/labels_nb.py", "ml/regime/percentile_nb.py", "ml/rolling_nb.py", "ml/select/intent_nb.py",
    "optimize/kernels.py", "optimize/overfit.py", "optimize/pareto.py",
    "strategies/orderflow_nb.py",
)
KERNEL_MARK = b"from tradebot._jit import njit"
_IMPORT = re.compile(rb"^[ \t]*(?:from[ \t]+(tradebot[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)"
                     rb"|import[ \t]+(tradebot[\w.]*))", re.M)

_fingerprint: str | None = None
_installed = False


def _module_file(root: str, dotted: str) -> str | None:
    """The file of module ``dotted`` (``tradebot.x.y``) under ``root``, or None."""
    parts = dotted.split(".")[1:]
    if not all(p.isidentifier() for p in parts):
        return None
    base = os.path.join(root, *parts)
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def _imports(root: str, text: bytes) -> set[str]:
    """The files of the tradebot modules ``text`` imports anywhere (at module level or in
    a function)."""
    found = set()
    for m in _IMPORT.finditer(text):
        dotted = (m.group(1) or m.group(3)).decode()
        module = _module_file(root, dotted)
        if module is None:
            continue
        found.add(module)
        if not module.endswith("__init__.py") or not m.group(2):
            continue  # names imported from a module, not submodules of a package
        for name in m.group(2).decode().strip("()").split(","):
            if name.split():
                sub = _module_file(root, f"{dotted}.{name.split()[0]}")
                if sub is not None:
                    found.add(sub)
    return found


def source_files(root: Path = PACKAGE_ROOT) -> list[Path]:
    """The source files the fingerprint covers, in a stable order: every kernel module
    (:data:`KERNEL_MODULES`) and every tradebot module it imports, directly or through
    others. A kernel can read globals only from these: the compiled code is fresh for
    exactly these sources, and edits elsewhere keep the cache."""
    top = str(root)
    seen = {os.path.join(top, "_jit.py")}
    todo = []
    for name in KERNEL_MODULES:
        path = os.path.join(top, name)
        if os.path.isfile(path):
            seen.add(path)
            todo.append(path)
    while todo:
        with open(todo.pop(), "rb") as f:
            text = f.read()
        for dep in _imports(top, text):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return sorted(Path(p) for p in seen)


def find_kernel_modules(root: Path = PACKAGE_ROOT) -> list[str]:
    """Every module that decorates with :func:`njit` (reads the whole package: for tests)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py")
                  if p.name != "_jit.py" and KERNEL_MARK in p.read_bytes())


def fingerprint(root: Path = PACKAGE_ROOT) -> str:
    """SHA-256 (first 16 hex digits) of the version and the contents of :func:`source_files`,
    with their paths relative to ``root``. Computed once per process for the package."""
    global _fingerprint
    if root == PACKAGE_ROOT and _fingerprint is not None:
        return _fingerprint
    from tradebot import __version__

    h = hashlib.sha256(__version__.encode())
    for path in source_files(root):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    value = h.hexdigest()[:16]
    if root == PACKAGE_ROOT:
        _fingerprint = value
    return value


def cache_root(environ: Any = None) -> Path:
    """The directory under which each fingerprint gets its own subdirectory."""
    env = os.environ if environ is None else environ
    user = env.get("NUMBA_CACHE_DIR")
    if user:
        return Path(user).expanduser() / "tradebot"
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "tradebot" / "numba"


def cache_dir(root: Path = PACKAGE_ROOT, environ: Any = None) -> Path:
    """Where the kernels of the package at ``root`` are cached (not created here)."""
    return cache_root(environ) / fingerprint(root)


def is_compiled(*patterns: str) -> bool:
    """Whether the cache holds an index for every kernel named by ``patterns``
    (``"engine/kernels.run_market_nb"``: package directory, module and function). Cheap:
    looks at file names only, imports nothing."""
    base = cache_dir()
    for pattern in patterns:
        folder, _, stem = pattern.rpartition("/")
        if not any((base / folder).glob(f"{stem}-*.nbi")):
            return False
    return True


_usable_dirs: set[str] = set()
_process_dir: Path | None = None


def _process_cache_dir() -> Path:
    """:func:`cache_dir` as of the first kernel of this process."""
    global _process_dir
    if _process_dir is None:
        _process_dir = cache_dir()
    return _process_dir


def _locator_class() -> Any:
    from numba.core import caching

    class TradebotCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
        """Caches kernels defined in tradebot's source files under :func:`cache_dir`,
        in a subdirectory per package directory (relative to the package: the same
        sources share a cache wherever they are installed). Returns no locator for any
        other file, so numba's own locators serve everything else."""

        def __init__(self, py_func: Any, py_file: str, base: Path) -> None:
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            rel = Path(py_file).resolve().parent.relative_to(PACKAGE_ROOT)
            self._cache_path = str(base / rel)

        def get_cache_path(self) -> str:
            return self._cache_path

        def ensure_cache_path(self) -> None:
            if self._cache_path not in _usable_dirs:  # checked once per directory
                super().ensure_cache_path()
                _usable_dirs.add(self._cache_path)

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            try:
                Path(py_file).resolve().relative_to(PACKAGE_ROOT)
            except (ValueError, OSError):
                return None
            if not os.path.exists(py_file):
                return None
            try:
                self = cls(py_func, py_file, _process_cache_dir())
                self.ensure_cache_path()
            except OSError:
                return None  # not writable: numba's own locators decide
            return self

    return TradebotCacheLocator


def install() -> None:
    """Put the tradebot cache locator in front of numba's (once per process)."""
    global _installed
    if _installed:
        return
    from numba.core import caching

    locators = caching.CacheImpl._locator_classes
    if not any(getattr(c, "__name__", "") == "TradebotCacheLocator" for c in locators):
        locators.insert(0, _locator_class())
    _installed = True


def _unliteral_calls(disp: Any) -> None:
    """Make calls to ``disp`` from other kernels compile for the unliteral argument types."""
    from numba.core import types

    plain = disp.get_call_template

    def get_call_template(args: Any, kws: Any) -> Any:
        return plain(tuple(types.unliteral(a) for a in args),
                     {k: types.unliteral(v) for k, v in kws.items()})

    disp.get_call_template = get_call_template


def njit(*args: Any, **options: Any) -> Any:
    """``numba.njit`` for tradebot kernels: cached under :func:`cache_dir` (with
    ``cache=True``) and compiled once per argument types (see the module docstring)."""
    install()
    import numba

    def decorate(fn: Any) -> Any:
        disp = numba.njit(**options)(fn)
        _unliteral_calls(disp)
        return disp

    if args and callable(args[0]) and len(args) == 1 and not options:
        return decorate(args[0])
    if args:
        raise TypeError("tradebot._jit.njit takes keyword options only (no signatures)")
    return decorate
