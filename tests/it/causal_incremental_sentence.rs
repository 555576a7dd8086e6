//! The incremental sentence per treated arm of `report causal`, built from the row's figures.

use liftdeck::app::causal_randomised::{format_sections, summary_sentence, IncrementalRow};
use liftdeck::causal::incremental::{incremental, ArmTotals};
use liftdeck::format::{self, NumberFormat};

/// A coupon arm of 1,000 units against control with `dt` more orders per unit.
fn row(dt: f64, se: f64) -> IncrementalRow {
    let t = ArmTotals {
        units: 1000.0,
        orders_per_unit: (0.20 + dt, se),
        revenue: 8000.0,
        cost: 3120.0,
    };
    let c = ArmTotals {
        orders_per_unit: (0.20, se),
        ..t
    };
    IncrementalRow {
        arm: "coupon".into(),
        offer: "10% coupon".into(),
        units: 1000,
        orders: ((0.2 + dt) * 1000.0) as i64,
        totals: incremental(&t, &c, None, 0.05),
        summary: String::new(),
    }
}

#[test]
fn a_clear_effect_reads_as_extra_orders_and_the_subsidy() {
    let r = row(0.05, 0.01);
    let t = r.totals.expect("totals");
    let nf = NumberFormat::with_currency(Some("€"));
    let s = summary_sentence(&r, &nf);
    let want = format!(
        "the 10% coupon (`coupon`) produced {} +/- {} extra orders and cost {} in discounts, \
         of which {} went to customers who would have bought anyway",
        format::quantity(t.extra_orders.value),
        format::quantity(t.extra_orders.half_width()),
        nf.money(3120.0),
        nf.money(t.cost_to_anyway_buyers.value),
    );
    assert_eq!(s, want);
    assert!(s.contains("€3,120.00"), "{s}");
    assert!(!s.contains("not distinguishable"), "{s}");
    // The text section carries it, wrapped to the console's width, in the operator's currency.
    let text = format_sections(&[], &[r], &nf);
    assert!(
        text.contains("the 10% coupon (`coupon`) produced"),
        "{text}"
    );
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
}

#[test]
fn an_interval_through_zero_says_so() {
    let r = row(0.002, 0.02);
    let t = r.totals.expect("totals");
    assert!(t.extra_orders.low < 0.0 && t.extra_orders.high > 0.0);
    let s = summary_sentence(&r, &NumberFormat::default());
    assert!(
        s.contains(&format!(
            "produced {} +/- {} extra orders — not distinguishable from none —",
            format::quantity_change(t.extra_orders.value),
            format::quantity(t.extra_orders.half_width())
        )),
        "{s}"
    );
}

#[test]
fn fewer_orders_read_as_fewer() {
    let r = row(-0.05, 0.01);
    let s = summary_sentence(&r, &NumberFormat::default());
    assert!(s.contains("+/-") && s.contains("fewer orders"), "{s}");
    assert!(!s.contains("extra orders"), "{s}");
}

#[test]
fn an_arm_without_an_offer_is_named_by_its_key() {
    let mut r = row(0.05, 0.01);
    r.offer.clear();
    let s = summary_sentence(&r, &NumberFormat::default());
    assert!(s.starts_with("arm `coupon` produced"), "{s}");
}
