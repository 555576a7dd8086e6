"""The Python reference for `liftdeck bench budget`: the budget allocation by the Lagrangian,
vectorised with numpy, on the table liftdeck wrote (little-endian f64: all values, then all
costs, row-major users x offers).

For a price lam >= 0 on cost every user takes argmax_k v_ik - lam c_ik (offer 0, "none", has
score 0 and wins ties, as numpy's argmax takes the first); lam is bisected `steps` times on
[0, hi], hi the largest v/c of any offer (where nobody's paid offer scores above 0), keeping the
upper end (whose spend fits). Exactly the bisection liftdeck times beside it.
Prints JSON: median seconds per stage, the objective, lam and the spend.
"""
import argparse
import json
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", required=True)
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--offers", type=int, required=True)
    ap.add_argument("--budget", type=float, required=True)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    n, k = a.users, a.offers
    t0 = time.perf_counter()
    raw = np.fromfile(a.table, dtype="<f8")
    v = raw[: n * k].reshape(n, k)
    c = raw[n * k:].reshape(n, k)
    load = time.perf_counter() - t0
    rows = np.arange(n)

    def spend_at(lam):
        pick = (v - lam * c).argmax(axis=1)
        return pick, c[rows, pick].sum()

    times = []
    for _ in range(max(1, a.repeats)):
        t0 = time.perf_counter()
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where((c > 0) & (v > 0), v / c, 0.0)
        hi = float(ratio.max())
        lo = 0.0
        pick, spend = spend_at(0.0)
        lam = 0.0
        if spend > a.budget:
            for _ in range(a.steps):
                mid = 0.5 * (lo + hi)
                if spend_at(mid)[1] <= a.budget:
                    hi = mid
                else:
                    lo = mid
            lam = hi
            pick, spend = spend_at(hi)
        value = float(v[rows, pick].sum())
        times.append(time.perf_counter() - t0)
    out = {
        "label": f"numpy {np.__version__}",
        "stages": {"lagrangian_table": float(np.median(times)), "load": load},
        "objectives": {"lagrangian_table": value},
        "lambda": lam,
        "spend": float(spend),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
