"""The Python reference for `liftdeck bench forecast speed`: the plan forecaster's per-user
arithmetic (src/forecast/effect/draws.rs, `Scorer::user` and `Sums::add`) vectorised with numpy,
on the inputs liftdeck wrote to --dir:

  features.f64  the model's encoding of the N audience users, little-endian f64, row-major N x d
  inputs.json   posterior means and parameter draws of the conversion and order-value models,
                the offer's dose, block, take rate and depth, the smearing factor, the margin
                and the shape of the Gamma composition weights

Per user, for one parameter vector (conv, basket):
  eta0 = bias + x.conv[:d]            (bias = conv[-1])
  lift = dose * (c0 + x.c[1:])        (c = conv[d + block*(1+d) : d + (block+1)*(1+d)])
  p0, p1 = sigmoid(eta0), sigmoid(eta0 + lift)
  g0 = exp(basket[0] + x.basket[1:1+d]) * smearing,  g1 = g0 * exp(basket[1+d+block])
  c1 = take * pct/100 * g1
Point: the sums over users at the posterior mean of p0, p1-p0, p1*c1 and
margin*(p1*g1 - p0*g0) - p1*c1 (what liftdeck's score_users sums to).
Draws: per draw Gamma(shape) weights and the eight weighted sums of draws.rs, once as a loop over
draws (matrix-vector products) and once in chunks of draws (matrix-matrix products).
Prints JSON: median wall and CPU seconds of each, the time to read the inputs, and the point sums.
"""
import argparse
import json
import os
import time

import numpy as np

CHUNK = 16


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def parts(conv, basket, d, block):
    """Columns of the three linear forms (base, lift, order value) for parameter rows."""
    conv = np.atleast_2d(conv)
    basket = np.atleast_2d(basket)
    at = d + block * (1 + d)
    return (
        conv[:, :d].T, conv[:, -1],
        conv[:, at + 1: at + 1 + d].T, conv[:, at],
        basket[:, 1: 1 + d].T, basket[:, 0], basket[:, 1 + d + block],
    )


def outcomes(x, conv, basket, m):
    wb, bias, wl, l0, wg, g0c, shift = parts(conv, basket, m["features"], m["block"])
    eta0 = x @ wb + bias
    lift = m["dose"] * (x @ wl + l0)
    p0 = sigmoid(eta0)
    p1 = sigmoid(eta0 + lift)
    g0 = np.exp(x @ wg + g0c) * m["smearing"]
    g1 = g0 * np.exp(shift)
    c1 = m["take"] * m["pct"] / 100.0 * g1
    return p0, p1, g0, g1, c1


def weighted_sums(w, p0, p1, g0, g1, c1):
    u = p1 - p0
    return np.stack([
        w.sum(axis=0), (w * p0).sum(axis=0), (w * p1).sum(axis=0),
        (w * p0 * g0).sum(axis=0), (w * p1 * g1).sum(axis=0),
        (w * p1 * c1).sum(axis=0), (w * p0 * c1).sum(axis=0), (w * u * u).sum(axis=0),
    ])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    t0 = time.perf_counter()
    with open(os.path.join(a.dir, "inputs.json")) as f:
        m = json.load(f)
    n, d = m["users"], m["features"]
    x = np.fromfile(os.path.join(a.dir, "features.f64"), dtype="<f8").reshape(n, d)
    conv_mean = np.array(m["conv_mean"])
    basket_mean = np.array(m["basket_mean"])
    conv_draws = np.array(m["conv_draws"])
    basket_draws = np.array(m["basket_draws"])
    load = time.perf_counter() - t0
    draws = len(conv_draws)
    shape = m["shape"]
    repeats = max(1, a.repeats)

    point_times, sums = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        p0, p1, g0, g1, c1 = (v[:, 0] for v in outcomes(x, conv_mean, basket_mean, m))
        sums = {
            "baseline": float(p0.sum()),
            "uplift": float((p1 - p0).sum()),
            "cost": float((p1 * c1).sum()),
            "profit": float((m["margin"] * (p1 * g1 - p0 * g0) - p1 * c1).sum()),
        }
        point_times.append(time.perf_counter() - t0)

    loop_times, loop_cpu, mean_uplift = [], [], 0.0
    for _ in range(repeats):
        rng = np.random.default_rng(m["seed"])
        c0 = time.process_time()
        t0 = time.perf_counter()
        lifts = []
        for j in range(draws):
            w = rng.gamma(shape, size=(n, 1))
            s = weighted_sums(w, *outcomes(x, conv_draws[j], basket_draws[j], m))
            lifts.append((s[2, 0] - s[1, 0]) / s[0, 0])
        loop_times.append(time.perf_counter() - t0)
        loop_cpu.append(time.process_time() - c0)
        mean_uplift = float(np.mean(lifts))

    chunk_times, chunk_cpu = [], []
    for _ in range(repeats):
        rng = np.random.default_rng(m["seed"])
        c0 = time.process_time()
        t0 = time.perf_counter()
        for j in range(0, draws, CHUNK):
            k = min(CHUNK, draws - j)
            w = rng.gamma(shape, size=(n, k))
            weighted_sums(w, *outcomes(x, conv_draws[j: j + k], basket_draws[j: j + k], m))
        chunk_times.append(time.perf_counter() - t0)
        chunk_cpu.append(time.process_time() - c0)

    print(json.dumps({
        "label": f"numpy {np.__version__}",
        "load": load,
        "point": float(np.median(point_times)),
        "draws_loop": float(np.median(loop_times)),
        "draws_matmul": float(np.median(chunk_times)),
        "draws_loop_cpu": float(np.median(loop_cpu)),
        "draws_matmul_cpu": float(np.median(chunk_cpu)),
        "sums": sums,
        "mean_uplift": mean_uplift,
    }))


if __name__ == "__main__":
    main()
