# Independent values for src/stats/dp/tests.rs, run once:
#   python3 src/stats/dp/dp_fixture.py   (scipy 1.x, numpy)
# Analytic Gaussian mechanism (Balle & Wang 2018, Theorem 8): the smallest sigma with
#   Phi(D/(2s) - e*s/D) - exp(e) * Phi(-D/(2s) - e*s/D) <= delta, solved with brentq.
import numpy as np
from scipy.stats import norm, laplace
from scipy.optimize import brentq

def delta_of(s, eps, d):
    return norm.cdf(d / (2 * s) - eps * s / d) - np.exp(eps) * norm.cdf(-d / (2 * s) - eps * s / d)

for eps, delta, d in [(0.5, 1e-6, 1.0), (1.0, 1e-5, 1.0), (2.0, 1e-6, 10.0), (0.1, 1e-8, 1.0), (5.0, 1e-6, 1.0)]:
    s = brentq(lambda s: delta_of(s, eps, d) - delta, 1e-6, 1e6, xtol=1e-14, rtol=1e-14)
    print(f"gauss eps={eps} delta={delta} sens={d} sigma={s!r}")
for b in [0.5, 2.0]:
    for p in [0.001, 0.025, 0.5, 0.9, 0.999]:
        print(f"laplace b={b} p={p} q={laplace.ppf(p, scale=b)!r} cdf(1.3)={laplace.cdf(1.3, scale=b)!r}")
