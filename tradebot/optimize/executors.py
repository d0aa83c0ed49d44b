"""Where batches are evaluated: in process, on local processes (joblib), or on a Dask cluster.

Every executor returns the trials of a batch in the order asked, and a trial's result
depends only on its parameters, so a study gives identical results whatever the executor
and the number of workers.

What workers receive once:

- ``joblib`` (loky processes, kept alive for the whole study): the problem's arrays above
  ``max_nbytes`` are written once to a memory-mapped file that every worker maps
  read-only; indicator values are computed once per distinct key in the parent and sent
  with the chunks that need them.
- Dask: the problem is scattered (broadcast) to every worker once per study, each
  distinct indicator key's values once, and tasks refer to them by future.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from tradebot.core.errors import ClusterUnavailable, UsageError
from tradebot.optimize.evaluate import BarRange, IndicatorKey, Indicators, Problem, Trials


class Executor(Protocol):
    workers: int

    def evaluate(self, problem: Problem, param_sets: Sequence[Mapping[str, Any]], window: BarRange) -> Trials: ...

    def close(self) -> None: ...


def _chunks(n: int, parts: int) -> list[tuple[int, int]]:
    """``n`` items in at most ``parts`` contiguous, nearly equal slices."""
    parts = max(1, min(parts, n))
    q, r = divmod(n, parts)
    out, lo = [], 0
    for i in range(parts):
        hi = lo + q + (1 if i < r else 0)
        out.append((lo, hi))
        lo = hi
    return out


def _eval_chunk(problem: Problem, shared: Mapping[IndicatorKey, Indicators],
                param_sets: Sequence[Mapping[str, Any]], window: BarRange) -> Trials:
    problem.add_indicators(shared)
    return problem.evaluate(param_sets, window)


def _eval_chunk_dask(problem: Problem, keys: list[IndicatorKey], values: list[Indicators],
                     param_sets: Sequence[Mapping[str, Any]], window: BarRange) -> Trials:
    return _eval_chunk(problem, dict(zip(keys, values, strict=True)), param_sets, window)


class InProcess:
    """Evaluate in this process (numba threads still run the trials in parallel)."""

    workers = 1

    def evaluate(self, problem: Problem, param_sets: Sequence[Mapping[str, Any]], window: BarRange) -> Trials:
        return problem.evaluate(param_sets, window)

    def close(self) -> None:
        pass


class JoblibExecutor:
    """``--jobs N``: N loky worker processes kept for the whole study."""

    def __init__(self, jobs: int) -> None:
        from joblib import Parallel

        if jobs < 1:
            raise UsageError(f"--jobs {jobs}: must be >= 1")
        self.workers = jobs
        self._parallel = Parallel(n_jobs=jobs, backend="loky", max_nbytes="256K", mmap_mode="r")
        self._parallel.__enter__()

    def evaluate(self, problem: Problem, param_sets: Sequence[Mapping[str, Any]], window: BarRange) -> Trials:
        from joblib import delayed

        sets = list(param_sets)
        jobs = []
        for lo, hi in _chunks(len(sets), self.workers):
            part = sets[lo:hi]
            shared = {k: problem.indicators(k) for k in problem.keys_for(part)}
            jobs.append(delayed(_eval_chunk)(problem, shared, part, window))
        return Trials.concat(self._parallel(jobs))

    def close(self) -> None:
        self._parallel.__exit__(None, None, None)


_ADDRESS = re.compile(r"^(?:(tcp|tls|ws|wss|ucx)://)?(\[[0-9a-fA-F:]+\]|[^:/\s\[\]]+):(\d{1,5})$")


def _check_address(address: str) -> None:
    """A scheduler address is ``[scheme://]host:port``; anything else is refused before a
    client is built (distributed's own errors come after a long timeout and a stray traceback)."""
    m = _ADDRESS.match(address.strip())
    if m is None or not 0 < int(m.group(3)) < 65536:
        raise UsageError(f"--cluster {address}: not a Dask scheduler address "
                         "(expected [tcp://]HOST:PORT, e.g. tcp://scheduler:8786)")


class DaskExecutor:
    """``--cluster tcp://HOST:8786``: a running Dask scheduler and its workers."""

    def __init__(self, address: str, timeout_s: float = 10.0) -> None:
        try:
            from distributed import Client
        except ImportError as e:  # pragma: no cover - a declared dependency
            raise UsageError("--cluster needs the 'distributed' package (pip install dask[distributed])") from e
        _check_address(address)
        try:
            self._client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)
        except ValueError as e:  # not an address distributed understands: a usage error
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UsageError(f"--cluster {address}: not a Dask scheduler address ({reason})") from None
        except (OSError, TimeoutError) as e:  # a valid address nobody answers on: runtime
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ClusterUnavailable(f"--cluster {address}: cannot reach the Dask scheduler ({reason})") from None
        self.workers = max(1, sum(w.get("nthreads", 1) for w in
                                  self._client.scheduler_info().get("workers", {}).values()))
        self._problem: Any = None
        self._problem_id: int | None = None
        self._shared: dict[IndicatorKey, Any] = {}

    def _scatter_problem(self, problem: Problem) -> Any:
        if self._problem_id != id(problem):
            self._problem = self._client.scatter(problem, broadcast=True, hash=False)
            self._problem_id = id(problem)
            self._shared = {}
        return self._problem

    def evaluate(self, problem: Problem, param_sets: Sequence[Mapping[str, Any]], window: BarRange) -> Trials:
        fut_problem = self._scatter_problem(problem)
        sets = list(param_sets)
        futures = []
        for lo, hi in _chunks(len(sets), self.workers):
            part = sets[lo:hi]
            keys = problem.keys_for(part)
            for k in keys:
                if k not in self._shared:
                    # in a list: scattering a dict would scatter its items under their own keys
                    [self._shared[k]] = self._client.scatter([problem.indicators(k)], broadcast=True, hash=False)
            futures.append(self._client.submit(_eval_chunk_dask, fut_problem, keys,
                                               [self._shared[k] for k in keys], part, window, pure=False))
        return Trials.concat(self._client.gather(futures))

    def close(self) -> None:
        self._client.close()


def make_executor(jobs: int = 1, cluster: str | None = None) -> Executor:
    if cluster:
        return DaskExecutor(cluster)
    if jobs > 1:
        return JoblibExecutor(jobs)
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: must be >= 1")
    return InProcess()
