//! The two-way within regression behind every DiD fit, in closed form for a balanced panel.
//!
//! Every regressor here is a treated flag times a function of the period, x_it = tr_i·w(t)
//! (treated x post for the DiD, treated x 1[t = s] for the event study). Two-way demeaning
//! such a product gives (tr_i - p̄)·(w(t) - w̄), p̄ the treated share and w̄ the mean over
//! periods, so X̃'X̃ = Σ(tr_i - p̄)² · Σ_t c_k(t)c_l(t) needs no N x K design matrix and the
//! whole fit is O(N·T·K) time and O(N·T) memory. By Frisch–Waugh–Lovell the coefficients and
//! residuals equal those of the regression with unit and period dummies, and so does the β
//! block of the cluster sandwich, since the β rows of (X'X)⁻¹X' are (X̃'X̃)⁻¹X̃'.

/// A balanced panel already checked by the caller: unit-major values, clusters as 0..groups.
pub(super) struct Checked<'a> {
    pub treated: &'a [bool],
    pub cluster: &'a [usize],
    pub groups: usize,
    pub periods: usize,
    pub values: &'a [f64],
}

/// Coefficients and their cluster-robust covariance with the small-sample factor applied.
pub(super) struct WithinFit {
    pub beta: Vec<f64>,
    pub covariance: Vec<Vec<f64>>,
    /// Every regressor of the dummy form: intercept, units - 1, periods - 1, and the K here.
    pub regressors: usize,
    pub observations: usize,
}

/// Why a fit has no answer; the caller turns it into an operator's message.
pub(super) enum WithinFailure {
    /// N - K <= 0: more parameters than unit-periods.
    TooFewObservations {
        observations: usize,
        regressors: usize,
    },
    /// X̃'X̃ cannot be inverted (a regressor constant after demeaning).
    Singular,
}

/// Fits y on tr_i·weights[k](t) with unit and period fixed effects.
pub(super) fn fit(panel: &Checked<'_>, weights: &[Vec<f64>]) -> Result<WithinFit, WithinFailure> {
    let units = panel.treated.len();
    let periods = panel.periods;
    let k = weights.len();
    let observations = units * periods;
    let regressors = units + periods - 1 + k;
    if observations <= regressors {
        return Err(WithinFailure::TooFewObservations {
            observations,
            regressors,
        });
    }
    let treated_share = panel.treated.iter().filter(|&&t| t).count() as f64 / units as f64;
    let centred: Vec<Vec<f64>> = weights
        .iter()
        .map(|w| {
            let mean = w.iter().sum::<f64>() / periods as f64;
            w.iter().map(|v| v - mean).collect()
        })
        .collect();
    let d: Vec<f64> = panel
        .treated
        .iter()
        .map(|&t| f64::from(u8::from(t)) - treated_share)
        .collect();
    let ss_d: f64 = d.iter().map(|v| v * v).sum();

    // Unit, period and grand means of y for the two-way demeaning.
    let mut period_mean = vec![0.0; periods];
    let mut unit_mean = vec![0.0; units];
    for (i, row) in panel.values.chunks_exact(periods).enumerate() {
        for (t, &y) in row.iter().enumerate() {
            period_mean[t] += y;
            unit_mean[i] += y;
        }
    }
    let grand = unit_mean.iter().sum::<f64>() / observations as f64;
    period_mean.iter_mut().for_each(|m| *m /= units as f64);
    unit_mean.iter_mut().for_each(|m| *m /= periods as f64);
    let demeaned = |i: usize, t: usize, y: f64| y - unit_mean[i] - period_mean[t] + grand;

    let mut xtx = vec![vec![0.0; k]; k];
    for a in 0..k {
        for b in 0..k {
            xtx[a][b] = ss_d * dot(&centred[a], &centred[b]);
        }
    }
    let mut xty = vec![0.0; k];
    for (i, row) in panel.values.chunks_exact(periods).enumerate() {
        for (a, c) in centred.iter().enumerate() {
            let s: f64 = row
                .iter()
                .enumerate()
                .map(|(t, &y)| c[t] * demeaned(i, t, y))
                .sum();
            xty[a] += d[i] * s;
        }
    }
    let bread = crate::linalg::invert(&xtx).ok_or(WithinFailure::Singular)?;
    let beta: Vec<f64> = bread.iter().map(|r| dot(r, &xty)).collect();
    // The fitted within regressor part per period: Σ_k β_k c_k(t), scaled by d_i per unit.
    let fitted_shape: Vec<f64> = (0..periods)
        .map(|t| centred.iter().zip(&beta).map(|(c, b)| c[t] * b).sum())
        .collect();

    let mut score = vec![vec![0.0; k]; panel.groups];
    let mut residual = vec![0.0; periods];
    for (i, row) in panel.values.chunks_exact(periods).enumerate() {
        for (t, &y) in row.iter().enumerate() {
            residual[t] = demeaned(i, t, y) - d[i] * fitted_shape[t];
        }
        let g = &mut score[panel.cluster[i]];
        for (a, c) in centred.iter().enumerate() {
            g[a] += d[i] * dot(c, &residual);
        }
    }
    let mut meat = vec![vec![0.0; k]; k];
    for s in &score {
        for a in 0..k {
            for b in 0..k {
                meat[a][b] += s[a] * s[b];
            }
        }
    }
    let g = panel.groups as f64;
    let factor =
        g / (g - 1.0) * (observations as f64 - 1.0) / (observations as f64 - regressors as f64);
    let half = multiply(&bread, &meat);
    let covariance = multiply(&half, &bread)
        .into_iter()
        .map(|r| r.into_iter().map(|v| v * factor).collect())
        .collect();
    Ok(WithinFit {
        beta,
        covariance,
        regressors,
        observations,
    })
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn multiply(a: &[Vec<f64>], b: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = b.first().map_or(0, Vec::len);
    a.iter()
        .map(|row| {
            (0..n)
                .map(|j| row.iter().zip(b).map(|(x, r)| x * r[j]).sum())
                .collect()
        })
        .collect()
}
