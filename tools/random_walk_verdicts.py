"""Every built-in model and label method on driftless random walks: the verdict must be
"no evidence of edge" for each (issue 11). The test suite runs the fast part of this grid
(tests/ml/test_evaluate.py); this script runs all of it, hgb included (minutes per case).

    python tools/random_walk_verdicts.py [--seeds 7,8] [--bars 3000] [--models logreg,rf,hgb]
        [--labels forward,triple_barrier]

Prints one line per case and exits 1 if any case claims an edge.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="7,8")
    ap.add_argument("--bars", type=int, default=3000)
    ap.add_argument("--models", default="logreg,rf,hgb")
    ap.add_argument("--labels", default="forward,triple_barrier")
    args = ap.parse_args(argv)

    from tradebot.core.config import load_settings
    from tradebot.ml.evaluate import CVSettings, LabelSettings, cross_validate, make_dataset, make_labels
    from tradebot.ml.features import build_features
    from tradebot.ml.pipeline import ModelSettings
    from tradebot.ml.verdict import NO_EDGE, verdict
    from tradebot.services.backtest import engine_config
    from tradebot.testing.markets import regime_market

    config = engine_config(load_settings(None, None, {}))
    labels = {"forward": LabelSettings(horizon=12),
              "triple_barrier": LabelSettings(method="triple_barrier", horizon=24, profit=2.0, stop=1.0)}
    failed = 0
    for model in args.models.split(","):
        for name in args.labels.split(","):
            label = labels[name]
            for seed in (int(s) for s in args.seeds.split(",")):
                t0 = time.perf_counter()
                candles = regime_market(args.bars, seed, planted=False)
                features = build_features(candles, "default")
                ds = make_dataset(features, make_labels(candles, label))
                cv = cross_validate(candles, features, ds, ModelSettings(model=model),
                                    CVSettings(folds=3, shuffles=19), config, seed=42)
                v = verdict(cv)
                failed += v.verdict != NO_EDGE
                print(f"{model:7s} {name:15s} seed {seed}: {v.verdict:22s} AUC {cv.mean_auc:.3f} "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
    print("all cases: no evidence of edge" if not failed else f"{failed} case(s) claimed an edge")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
