#!/usr/bin/env python3
"""The Python side of `liftdeck bench causal`: the same causal report stages on the units CSV
liftdeck wrote (x1..x5,t,y,train), timed in the same run.

- observational: statsmodels Logit (Newton) propensity on all units, Hajek IPW in numpy, AIPW
  with statsmodels OLS outcome models per arm (no trimming, ATE), as liftdeck's defaults;
- t_fit / x_fit on the train=1 rows: scikit-learn LogisticRegression(penalty=None,
  solver='newton-cholesky') per arm; the X-learner adds LinearRegression of the imputed effects
  D1 = y - p0(x) (treated) and D0 = p1(x) - y (control), combined with g = share treated;
- t_eval / x_eval on the train=0 rows: predict, then causalml's qini_score and auuc_score
  (normalize=True). Without causalml these stages are skipped and a note says so.

Timed: the fits and evaluations, not the CSV read. Prints one JSON object
{label, stages: {key: median seconds}, estimates: {key: value}, notes: [...]}.
Usage: causal_compare.py --csv FILE [--repeats 3]
"""
import argparse
import json
import statistics
import time
import warnings

import numpy as np
import pandas as pd


def timed(times, key, f):
    t0 = time.perf_counter()
    out = f()
    times.setdefault(key, []).append(time.perf_counter() - t0)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    df = pd.read_csv(a.csv)
    cols = ["x1", "x2", "x3", "x4", "x5"]
    x = df[cols].to_numpy()
    t = df["t"].to_numpy().astype(float)
    y = df["y"].to_numpy().astype(float)
    train = df["train"].to_numpy() == 1

    import statsmodels.api as sm
    from sklearn.linear_model import LinearRegression, LogisticRegression

    notes = []
    try:
        from causalml.metrics import auuc_score, qini_score
    except ImportError as e:
        qini_score = auuc_score = None
        notes.append(f"causalml not importable ({e}): Qini/AUUC stages skipped")

    xc = sm.add_constant(x)
    times, est = {}, {}

    def observational():
        e = sm.Logit(t, xc).fit(method="newton", disp=0, tol=1e-10, maxiter=100).predict(xc)
        w1, w0 = t / e, (1 - t) / (1 - e)
        ipw = (w1 @ y) / w1.sum() - (w0 @ y) / w0.sum()
        m1 = sm.OLS(y[t == 1], xc[t == 1]).fit().predict(xc)
        m0 = sm.OLS(y[t == 0], xc[t == 0]).fit().predict(xc)
        aipw = np.mean(m1 + t * (y - m1) / e) - np.mean(m0 + (1 - t) * (y - m0) / (1 - e))
        return ipw, aipw

    xt, tt, yt = x[train], t[train], y[train]
    xh, th, yh = x[~train], t[~train], y[~train]
    g = tt.mean()

    def logit(xs, ys):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = LogisticRegression(penalty=None, solver="newton-cholesky", max_iter=200, tol=1e-10)
            return m.fit(xs, ys)

    def t_fit():
        return logit(xt[tt == 1], yt[tt == 1]), logit(xt[tt == 0], yt[tt == 0])

    def x_fit():
        m1, m0 = t_fit()
        x1, x0 = xt[tt == 1], xt[tt == 0]
        d1 = yt[tt == 1] - m0.predict_proba(x1)[:, 1]
        d0 = m1.predict_proba(x0)[:, 1] - yt[tt == 0]
        return LinearRegression().fit(x1, d1), LinearRegression().fit(x0, d0)

    def evaluate(score):
        held = pd.DataFrame({"y": yh, "w": th, "score": score})
        q = qini_score(held, outcome_col="y", treatment_col="w", normalize=True)
        u = auuc_score(held, outcome_col="y", treatment_col="w", normalize=True)
        return float(q["score"]), float(u["score"])

    for _ in range(max(a.repeats, 1)):
        # The Logit fit alone (also inside `observational`), left out of the total.
        timed(times, "propensity",
              lambda: sm.Logit(t, xc).fit(method="newton", disp=0, tol=1e-10, maxiter=100))
        est["ipw_ate"], est["aipw_ate"] = timed(times, "observational", observational)
        est["naive"] = y[t == 1].mean() - y[t == 0].mean()
        m1, m0 = timed(times, "t_fit", t_fit)
        tau1, tau0 = timed(times, "x_fit", x_fit)

        def t_score():
            return m1.predict_proba(xh)[:, 1] - m0.predict_proba(xh)[:, 1]

        def x_score():
            return g * tau0.predict(xh) + (1 - g) * tau1.predict(xh)

        if qini_score is None:
            continue
        est["qini_t"], est["auuc_t"] = timed(times, "t_eval", lambda: evaluate(t_score()))
        est["qini_x"], est["auuc_x"] = timed(times, "x_eval", lambda: evaluate(x_score()))

    print(json.dumps({
        "label": "python (statsmodels, scikit-learn, causalml)",
        "stages": {k: statistics.median(v) for k, v in times.items()},
        "estimates": {k: float(v) for k, v in est.items()},
        "notes": notes,
    }))


if __name__ == "__main__":
    main()
