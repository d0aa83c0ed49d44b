"""The verdict on a cross-validated model: "edge" or "no evidence of edge".

The rule (docs/decisions/0014-model-registry.md), all on out-of-sample numbers:

1. **Shuffled-label permutation test of the AUC**: the model's mean fold AUC against the
   mean fold AUC of the same model fitted on each training fold's labels rotated against
   its features by a random offset (:func:`tradebot.ml.evaluate.shifted_labels`),
   ``p = (1 + #{shuffled >= model}) / (1 + N)``; it must be <= :data:`ALPHA`.
2. **The same test of the trading return** (folds compounded, through the engine with
   fees and slippage): ``p <= ALPHA``.
3. **Beats buy and hold** over the same test folds, after costs (a model that only rides
   a trend the market had anyway has no edge of its own).
4. **Deflated Sharpe ratio** (:func:`tradebot.optimize.overfit.deflated_sharpe_ratio`) of
   the out-of-sample daily returns, deflated for every configuration tried under the
   model's name (all earlier versions plus this one): ``DSR >= DSR_MIN``.

"edge" needs all four; anything undefined (too few shuffles for ``p <= ALPHA`` to be
possible, a single class in every test fold, fewer than 2 days of returns) fails. On a
random walk each test alone passes with probability about ``ALPHA`` (the permutation tests)
or less (DSR), and all three together much more rarely.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tradebot.ml.evaluate import CVResult

ALPHA = 0.05
DSR_MIN = 0.95
EDGE = "edge"
NO_EDGE = "no evidence of edge"


def permutation_p(model: float, shuffled: Sequence[float]) -> float:
    """``(1 + #{s >= model}) / (1 + N)``; an undefined shuffled value counts against the
    model, an undefined model value gives 1."""
    if not math.isfinite(model):
        return 1.0
    worse = sum(1 for s in shuffled if not math.isfinite(s) or s >= model)
    return (1 + worse) / (1 + len(shuffled))


def min_shuffles(alpha: float = ALPHA) -> int:
    """Fewest shuffled runs with which ``p <= alpha`` is possible."""
    return math.ceil(1.0 / alpha - 1.0 - 1e-9)


@dataclass(frozen=True)
class Verdict:
    verdict: str
    p_auc: float
    p_return: float
    dsr: float | None
    sharpe: float | None  # per day, out of sample
    sharpe0: float | None  # the deflated benchmark
    n_trials: int
    shuffles: int
    reasons: tuple[str, ...]  # what failed (empty for "edge")

    @property
    def edge(self) -> bool:
        return self.verdict == EDGE

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"] = list(self.reasons)
        d["rule"] = (f"edge iff AUC and trading-return permutation p <= {ALPHA} against {self.shuffles} "
                     f"shuffled-label runs, return above buy and hold, and DSR >= {DSR_MIN} over {self.n_trials} "
                     "configuration(s)")
        return d

    def line(self) -> str:
        return verdict_line(self.to_dict())


def verdict_line(detail: dict[str, Any]) -> str:
    """The one verdict line of a :meth:`Verdict.to_dict` (as stored in the registry)."""
    dsr = "n/a" if detail.get("dsr") is None else f"{detail['dsr']:.2f}"
    stats = (f"AUC permutation p={detail['p_auc']:.3f}, return permutation p={detail['p_return']:.3f} "
             f"({detail['shuffles']} shuffled-label runs), DSR {dsr} over {detail['n_trials']} configuration(s)")
    if detail["verdict"] == EDGE:
        return f"Verdict: {EDGE} (out of sample: {stats})"
    return f"Verdict: {NO_EDGE} (out of sample: {stats}; {'; '.join(detail['reasons'])})"


def verdict(cv: CVResult, prior_sharpes: Sequence[float | None] = ()) -> Verdict:
    """Apply the rule to ``cv``; ``prior_sharpes``: the out-of-sample daily Sharpe ratios of
    the configurations tried before under the same name (None/NaN where undefined)."""
    from tradebot.optimize.overfit import deflated_sharpe_ratio, sharpe_per_period

    n = len(cv.shuffles)
    p_auc = permutation_p(cv.mean_auc, [s.mean_auc for s in cv.shuffles])
    p_ret = permutation_p(cv.total_return, [s.total_return for s in cv.shuffles])
    daily = cv.daily_returns
    own = sharpe_per_period(daily) if daily.size >= 2 else math.nan
    trials = [math.nan if s is None else float(s) for s in prior_sharpes] + [own]
    dsr = sharpe = sharpe0 = None
    reasons: list[str] = []
    if daily.size >= 2:
        d = deflated_sharpe_ratio(daily, trials)
        sharpe0 = d.sharpe0
        if math.isfinite(d.dsr):
            dsr, sharpe = d.dsr, d.sharpe
        else:
            reasons.append(f"DSR undefined ({d.reason})")
    else:
        reasons.append(f"DSR undefined ({daily.size} day(s) of out-of-sample returns)")
    if n < min_shuffles():
        reasons.append(f"{n} shuffled-label runs cannot give p <= {ALPHA} (use --shuffles {min_shuffles()} or more)")
    if p_auc > ALPHA:
        reasons.append(f"AUC {_f(cv.mean_auc)} not above the shuffled-label runs (p={p_auc:.3f} > {ALPHA})")
    if p_ret > ALPHA:
        reasons.append(f"trading return {cv.total_return:+.2%} not above the shuffled-label runs "
                       f"(p={p_ret:.3f} > {ALPHA})")
    if dsr is not None and dsr < DSR_MIN:
        reasons.append(f"DSR {dsr:.2f} < {DSR_MIN}")
    hold = cv.buy_hold_return
    if not cv.total_return > hold:
        reasons.append(f"trading return {cv.total_return:+.2%} does not beat buy and hold ({hold:+.2%})")
    base = cv.base_return  # a meta model must add something to the strategy it filters
    if base is not None and not cv.total_return > base:
        reasons.append(f"trading return {cv.total_return:+.2%} does not beat the base strategy alone ({base:+.2%})")
    return Verdict(NO_EDGE if reasons else EDGE, p_auc, p_ret, dsr, sharpe, sharpe0, len(trials), n,
                   tuple(reasons))


def _f(x: float) -> str:
    return f"{x:.3f}" if math.isfinite(x) else "n/a"
