#!/usr/bin/env python3
"""scikit-learn's LogisticRegression on an Open Bandit Dataset log, with the features and the
time-ordered 80/20 split that `liftdeck train KEY --learner lr` uses, for EVALUATION.md.

Usage: python3 eval/obd_click_model.py PATH/men.csv [--json]

Features (as liftdeck's `default_spec` builds them for rows imported by `import obd`):
user_feature_0..3 one-hot (they are text), arm `item-<id>`, position, hour and weekday (UTC)
of the timestamp one-hot, RFM as log1p over the training rows' largest log1p (an OBD unit has
no purchases: recency 365 days, frequency 0, monetary 0, so only the constant recency term,
log1p(365) / log1p(365) = 1, is emitted), and each user feature
crossed with the arm (an indicator per pair). Levels are learned from the training part only;
a validation level unseen in training gives no feature, as a hash bucket with no weight does.
Explicit columns instead of liftdeck's 2^18 signed hash buckets: the same features up to hash
collisions.

Split: rows sorted by timestamp (stable), cut at round(0.8 n), the cut moved forward past rows
sharing the last training row's time (liftdeck's `split_by_time`).

Model: L2 LogisticRegression (lbfgs), C = 1 / (n_train * 1e-4), which is liftdeck's lr
objective (mean log loss + 0.5 * 1e-4 * |w|^2, intercept unpenalised) written in sklearn's
form (0.5 |w|^2 + C * sum of log losses), so both sides minimise the same penalised loss.
"""
import csv
import json
import math
import sys
from datetime import datetime, timezone

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

L2 = 1e-4
VALIDATION_SHARE = 0.2
RESAMPLES = 1000
SEED = 1
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
USER = ["user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3"]


def micros(text):
    t = datetime.fromisoformat(text).astimezone(timezone.utc)
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    d = t - epoch
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def keys(row):
    """The row's feature keys (value 1 each), named as liftdeck names them."""
    ts = row["ts"]
    secs = ts // 1_000_000
    hour = (secs % 86400) // 3600
    weekday = WEEKDAYS[((secs // 86400) + 3) % 7]
    arm = f"arm=item-{row['item_id']}"
    out = [arm, f"position={row['position']}", f"hour={hour}", f"weekday={weekday}"]
    for u in USER:
        out.append(f"{u}={row[u]}")
        out.append(f"{u}={row[u]} x {arm}")
    return out


def split_by_time(ts, share):
    order = sorted(range(len(ts)), key=lambda i: ts[i])
    cut = min(int(math.floor(len(ts) * (1.0 - share) + 0.5)), len(ts))
    if cut > 0:
        last = ts[order[cut - 1]]
        while cut < len(order) and ts[order[cut]] == last:
            cut += 1
    return order[:cut], order[cut:]


def matrix(rows, vocab):
    data, ri, ci = [], [], []
    for r, row in enumerate(rows):
        for k in keys(row):
            j = vocab.get(k)
            if j is not None:
                ri.append(r)
                ci.append(j)
                data.append(1.0)
        ri.append(r)
        ci.append(len(vocab))
        data.append(1.0)  # rfm_recency_days: log1p(365) over its largest, log1p(365), for every OBD unit
    return sparse.csr_matrix((data, (ri, ci)), shape=(len(rows), len(vocab) + 1))


def auc_interval(y, p, resamples, seed, level=0.95):
    rng = np.random.default_rng(seed)
    n = len(y)
    aucs = []
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        if 0 < y[idx].sum() < n:
            aucs.append(roc_auc_score(y[idx], p[idx]))
    a = (1 - level) / 2
    return float(np.quantile(aucs, a)), float(np.quantile(aucs, 1 - a)), len(aucs)


def entropy(rate):
    return -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate))


def main():
    path = sys.argv[1]
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["ts"] = micros(r["timestamp"])
    ts = [r["ts"] for r in rows]
    tr, va = split_by_time(ts, VALIDATION_SHARE)
    train = [rows[i] for i in tr]
    valid = [rows[i] for i in va]
    vocab = {}
    for row in train:
        for k in keys(row):
            vocab.setdefault(k, len(vocab))
    x, vx = matrix(train, vocab), matrix(valid, vocab)
    y = np.array([int(r["click"]) for r in train])
    vy = np.array([int(r["click"]) for r in valid])
    c = 1.0 / (len(train) * L2)
    model = LogisticRegression(C=c, max_iter=5000, tol=1e-10).fit(x, y)
    p = model.predict_proba(vx)[:, 1]
    lo, hi, used = auc_interval(vy, p, RESAMPLES, SEED)
    ll = log_loss(vy, p, labels=[0, 1])
    base = y.mean()
    out = {
        "source": path,
        "rows": len(rows),
        "train_rows": len(train),
        "validation_rows": len(valid),
        "train_clicks": int(y.sum()),
        "validation_clicks": int(vy.sum()),
        "train_base_rate": float(base),
        "validation_base_rate": float(vy.mean()),
        "last_train_ts": max(r["ts"] for r in train),
        "first_validation_ts": min(r["ts"] for r in valid),
        "features": len(vocab) + 1,
        "C": c,
        "auc": float(roc_auc_score(vy, p)),
        "auc_interval": [lo, hi],
        "auc_resamples_with_both_classes": used,
        "log_loss": float(ll),
        "base_rate_log_loss": float(log_loss(vy, np.full(len(vy), base), labels=[0, 1])),
        "normalised_entropy": float(ll / entropy(vy.mean())),
        "mean_predicted": float(p.mean()),
    }
    if "--json" in sys.argv:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k:32} {v}")


if __name__ == "__main__":
    main()
