#!/usr/bin/env python3
"""The Python side of `liftdeck bench did`: the same TWFE DiD on the panel CSV liftdeck wrote
(unit,period,treated,cluster,y), timed in the same run.

- linearmodels PanelOLS(y ~ treated_post + EntityEffects + TimeEffects), cov_type='clustered'
  by the cluster column with group_debias=True (G/(G-1)); linearmodels already scales by
  (N-1)/(N-K) with the absorbed effects in K, so its SE is liftdeck's CR1 as printed, and
- statsmodels OLS of the two-way demeaned y on the two-way demeaned treated_post (balanced
  panel: y - unit mean - period mean + grand mean), cov_type='cluster'.

Timed: the fit (for statsmodels the demeaning too), not the CSV read. Each SE is also
in liftdeck's CR1 convention, G/(G-1)*(N-1)/(N-K) with K = units + periods - 1 + 1 (every
regressor of the dummy form), so the numbers compare one to one: statsmodels' factor
(N-1)/(N-1) (one regressor) is replaced by (N-1)/(N-K).

Prints a JSON list of {label, median_seconds, estimate, se}.
Usage: did_compare.py --csv FILE --first-post F [--repeats 5]
"""
import argparse
import json
import statistics
import time

import numpy as np
import pandas as pd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--first-post", type=int, required=True)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    df = pd.read_csv(a.csv)
    df["treated_post"] = (df["treated"] * (df["period"] >= a.first_post)).astype(float)
    units = df["unit"].nunique()
    periods = df["period"].nunique()
    n = len(df)
    k = units + periods - 1 + 1
    rows = []

    from linearmodels.panel import PanelOLS

    panel = df.set_index(["unit", "period"])
    times, res = [], None
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        res = PanelOLS(
            panel["y"], panel[["treated_post"]], entity_effects=True, time_effects=True
        ).fit(cov_type="clustered", clusters=panel[["cluster"]], group_debias=True)
        times.append(time.perf_counter() - t0)
    rows.append({
        "label": "linearmodels PanelOLS clustered, group_debias",
        "median_seconds": statistics.median(times),
        "estimate": float(res.params["treated_post"]),
        # Already G/(G-1)*(N-1)/(N-K) with the absorbed effects counted in K.
        "se": float(res.std_errors["treated_post"]),
    })

    import statsmodels.api as sm

    y = df["y"].to_numpy()
    x = df["treated_post"].to_numpy()
    unit = df["unit"].to_numpy()
    period = df["period"].to_numpy()
    cluster = df["cluster"].to_numpy()
    times, fit = [], None
    for _ in range(a.repeats):
        t0 = time.perf_counter()

        def demean(v):
            um = np.bincount(unit, weights=v) / np.bincount(unit)
            pm = np.bincount(period, weights=v) / np.bincount(period)
            return v - um[unit] - pm[period] + v.mean()

        fit = sm.OLS(demean(y), demean(x)).fit(cov_type="cluster",
                                               cov_kwds={"groups": cluster})
        times.append(time.perf_counter() - t0)
    rows.append({
        "label": "statsmodels OLS on demeaned data (K rescaled)",
        "median_seconds": statistics.median(times),
        "estimate": float(fit.params[0]),
        # statsmodels applied G/(G-1)*(N-1)/(N-1); put the fixed effects back into K.
        "se": float(fit.bse[0]) * ((n - 1) / (n - k)) ** 0.5,
    })
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
