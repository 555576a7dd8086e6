//! How numbers are shown to an operator, in the CLI and the console alike: counts with
//! thousands separators, money with its currency symbol and two decimals, rates, lifts and ROI
//! as percentages at one precision, probabilities, p-values (`0.0123` / `<0.0001`) and large
//! projections abbreviated (`12.4M`) where a column is narrow. Pure: no I/O, no clock, no
//! environment; the caller decides the currency symbol.
//!
//! A missing value (`None`, or a non-finite number) is always shown as `-`, so a column never
//! reads `NaN` or `inf`.

/// Decimals of every percentage that is a rate, a lift, a difference of rates or an ROI: one
/// precision everywhere, so the same figure reads the same in the report, the forecast and the
/// console.
pub const PERCENT_DECIMALS: usize = 2;
/// Decimals of a probability (chance to beat control, chance to be best), in percent.
pub const PROBABILITY_DECIMALS: usize = 1;
/// Below this a p-value is shown as `<0.0001`: four decimals is what the column holds, and the
/// digits of a smaller p carry no decision.
pub const P_VALUE_FLOOR: f64 = 1e-4;
/// What a missing value prints as.
pub const MISSING: &str = "-";

/// The operator's choice of currency symbol (default `$`), prefixed to every money amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberFormat {
    pub currency: String,
}

impl Default for NumberFormat {
    fn default() -> Self {
        NumberFormat {
            currency: "$".into(),
        }
    }
}

impl NumberFormat {
    /// The format for a currency symbol as configured (e.g. `LIFTDECK_CURRENCY`); an empty or
    /// unset value keeps `$`. Control characters are dropped so a symbol cannot reach the
    /// terminal as an escape; at most 8 characters are kept.
    pub fn with_currency(symbol: Option<&str>) -> Self {
        let clean: String = symbol
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(8)
            .collect();
        if clean.trim().is_empty() {
            Self::default()
        } else {
            NumberFormat { currency: clean }
        }
    }

    /// `$1,234.50`, `-$12.00`.
    pub fn money(&self, x: f64) -> String {
        self.money_with(x, false)
    }

    /// A bandit's mean reward per unit: a rate for 0/1 rewards (`6.75%`), money for amounts.
    pub fn reward(&self, kind: crate::domain::RewardKind, x: f64) -> String {
        if kind.is_binary() {
            rate(x)
        } else {
            self.money(x)
        }
    }

    /// A total of rewards: a count of clicks or conversions (`1,848`), or money.
    pub fn reward_total(&self, kind: crate::domain::RewardKind, x: f64) -> String {
        if kind.is_binary() {
            count(x.round() as i64)
        } else {
            self.money(x)
        }
    }

    /// A change of money, always signed: `+$1,234.50`, `-$12.00`.
    pub fn money_change(&self, x: f64) -> String {
        self.money_with(x, true)
    }

    fn money_with(&self, x: f64, signed: bool) -> String {
        if !x.is_finite() {
            return MISSING.into();
        }
        let cents = (x.abs() * 100.0).round();
        let sign = sign_of(x, cents == 0.0, signed);
        let whole = group_digits(&format!("{:.0}", (cents / 100.0).trunc()));
        let frac = cents % 100.0;
        format!("{sign}{}{whole}.{frac:02.0}", self.currency)
    }

    /// A signed money change abbreviated for a narrow column: `+$12.4M`, `-$950.00`.
    pub fn money_compact(&self, x: f64) -> String {
        if !x.is_finite() {
            return MISSING.into();
        }
        if x.abs() < 1_000.0 {
            return self.money_change(x);
        }
        let sign = if x < 0.0 { "-" } else { "+" };
        format!("{sign}{}{}", self.currency, compact(x.abs()))
    }
}

/// `-` for `None` or a non-finite value, else `show(x)`.
pub fn opt(x: Option<f64>, show: impl Fn(f64) -> String) -> String {
    match x {
        Some(v) if v.is_finite() => show(v),
        _ => MISSING.into(),
    }
}

/// A count with thousands separators: `1,234,567`.
pub fn count(n: i64) -> String {
    let digits = group_digits(&n.unsigned_abs().to_string());
    if n < 0 {
        format!("-{digits}")
    } else {
        digits
    }
}

/// A non-integer quantity of things (expected units, incremental conversions), rounded to a
/// whole number and grouped: `43,200`.
pub fn quantity(x: f64) -> String {
    if !x.is_finite() {
        return MISSING.into();
    }
    let rounded = x.round();
    let digits = group_digits(&format!("{:.0}", rounded.abs()));
    if rounded < 0.0 {
        format!("-{digits}")
    } else {
        digits
    }
}

/// A signed quantity (incremental conversions): `+1,204`, `-33`, `0`.
pub fn quantity_change(x: f64) -> String {
    if !x.is_finite() {
        return MISSING.into();
    }
    let rounded = x.round();
    match rounded {
        r if r > 0.0 => format!("+{}", quantity(r)),
        r if r < 0.0 => quantity(r),
        _ => "0".into(),
    }
}

/// A rate (conversion, CTR) as a percentage: `3.42%`.
pub fn rate(x: f64) -> String {
    percent(x, false)
}

/// A relative lift, a difference or an interval end, always signed: `+1.23%`, `-0.50%`.
pub fn lift(x: f64) -> String {
    percent(x, true)
}

/// Return on the offer's cost, `(Δrevenue - Δcost) / Δcost`, as a signed percentage: `+45.10%`.
pub fn roi(x: f64) -> String {
    percent(x, true)
}

/// A probability (chance to beat control, to be best) as a percentage: `97.3%`.
pub fn probability(p: f64) -> String {
    if !p.is_finite() {
        return MISSING.into();
    }
    format!("{:.*}%", PROBABILITY_DECIMALS, 100.0 * p.clamp(0.0, 1.0))
}

/// A p-value for a column: `0.0123`, `<0.0001`, `1.0000`.
pub fn p_value(p: f64) -> String {
    if !p.is_finite() {
        return MISSING.into();
    }
    if p < P_VALUE_FLOOR {
        format!("<{P_VALUE_FLOOR:.4}")
    } else {
        format!("{:.4}", p.min(1.0))
    }
}

/// A p-value in a sentence: `p = 0.0123` or `p < 0.0001` (never `p = <0.0001`).
pub fn p_value_phrase(p: f64) -> String {
    if !p.is_finite() {
        return "p = -".into();
    }
    if p < P_VALUE_FLOOR {
        format!("p < {P_VALUE_FLOOR:.4}")
    } else {
        format!("p = {}", p_value(p))
    }
}

/// `[low, high]` of two already formatted ends, `-` when either is missing.
pub fn interval(low: Option<f64>, high: Option<f64>, show: impl Fn(f64) -> String) -> String {
    match (low, high) {
        (Some(l), Some(h)) if l.is_finite() && h.is_finite() => {
            format!("[{}, {}]", show(l), show(h))
        }
        _ => MISSING.into(),
    }
}

/// A large magnitude abbreviated for a narrow column: `950`, `12.4k`, `12.4M`, `3.1B`, `2.0T`
/// (one decimal, so at most 6 characters plus the sign below 1e15).
pub fn compact(x: f64) -> String {
    if !x.is_finite() {
        return MISSING.into();
    }
    let a = x.abs();
    let sign = if x < 0.0 { "-" } else { "" };
    if a < 1_000.0 {
        return format!("{sign}{a:.0}");
    }
    let (div, suffix) = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")]
        .into_iter()
        .find(|&(d, _)| a >= d)
        .unwrap_or((1e3, "k"));
    let scaled = (a / div * 10.0).round() / 10.0;
    // 999.96k rounds to 1000.0k: show it as the next unit instead.
    if scaled >= 1000.0 && suffix != "T" {
        return compact(x.signum() * div * 1000.0);
    }
    format!("{sign}{scaled:.1}{suffix}")
}

/// A signed, abbreviated change: `+12.4M`, `-950`.
pub fn compact_change(x: f64) -> String {
    if !x.is_finite() {
        return MISSING.into();
    }
    if x > 0.0 {
        format!("+{}", compact(x))
    } else {
        compact(x)
    }
}

fn percent(x: f64, signed: bool) -> String {
    if !x.is_finite() {
        return MISSING.into();
    }
    let v = 100.0 * x;
    let shown = format!("{:.*}", PERCENT_DECIMALS, v.abs());
    let zero = shown.chars().all(|c| c == '0' || c == '.');
    let sign = sign_of(v, zero, signed);
    format!("{sign}{}%", group_digits_with_fraction(&shown))
}

/// The sign to print: `-` for a negative value that does not round to zero, `+` when asked for
/// a signed figure (zero shows as `+0.00%`, never `-0.00%`).
fn sign_of(x: f64, rounds_to_zero: bool, signed: bool) -> &'static str {
    if x < 0.0 && !rounds_to_zero {
        "-"
    } else if signed {
        "+"
    } else {
        ""
    }
}

/// `1234567` -> `1,234,567` (digits only, no sign).
fn group_digits(digits: &str) -> String {
    let n = digits.len();
    let mut out = String::with_capacity(n + n / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn group_digits_with_fraction(s: &str) -> String {
    match s.split_once('.') {
        Some((whole, frac)) => format!("{}.{frac}", group_digits(whole)),
        None => group_digits(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_quantities_are_grouped() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(-1_234), "-1,234");
        assert_eq!(count(i64::MIN), "-9,223,372,036,854,775,808");
        assert_eq!(quantity(43_199.6), "43,200");
        assert_eq!(quantity(-0.4), "0");
        assert_eq!(quantity(f64::NAN), "-");
        assert_eq!(quantity_change(1204.2), "+1,204");
        assert_eq!(quantity_change(-33.0), "-33");
        assert_eq!(quantity_change(0.2), "0");
    }

    #[test]
    fn money_has_its_symbol_and_two_decimals() {
        let usd = NumberFormat::default();
        assert_eq!(usd.money(1234.5), "$1,234.50");
        assert_eq!(usd.money(-12.0), "-$12.00");
        assert_eq!(usd.money(0.004), "$0.00");
        assert_eq!(usd.money(-0.004), "$0.00");
        assert_eq!(usd.money(0.995), "$1.00");
        assert_eq!(usd.money_change(1_000_000.0), "+$1,000,000.00");
        assert_eq!(usd.money_change(-3.456), "-$3.46");
        assert_eq!(usd.money(f64::INFINITY), "-");
        let eur = NumberFormat::with_currency(Some("€"));
        assert_eq!(eur.money(12.0), "€12.00");
        assert_eq!(eur.money_compact(12_400_000.0), "+€12.4M");
        assert_eq!(eur.money_compact(-950.0), "-€950.00");
        assert_eq!(NumberFormat::with_currency(Some("")).currency, "$");
        assert_eq!(
            NumberFormat::with_currency(Some("\u{1b}[2J")).currency,
            "[2J"
        );
    }

    #[test]
    fn rates_lifts_and_roi_share_one_precision() {
        assert_eq!(rate(0.0342), "3.42%");
        assert_eq!(rate(1.0), "100.00%");
        assert_eq!(lift(0.0123), "+1.23%");
        assert_eq!(lift(-0.005), "-0.50%");
        assert_eq!(lift(-0.00001), "+0.00%");
        assert_eq!(lift(0.0), "+0.00%");
        assert_eq!(roi(0.451), "+45.10%");
        assert_eq!(roi(123.4), "+12,340.00%");
        assert_eq!(lift(f64::NAN), "-");
        // Same decimals for every percentage kind.
        for s in [rate(0.5), lift(0.5), roi(0.5)] {
            assert_eq!(
                s.split('.').nth(1).map(str::len),
                Some(PERCENT_DECIMALS + 1)
            );
        }
    }

    #[test]
    fn p_values_read_one_way() {
        assert_eq!(p_value(0.0123), "0.0123");
        assert_eq!(p_value(0.00009), "<0.0001");
        assert_eq!(p_value(0.0001), "0.0001");
        assert_eq!(p_value(0.0), "<0.0001");
        assert_eq!(p_value(1.2), "1.0000");
        assert_eq!(p_value(f64::NAN), "-");
        assert_eq!(p_value_phrase(0.00009), "p < 0.0001");
        assert_eq!(p_value_phrase(0.04), "p = 0.0400");
        assert!(!p_value_phrase(1e-9).contains("= <"));
    }

    #[test]
    fn probabilities_and_intervals() {
        assert_eq!(probability(0.9734), "97.3%");
        assert_eq!(probability(1.2), "100.0%");
        assert_eq!(probability(f64::NAN), "-");
        assert_eq!(interval(Some(-0.01), Some(0.02), lift), "[-1.00%, +2.00%]");
        assert_eq!(interval(Some(0.1), None, lift), "-");
        assert_eq!(opt(None, rate), "-");
        assert_eq!(opt(Some(f64::NAN), rate), "-");
        assert_eq!(opt(Some(0.25), rate), "25.00%");
    }

    #[test]
    fn large_figures_abbreviate() {
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(12_400.0), "12.4k");
        assert_eq!(compact(12_400_000.0), "12.4M");
        assert_eq!(compact(999_960.0), "1.0M");
        assert_eq!(compact(-3_100_000_000.0), "-3.1B");
        assert_eq!(compact(2e12), "2.0T");
        assert_eq!(compact_change(12_400_000.0), "+12.4M");
        assert_eq!(compact_change(-950.0), "-950");
        assert_eq!(compact(f64::NAN), "-");
        for x in [1e3, 9.99e5, 5e8, 9.999e11, 1e14] {
            assert!(compact(x).len() <= 6, "{x}: {}", compact(x));
        }
    }
}
