//! Statistics over sufficient statistics: pure functions, no SQL, no clock, no printing.
//!
//! - `frequentist`: Welch t-tests, Wald and delta-method intervals for absolute and relative
//!   differences of proportions and means.
//! - `bayes`: Gaussian model of the relative effect, exact Beta-Binomial posteriors.
//! - `sequential`: always-valid confidence sequences and mSPRT p-values (safe under peeking).
//! - `dp`: differential privacy: Laplace and analytic Gaussian noise, bounded releases.
//! - `cuped`: regression adjustment with the pre-period covariate, for means and ratios.
//! - `srm`: sample-ratio-mismatch chi-square test.
//! - `stratified`: per-arm estimates of a bandit campaign stratified by allocation period.
//! - `power`: sample size and minimum detectable effect.
//! - `multiple`: Holm-Bonferroni and Benjamini-Hochberg adjustments.
//! - `normal`: the standard normal distribution function and density from one `exp`.

pub mod ab;
pub mod bayes;
pub mod cuped;
pub mod dp;
pub mod family;
pub mod frequentist;
pub mod metrics;
pub mod multiple;
pub mod normal;
pub mod power;
pub mod roi;
pub mod sequential;
pub mod srm;
pub mod stratified;
