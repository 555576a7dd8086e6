#!/usr/bin/env python3
"""liftdeck's hashed learners side by side with Vowpal Wabbit, in one run, on identical rows.

    python3 -m venv /tmp/vw && /tmp/vw/bin/pip install vowpalwabbit==9.11.9 numpy
    cargo build --release
    /tmp/vw/bin/python bench/vw_compare.py [--rows 1000000] [--seed 1] [--dir /tmp/x]

1. `liftdeck bench train --json --write-vw DIR/rows.vw` generates the synthetic shop, times
   liftdeck (rows already in memory: hashing + training, generation excluded) and writes the
   same hashed features as VW text: DIR/rows.vw (oldest 80%) and DIR/rows.vw.test (newest 20%).
2. VW (`python -m vowpalwabbit`, the full command-line driver in the wheel) trains one pass on
   the text file with logistic loss, -b 18, --holdout_off, then predicts the holdout with -t.
   VW's rows/s is end to end from text (parse + hash + learn). Its CPU seconds come from
   getrusage of the child; the Python interpreter's start-up (timed on a one-row file) is
   shown and subtracted in the "net" column.
3. AUC and log loss of every model are computed here, by the same code, on the same holdout.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def auc(y, p):
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    # Average ranks for ties.
    sp = p[order]
    i = 0
    r = np.arange(1, len(p) + 1, dtype=float)
    while i < len(sp):
        j = i
        while j + 1 < len(sp) and sp[j + 1] == sp[i]:
            j += 1
        r[i : j + 1] = (i + j + 2) / 2.0
        i = j + 1
    ranks[order] = r
    pos = y > 0.5
    n1, n0 = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def log_loss(y, p):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def run(cmd):
    """Wall seconds and child CPU seconds of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--learner", default="all",
                    help="liftdeck learners: lr, lr-sgd, ftrl, both (lr-sgd and ftrl) or all")
    ap.add_argument("--liftdeck", default="target/release/liftdeck")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--liftdeck-before", default=None,
                    help="an older liftdeck binary timed in the same run (rows 'before')")
    args = ap.parse_args()
    work = args.dir or tempfile.mkdtemp(prefix="vw-compare-")
    os.makedirs(work, exist_ok=True)
    vw_train = os.path.join(work, "rows.vw")
    vw_test = vw_train + ".test"
    db = os.path.join(work, "unused.db")
    out = subprocess.run(
        [args.liftdeck, "--db", db, "bench", "train", "--rows", str(args.rows),
         "--seed", str(args.seed), "--repeats", str(args.repeats),
         "--learner", args.learner, "--write-vw", vw_train, "--json"],
        check=True, capture_output=True, text=True,
    ).stdout
    ld = json.loads(out)
    before = None
    if args.liftdeck_before:
        before = json.loads(subprocess.run(
            [args.liftdeck_before, "--db", db, "bench", "train", "--rows", str(args.rows),
             "--seed", str(args.seed), "--repeats", str(args.repeats), "--json"],
            check=True, capture_output=True, text=True,
        ).stdout)
    y = np.array([1.0 if l.startswith("1 ") else 0.0 for l in open(vw_test)])
    train_rows = ld["train_rows"]

    vw = [sys.executable, "-m", "vowpalwabbit"]
    one = os.path.join(work, "one.vw")
    with open(vw_train) as f, open(one, "w") as g:
        g.write(f.readline())
    startup = min(run(vw + ["-d", one, "--quiet", "--loss_function", "logistic"]) for _ in range(3))

    settings = {
        "vw --ftrl (alpha 0.1, beta 1, l1 1, l2 1: liftdeck's FTRL defaults)":
            ["--ftrl", "--ftrl_alpha", "0.1", "--ftrl_beta", "1", "--l1", "1", "--l2", "1"],
        "vw default (adaptive, normalised, invariant SGD)": [],
        "vw --sgd (plain SGD, -l 0.5)": ["--sgd", "-l", "0.5"],
    }
    rows = []
    for name, extra in settings.items():
        model = os.path.join(work, "model.vw")
        preds = os.path.join(work, "preds.txt")
        walls, cpus = [], []
        for _ in range(args.repeats):
            w, c = run(vw + ["-d", vw_train, "--loss_function", "logistic", "-b", "18",
                             "--holdout_off", "--quiet", "-f", model] + extra)
            walls.append(w)
            cpus.append(c)
        wall, cpu = float(np.median(walls)), float(np.median(cpus))
        run(vw + ["-t", "-i", model, "-d", vw_test, "-p", preds, "--link", "logistic", "--quiet"])
        p = np.loadtxt(preds, usecols=0)
        rows.append((name, train_rows / wall, train_rows / cpu,
                     train_rows / max(cpu - startup[1], 1e-9), auc(y, p), log_loss(y, p)))

    print(f"{args.rows} rows ({train_rows} train, {len(y)} newest holdout), seed {args.seed}, "
          f"{ld['features_per_row']:.1f} features/row, medians of {args.repeats}; dir {work}")
    print(f"oracle (true probabilities): AUC {ld['oracle_auc']:.4f}, log loss {ld['oracle_log_loss']:.5f}")
    print(f"VW start-up (python -m vowpalwabbit, one row): {startup[0]:.2f} s wall, {startup[1]:.2f} CPU-s")
    print(f"{'model / path':<78} {'rows/s wall':>12} {'rows/CPU-s':>12} {'net CPU':>12} {'AUC':>7} {'log loss':>9}")
    runs = [("", ld)] + ([("before: ", before)] if before else [])
    for tag, b in [(tag, b) for tag, r in runs for b in r["learners"]]:
        for key, label in [("train_loop", "train loop, hashed rows in memory"),
                           ("hash_and_train", "hash + train, rows in memory"),
                           ("pipeline", "pipeline::train 1 epoch (hashes train+holdout)")]:
            ph = b.get(key)
            if ph:
                print(f"{tag + 'liftdeck ' + b['learner'] + ': ' + label:<78} {ph['rows_per_s']:>12,.0f} "
                      f"{ph['rows_per_cpu_s']:>12,.0f} {'':>12} {b['holdout_auc']:>7.4f} {b['holdout_log_loss']:>9.5f}")
    for name, rw, rc, rn, a, ll in rows:
        print(f"{name + ', from text':<78} {rw:>12,.0f} {rc:>12,.0f} {rn:>12,.0f} {a:>7.4f} {ll:>9.5f}")
    ftrl = next(b for b in ld["learners"] if b["learner"] == "ftrl")
    vw_ftrl = rows[0]
    print(f"ratio liftdeck ftrl hash+train / vw --ftrl end to end, per CPU-s (net of start-up): "
          f"{ftrl['hash_and_train']['rows_per_cpu_s'] / vw_ftrl[3]:.2f}x; "
          f"train loop alone: {ftrl['train_loop']['rows_per_cpu_s'] / vw_ftrl[3]:.2f}x")
    vw_default = rows[1]
    print(f"ratio liftdeck ftrl / vw default end to end, per CPU-s (net of start-up): "
          f"hash+train {ftrl['hash_and_train']['rows_per_cpu_s'] / vw_default[3]:.2f}x, "
          f"pipeline::train {ftrl['pipeline']['rows_per_cpu_s'] / vw_default[3]:.2f}x")


if __name__ == "__main__":
    main()
