use super::*;
use crate::forecast::coverage::{self, CoverageConfig};

#[test]
fn dersimonian_laird_is_zero_without_excess_spread_and_grows_with_it() {
    let same = [(0.1, 0.01), (0.1, 0.02), (0.1, 0.01)];
    assert_eq!(dersimonian_laird(&same), 0.0);
    let spread = [(-0.5, 0.01), (0.0, 0.01), (0.5, 0.01)];
    // Q = 100·0.5 = 50, df 2, denominator 300 − 100 = 200: τ² = 48/200.
    assert!((dersimonian_laird(&spread) - (48.0f64 / 200.0).sqrt()).abs() < 1e-12);
}

#[test]
fn gaussian_draws_have_the_covariance_of_the_inverse_precision() {
    // Precision [[4, 2], [2, 3]] -> covariance [[3, -2], [-2, 4]] / 8.
    let g = Gaussian::from_precision(vec![1.0, -1.0], vec![4.0, 2.0, 2.0, 3.0]).expect("pd");
    assert!((g.sd(0) - (3.0f64 / 8.0).sqrt()).abs() < 1e-12);
    assert!((g.sd(1) - (4.0f64 / 8.0).sqrt()).abs() < 1e-12);
    let d = g.draw(&[0.0, 0.0]);
    assert_eq!(d, vec![1.0, -1.0]);
}

#[test]
fn a_history_without_control_or_offers_is_refused_with_the_reason() {
    let h = coverage::simulated_history(3, 1, 100);
    let only_control = History {
        campaigns: h.campaigns.clone(),
        units: h
            .units
            .iter()
            .filter(|u| u.offer == Offer::None)
            .cloned()
            .collect(),
    };
    let err = fit(&only_control).expect_err("no offers");
    assert!(err.to_string().contains("no usable history"), "{err}");
    let tiny = History {
        campaigns: h.campaigns.clone(),
        units: h.units[..50].to_vec(),
    };
    assert!(fit(&tiny).expect_err("tiny").to_string().contains("200"));
}

/// `LIFTDECK_PROBE_SEASON=base,lift` overrides the seasons' SDs, to split their effects.
fn probe_season() -> (f64, f64) {
    std::env::var("LIFTDECK_PROBE_SEASON")
        .ok()
        .and_then(|v| {
            let (a, b) = v.split_once(',')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        })
        .unwrap_or(CoverageConfig::fast().season_sd)
}

#[test]
#[ignore = "size probe: bias and dispersion of the standardised errors at the long size"]
fn coverage_probe() {
    let cfg = CoverageConfig {
        trainings: 40,
        campaigns: 6,
        units_per_arm: 1_500,
        draws: 400,
        max_sample: 3_000,
        season_sd: probe_season(),
        ..CoverageConfig::fast()
    };
    let r = coverage::run(&cfg).expect("runs");
    eprintln!("shares {:?}", r.shares());
    for (name, pick) in [("discount", true), ("coupon", false)] {
        let z: Vec<f64> = r
            .checks
            .iter()
            .filter(|c| matches!(c.plan.offer, Offer::Discount { .. }) == pick)
            .map(|c| {
                let b = c.forecast.incremental_conversions;
                (c.truth_incremental - b.value) / ((b.high_95 - b.low_95) / 3.92)
            })
            .collect();
        let n = z.len() as f64;
        let m = z.iter().sum::<f64>() / n;
        let sd = (z.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        eprintln!("{name}: n {n} mean z {m:.3} sd z {sd:.3}");
        let mut worst: Vec<_> = r
            .checks
            .iter()
            .filter(|c| matches!(c.plan.offer, Offer::Discount { .. }) == pick)
            .map(|c| {
                let b = c.forecast.incremental_conversions;
                let z = (c.truth_incremental - b.value) / ((b.high_95 - b.low_95) / 3.92);
                (z, c)
            })
            .collect();
        worst.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
        for (z, c) in worst.iter().take(8) {
            let b = c.forecast.incremental_conversions;
            eprintln!(
                "  z {z:+.2} {:?} {:?} users {} truth {:.1} median {:.1} 80% [{:.1},{:.1}] 95% [{:.1},{:.1}]",
                c.plan.offer,
                c.plan.audience.0,
                c.plan.traffic.expected_users(),
                c.truth_incremental,
                b.value,
                b.low_80,
                b.high_80,
                b.low_95,
                b.high_95
            );
        }
        // The same on the log scale, where a lift multiplier's error is symmetric.
        let lz: Vec<f64> = r
            .checks
            .iter()
            .filter(|c| matches!(c.plan.offer, Offer::Discount { .. }) == pick)
            .filter(|c| {
                c.truth_incremental > 0.0 && c.forecast.incremental_conversions.low_95 > 0.0
            })
            .map(|c| {
                let b = c.forecast.incremental_conversions;
                (c.truth_incremental / b.value).ln() / ((b.high_95 / b.low_95).ln() / 3.92)
            })
            .collect();
        let ln = lz.len() as f64;
        let lm = lz.iter().sum::<f64>() / ln;
        let lsd = (lz.iter().map(|v| (v - lm).powi(2)).sum::<f64>() / (ln - 1.0)).sqrt();
        eprintln!("{name}: log scale n {ln} mean {lm:.3} sd {lsd:.3}");
    }
}

mod support {
    use super::super::*;
    use crate::forecast::coverage::simulated_history;
    use crate::forecast::plan::{Plan, Traffic};
    use crate::forecast::projection::{SupportWarning, Training};
    use serde_json::json;

    fn plan(offer: Offer) -> Plan {
        let traffic = Traffic {
            audience_size: Some(10_000.0),
            daily_users: None,
            days: None,
            cv: Some(0.0),
        };
        Plan {
            margin: 0.5,
            ..Plan::with_defaults("p", offer, traffic)
        }
    }

    fn setup() -> (EffectModel, Vec<Map<String, Value>>) {
        // Campaigns with coupons and discounts of 5-30% only.
        let h = simulated_history(11, 4, 500);
        let contexts = h.units.iter().map(|u| u.context.clone()).collect();
        (fit(&h).expect("fits"), contexts)
    }

    fn run(
        m: &EffectModel,
        p: &Plan,
        audience: &[Map<String, Value>],
    ) -> crate::forecast::projection::PlanForecast {
        let opts = DrawOptions {
            draws: 200,
            seed: 3,
            max_sample: 1_000,
        };
        forecast(m, p, audience, Training::default(), &opts).expect("forecast")
    }

    fn relative_width(f: &crate::forecast::projection::PlanForecast) -> f64 {
        let b = f.incremental_conversions;
        (b.high_95 - b.low_95) / b.value.abs().max(1e-9)
    }

    #[test]
    fn a_depth_beyond_the_tested_ones_is_warned_and_widened() {
        let (m, aud) = setup();
        let b = m
            .block(&Offer::Discount { pct: 10.0 })
            .expect("discounts ran");
        let hi = *m.support[b].depths.last().expect("depths");
        let inside = run(&m, &plan(Offer::Discount { pct: hi }), &aud);
        let beyond = run(&m, &plan(Offer::Discount { pct: 3.0 * hi }), &aud);
        assert!(!inside
            .warnings
            .iter()
            .any(|w| matches!(w, SupportWarning::DepthOutsideTested { .. })));
        let w = beyond
            .warnings
            .iter()
            .find(|w| matches!(w, SupportWarning::DepthOutsideTested { .. }))
            .expect("warned");
        assert!(w.message().contains("extrapolated"), "{}", w.message());
        assert!(
            relative_width(&beyond) > 1.2 * relative_width(&inside),
            "{} vs {}",
            relative_width(&beyond),
            relative_width(&inside)
        );
    }

    #[test]
    fn an_offer_type_never_run_borrows_with_a_warning_and_a_much_wider_interval() {
        let (m, aud) = setup();
        let rec = run(&m, &plan(Offer::Recommend { items: 6 }), &aud);
        let w = rec
            .warnings
            .iter()
            .find_map(|w| match w {
                SupportWarning::OfferTypeNeverRun { borrowed_from, .. } => Some(borrowed_from),
                _ => None,
            })
            .expect("warned");
        assert_eq!(w, "discount");
        let disc = run(&m, &plan(Offer::Discount { pct: 10.0 }), &aud);
        assert!(relative_width(&rec) > 1.5 * relative_width(&disc));
    }

    #[test]
    fn an_audience_segment_no_campaign_had_is_warned_and_an_empty_audience_refused() {
        let (m, mut aud) = setup();
        let p = plan(Offer::Coupon { pct: 10.0 });
        for c in aud.iter_mut().take(300) {
            c.insert("region".into(), json!("mena"));
        }
        let f = run(&m, &p, &aud);
        assert!(f.warnings.iter().any(|w| matches!(w,
            SupportWarning::SegmentUnseen { field, value, .. } if field == "region" && value == "mena")));
        let thin = run(&m, &p, &aud[..50]);
        assert!(thin
            .warnings
            .iter()
            .any(|w| matches!(w, SupportWarning::ThinAudience { units: 50, .. })));
        let err = forecast(&m, &p, &[], Training::default(), &DrawOptions::default())
            .expect_err("no audience");
        assert!(
            err.to_string().contains("no unit in the store matches"),
            "{err}"
        );
    }

    #[test]
    fn bands_are_ordered_and_the_cost_split_adds_up() {
        let (m, aud) = setup();
        let f = run(&m, &plan(Offer::Coupon { pct: 15.0 }), &aud);
        for b in [
            f.reach,
            f.conversions_without,
            f.conversions_with,
            f.incremental_conversions,
            f.incremental_revenue,
            f.cost,
            f.incremental_profit,
        ] {
            assert!(b.low_95 <= b.low_80 && b.low_80 <= b.value, "{b:?}");
            assert!(b.value <= b.high_80 && b.high_80 <= b.high_95, "{b:?}");
        }
        // Profit = margin on the extra orders − subsidy − discount on the extra orders, draw by
        // draw, so the medians agree up to the spread of the medians.
        let s = f.split;
        let implied = s.margin_on_incremental.value - s.subsidy.value - s.cost_on_incremental.value;
        let tol = 0.25 * (f.incremental_profit.high_80 - f.incremental_profit.low_80);
        assert!(
            (implied - f.incremental_profit.value).abs() < tol,
            "{implied} vs {:?}",
            f.incremental_profit
        );
        assert_eq!(f.incremental_conversion_draws.len(), 200);
        assert!(f.segments.iter().any(|s| s.field == "segment"));
    }
}

#[test]
fn the_spread_posterior_follows_the_data_and_falls_back_on_its_prior() {
    let median = |q: &[f64]| q[q.len() / 2];
    // No campaigns: the half-normal prior itself, median 0.674 × scale.
    let prior = spread_posterior(&[], 0.3);
    assert_eq!(prior.len(), 64);
    assert!(
        (median(&prior) - 0.6745 * 0.3).abs() < 0.02,
        "{}",
        median(&prior)
    );
    // Twenty precise campaigns spread with SD 0.5 (deviations ±0.5): the posterior sits near it.
    let wide: Vec<(f64, f64)> = (0..20)
        .map(|i| (if i % 2 == 0 { 0.5 } else { -0.5 }, 0.0001))
        .collect();
    let w = spread_posterior(&wide, 0.3);
    assert!((median(&w) - 0.5).abs() < 0.08, "{}", median(&w));
    // Twenty precise campaigns that agree: the posterior is pulled well below the prior.
    let tight: Vec<(f64, f64)> = (0..20).map(|_| (0.0, 0.0001)).collect();
    let t = spread_posterior(&tight, 0.3);
    assert!(median(&t) < 0.2 * median(&prior), "{}", median(&t));
    // Quantiles ascend.
    assert!(w.windows(2).all(|p| p[0] <= p[1]));
}

#[test]
#[ignore = "diagnostic: mean fitted uplift over 30 histories against the closed-form truth on the same units (no seasons)"]
fn bias_probe() {
    use crate::sim::{expectation, shopper_from_context};
    let mut ratios = std::collections::BTreeMap::<String, Vec<f64>>::new();
    for seed in 100u64..130 {
        let h = coverage::simulated_history(seed, 6, 1_500);
        let m = fit(&h).expect("fit");
        for offer in [Offer::Coupon { pct: 15.0 }, Offer::Discount { pct: 15.0 }] {
            let Some(b) = m.block(&offer) else { continue };
            let d = &m.support[b].depths;
            if !(d[0] <= 15.0 && 15.0 <= d[d.len() - 1]) {
                continue;
            }
            let ctx: Vec<_> = h.units.iter().map(|u| u.context.clone()).collect();
            let s =
                score_users(&m, &[Offer::None, offer.clone()], 1.0, None, &ctx, None).expect("s");
            let fitted: f64 = (0..s.users).map(|i| s.uplift[i * 2 + 1]).sum::<f64>();
            let truth: f64 = ctx
                .iter()
                .filter_map(shopper_from_context)
                .map(|sh| {
                    expectation(&sh, &offer).purchase - expectation(&sh, &Offer::None).purchase
                })
                .sum();
            ratios
                .entry(offer.describe())
                .or_default()
                .push(fitted / truth);
        }
    }
    for (k, v) in ratios {
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        eprintln!("{k}: n {n} mean ratio {m:.3} se {:.3}", sd / n.sqrt());
    }
}

#[test]
#[ignore = "probe: a returning-segment discount plan, fitted vs true, over seasonal histories"]
fn returning_probe() {
    use crate::forecast::coverage::seasonal_history;
    use crate::forecast::plan::{Condition, Plan, Traffic};
    let season = probe_season();
    for t in 0..12u64 {
        let seed = 7919 + t;
        let h = seasonal_history(seed, 6, 1_500, season);
        let m = fit(&h).expect("fits");
        let mut plan = Plan::with_defaults(
            "p",
            Offer::Discount { pct: 15.0 },
            Traffic {
                audience_size: Some(2_000.0),
                daily_users: None,
                days: None,
                cv: Some(0.0),
            },
        );
        plan.audience
            .0
            .insert("segment".into(), Condition::Is("returning".into()));
        let contexts: Vec<_> = h
            .units
            .iter()
            .map(|u| &u.context)
            .filter(|c| plan.audience.matches(c))
            .cloned()
            .collect();
        let opts = DrawOptions {
            draws: 200,
            seed: 1,
            max_sample: 3_000,
        };
        let f = forecast(
            &m,
            &plan,
            &contexts,
            crate::forecast::projection::Training::default(),
            &opts,
        )
        .expect("forecast");
        let (truth, _) = crate::forecast::coverage::truth(&plan, seed * 31, (0.0, 0.0));
        let b = f.incremental_conversions;
        let disc: Vec<String> = h
            .units
            .iter()
            .filter(|u| matches!(u.offer, Offer::Discount { .. }))
            .map(|u| format!("{}:{}", u.campaign, offer_depth(&u.offer)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        eprintln!(
            "t {t}: truth(avg season) {truth:.1} median {:.1} 95% [{:.1},{:.1}] discount arms {disc:?}",
            b.value, b.low_95, b.high_95
        );
    }
}

#[test]
#[ignore = "probe: the coefficients of one seasonal history"]
fn coefficient_probe() {
    use crate::forecast::coverage::seasonal_history;
    let t: u64 = std::env::var("LIFTDECK_PROBE_T")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    for season in [(0.0, 0.0), probe_season()] {
        let h = seasonal_history(7919 + t, 6, 1_500, season);
        let m = fit(&h).expect("fits");
        let names = m.encoder.names();
        let d = names.len();
        let b = m
            .types
            .iter()
            .position(|x| OFFER_TYPES[*x] == "discount")
            .expect("discount");
        let at = d + b * (1 + d);
        let w = &m.conversion.mean;
        eprintln!(
            "season {season:?}: discount a {:.3} (sd {:.3})",
            w[at],
            m.conversion.sd(at)
        );
        for (j, n) in names.iter().enumerate() {
            eprintln!(
                "  {n:>24}: base {:+.3}  lift×dose {:+.3} (sd {:.3})",
                w[j],
                w[at + 1 + j],
                m.conversion.sd(at + 1 + j)
            );
        }
        let width = d + m.types.len() * (1 + d);
        eprintln!("  campaign effects {:?}", &w[width..w.len() - 1]);
        eprintln!(
            "  spread median {:?}",
            m.support[b].spread.get(m.support[b].spread.len() / 2)
        );
    }
}
