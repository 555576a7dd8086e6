//! The Bandit panel (issue 9, "The Bandit panel and `bandit show`"): the leaderboard shows the
//! figures of `app::bandit::board` (formatted by `format.rs`, compared with the board, not
//! with stored strings) whole at 80x24 and on a wide terminal, for rate and money rewards;
//! arms read apart without colour; the explore stage reads honestly before any unit; the
//! next update counts down on the console's clock; `v` swaps the second chart; a short
//! terminal drops the charts, not the figures; an A/B campaign still gets its plain statement.

use liftdeck::app::bandit::{self, BanditBoard};
use liftdeck::format::{self, NumberFormat};
use liftdeck::replay::Replay;
use liftdeck::tui::theme::Theme;
use liftdeck::tui::view::ago;
use liftdeck::tui::{render, screen_text, App};
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;
use std::collections::BTreeSet;

/// A running bandit `key` on the simulated shop: no offer, 5% off, 60% off (the last sells
/// most), learning on `reward` with a short explore stage.
fn campaign_line(key: &str, reward: &str) -> String {
    format!(
        r#"{{"type":"campaign","key":"{key}","name":"{key}","kind":"bandit","arms":[{{"key":"control","weight":1.0,"offer":{{"type":"none"}}}},{{"key":"d5","weight":1.0,"offer":{{"type":"discount","pct":5.0}}}},{{"key":"d60","weight":1.0,"offer":{{"type":"discount","pct":60.0}}}}],"control":"control","traffic":1.0,"metric":"purchase","seed":21,"status":"running","bandit":{{"reward":"{reward}","update_every_units":500,"update_every_secs":30,"explore_min_units":100,"explore_min_secs":60}}}}"#
    )
}

/// The campaign after `seconds` of traffic at 20 shoppers a second, on the Bandit panel.
fn learned(key: &str, reward: &str, seconds: u32) -> Replay {
    let mut replay = Replay::new((80, 24), false).expect("replay");
    let mut text = campaign_line(key, reward);
    if seconds > 0 {
        text.push_str(&format!(
            "\n{{\"op\":\"traffic\",\"campaigns\":\"{key}\",\"seconds\":{seconds},\"rate\":20,\"step\":5,\"seed\":3}}"
        ));
    }
    text.push_str("\n{\"op\":\"key\",\"keys\":\"<Tab><Tab>\"}");
    replay.run(&text).expect("runs");
    replay
}

/// The board as `bandit show` reads it, at the time the console's snapshot was read.
fn board_of(replay: &Replay, key: &str) -> BanditBoard {
    bandit::board(replay.store(), key, replay.app().snapshot.read_at).expect("board")
}

/// Each arm's figures as format.rs prints them for this board, in leaderboard order: weight,
/// pulls, mean, interval, P(best), cumulative reward.
fn figures(b: &BanditBoard) -> Vec<(String, Vec<String>)> {
    let nf = NumberFormat::default();
    let mean = |x: f64| nf.reward(b.reward, x);
    let total = |x: f64| nf.reward_total(b.reward, x);
    b.arms
        .iter()
        .map(|a| {
            (
                a.key.clone(),
                vec![
                    format::rate(a.weight),
                    format::count(a.units),
                    format::opt(a.reward_mean, mean),
                    format::interval(a.lower, a.upper, mean),
                    format::opt(a.p_best, format::probability),
                    total(a.cumulative_reward),
                ],
            )
        })
        .collect()
}

/// The screen row of arm `i` (its character, then its key).
fn arm_row<'a>(screen: &'a str, i: usize, key: &str) -> &'a str {
    let label = format!("{} {key} ", ['o', '+', 'x', '#'][i]);
    screen
        .lines()
        .find(|l| l.contains(&label))
        .unwrap_or_else(|| panic!("no row for {key}:\n{screen}"))
}

/// Every figure of every arm, whole and in column order, on its arm's row.
fn assert_leaderboard(screen: &str, b: &BanditBoard) {
    for (i, (key, cells)) in figures(b).iter().enumerate() {
        let row = arm_row(screen, i, key);
        let mut rest = row;
        for cell in cells {
            let at = rest
                .find(cell.as_str())
                .unwrap_or_else(|| panic!("{key}: `{cell}` missing or out of order in\n{row}"));
            rest = &rest[at + cell.len()..];
        }
    }
}

#[test]
fn the_leaderboard_is_the_boards_figures_at_80x24_and_wide_for_rates_and_money() {
    for (key, reward) in [("conv", "conversion"), ("prof", "profit")] {
        let replay = learned(key, reward, 900);
        let b = board_of(&replay, key);
        assert_eq!(replay.app().snapshot.bandit.as_ref(), Some(&b));
        assert!(b.period > 2, "{key} learned: {} periods", b.period);
        for (w, h) in [(80, 24), (100, 30), (160, 48)] {
            let screen = screen_text(replay.app(), w, h);
            assert_leaderboard(&screen, &b);
            assert!(screen.contains(&format!("period {}", b.period)), "{screen}");
            let regret = b.regret.expect("regret");
            let regret = if b.reward.is_binary() {
                format!(
                    "est. regret {} conversions",
                    format::count(regret.round() as i64)
                )
            } else {
                format!("est. regret {}", NumberFormat::default().money(regret))
            };
            assert!(screen.contains(&regret), "{w}x{h} `{regret}`:\n{screen}");
            let leader = b.leader.as_deref().expect("a leader");
            assert!(
                screen.contains(&format!("leader {leader} "))
                    || screen.contains(&format!("winner {leader}: ")),
                "{screen}"
            );
            assert!(!screen.contains("wider terminal"), "{w}x{h}:\n{screen}");
        }
    }
}

#[test]
fn the_weights_move_to_the_arm_that_sells_most_and_the_panel_says_so() {
    let replay = learned("conv", "conversion", 1800);
    let b = board_of(&replay, "conv");
    let best = &b.arms[2];
    assert!(best.weight > 0.8, "{:?}", b.arms);
    assert_eq!(b.leader.as_deref(), Some("d60"));
    let screen = screen_text(replay.app(), 80, 24);
    assert!(arm_row(&screen, 2, "d60").contains(&format::rate(best.weight)));
    let updates = b.history.iter().filter(|p| p.period > 1).count();
    assert!(screen.contains(&format!("┴ {updates} updates")), "{screen}");
    // The weights chart ends on d60's character filling most of the last column.
    let last: Vec<char> = screen
        .lines()
        .filter(|l| l.contains("│") && l.matches('│').count() >= 4)
        .filter_map(|l| l.split('│').nth(2).and_then(|c| c.chars().last()))
        .collect();
    let x = last.iter().filter(|c| **c == 'x').count();
    assert!(x * 10 >= last.len() * 8, "{last:?}\n{screen}");
}

#[test]
fn the_history_carries_each_arms_p_best_and_reward_from_the_stored_periods() {
    let replay = learned("conv", "conversion", 600);
    let b = board_of(&replay, "conv");
    let periods = replay.store().periods("conv").expect("periods");
    assert_eq!(b.history.len(), periods.len());
    for (h, p) in b.history.iter().zip(&periods) {
        for (i, arm) in b.arms.iter().enumerate() {
            let stored = p.summary["arms"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["key"] == arm.key.as_str()));
            match stored {
                Some(s) => {
                    assert_eq!(h.p_best[i], s["p_best"].as_f64(), "period {}", p.period);
                    assert_eq!(h.cumulative_reward[i], s["reward_sum"].as_f64());
                }
                // The creation stores no posterior: no P(best), and no reward before any unit.
                None => {
                    assert_eq!(p.period, 1);
                    assert_eq!(h.p_best[i], None);
                    assert_eq!(h.cumulative_reward[i], Some(0.0));
                }
            }
        }
    }
}

/// The characters drawn in the plots (right of a y-axis line), and whether any cell carries
/// a colour.
fn plot_marks(app: &App, w: u16, h: u16) -> (BTreeSet<char>, bool) {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    terminal.draw(|f| render(app, f)).expect("draw");
    let buf = terminal.backend().buffer();
    let mut marks = BTreeSet::new();
    let mut coloured = false;
    for y in 0..h {
        let row: String = (0..w).map(|x| buf[(x, y)].symbol()).collect();
        for x in 0..w {
            let cell = &buf[(x, y)];
            coloured |= cell.fg != Color::Reset || cell.bg != Color::Reset;
        }
        if row.matches('│').count() >= 4 {
            for part in row.split('│').skip(2).step_by(2) {
                marks.extend(part.chars().filter(|c| "o+x#".contains(*c)));
            }
        }
    }
    (marks, coloured)
}

#[test]
fn without_colour_each_arm_keeps_its_own_character_in_the_table_and_the_charts() {
    let replay = learned("conv", "conversion", 900);
    let mut app = replay.app().clone();
    app.theme = Theme::monochrome();
    let (marks, coloured) = plot_marks(&app, 80, 24);
    assert!(!coloured, "monochrome draws no colour");
    assert_eq!(
        marks,
        BTreeSet::from(['o', '+', 'x']),
        "every arm in the charts"
    );
    let screen = screen_text(&app, 80, 24);
    for (i, key) in ["control", "d5", "d60"].iter().enumerate() {
        arm_row(&screen, i, key);
    }
    // The colour theme draws the same characters: colour is never the only difference.
    app.theme = Theme::default_colors();
    assert_eq!(plot_marks(&app, 80, 24).0, marks);
}

#[test]
fn before_any_unit_the_panel_shows_the_explore_stage_as_it_is() {
    let replay = learned("fresh", "conversion", 0);
    let b = board_of(&replay, "fresh");
    let screen = screen_text(replay.app(), 80, 24);
    assert!(
        screen.contains("EXPLORE period 1 · no update yet"),
        "{screen}"
    );
    assert!(
        screen.contains(&format!(
            "explore ends at {} units per arm (fewest 0) and {}",
            format::count(b.explore_min_units),
            ago(b.explore_min_secs * 1_000_000)
        )),
        "{screen}"
    );
    assert!(
        screen.contains("No update yet: P(best) over time"),
        "{screen}"
    );
    assert!(
        screen.contains("no leader before the first unit"),
        "{screen}"
    );
    assert_leaderboard(&screen, &b);
    for (i, key) in ["control", "d5", "d60"].iter().enumerate() {
        let row = arm_row(&screen, i, key);
        assert!(row.contains(&format::rate(1.0 / 3.0)), "uniform: {row}");
    }
}

#[test]
fn the_next_update_counts_down_on_the_consoles_clock() {
    let mut replay = learned("conv", "conversion", 600);
    let b = board_of(&replay, "conv");
    let next = b.next_update.expect("a running bandit has a next update");
    let secs = next.secs_to_go.expect("a time trigger");
    assert!(secs > 5 && !next.due, "{next:?}");
    let units = format::count(next.units_to_go.expect("a unit trigger"));
    let before = screen_text(replay.app(), 80, 24);
    assert!(
        before.contains(&format!(
            "next in {units} units or {}",
            ago(secs * 1_000_000)
        )),
        "{before}"
    );
    replay
        .run("{\"op\":\"advance\",\"seconds\":5}")
        .expect("advance");
    let after = screen_text(replay.app(), 80, 24);
    assert!(
        after.contains(&format!(
            "next in {units} units or {}",
            ago((secs - 5) * 1_000_000)
        )),
        "{after}"
    );
}

#[test]
fn v_swaps_the_second_chart_and_a_wide_terminal_shows_all_three() {
    let mut replay = learned("conv", "conversion", 600);
    let before = screen_text(replay.app(), 80, 24);
    assert!(before.contains("P(best) · ") && !before.contains("cumulative conversions"));
    replay.run("{\"op\":\"key\",\"keys\":\"v\"}").expect("key");
    let after = screen_text(replay.app(), 80, 24);
    assert!(after.contains("cumulative conversions") && !after.contains("P(best) · "));
    assert!(
        after.contains("v chart"),
        "the footer names the key:\n{after}"
    );
    let wide = screen_text(replay.app(), 120, 30);
    for title in ["weights · ", "P(best) · ", "cumulative conversions"] {
        assert!(wide.contains(title), "{title}:\n{wide}");
    }
}

#[test]
fn a_short_terminal_drops_the_charts_and_keeps_every_figure() {
    let replay = learned("conv", "conversion", 600);
    let b = board_of(&replay, "conv");
    let screen = screen_text(replay.app(), 80, 16);
    assert!(
        screen.contains("a taller terminal shows the charts"),
        "{screen}"
    );
    assert!(!screen.contains("weights · "), "{screen}");
    assert_leaderboard(&screen, &b);
    // Tiny terminals render without panicking.
    for (w, h) in [(20, 6), (40, 10), (60, 12)] {
        screen_text(replay.app(), w, h);
    }
}

#[test]
fn a_paused_bandit_says_its_weights_are_frozen() {
    let mut replay = learned("conv", "conversion", 600);
    replay
        .run("{\"op\":\"pause\",\"campaign\":\"conv\"}")
        .expect("pause");
    let screen = screen_text(replay.app(), 80, 24);
    assert!(screen.contains("PAUSED period"), "{screen}");
    assert!(screen.contains("weights frozen while paused"), "{screen}");
    assert_eq!(board_of(&replay, "conv").next_update, None);
}

#[test]
fn an_ab_campaign_still_gets_the_plain_statement() {
    let mut replay = Replay::new((80, 24), false).expect("replay");
    replay
        .run(
            "{\"op\":\"sim\",\"seed\":7,\"shoppers\":600,\"seconds\":60}\n\
             {\"op\":\"key\",\"keys\":\"<Tab><Tab>\"}",
        )
        .expect("runs");
    let screen = replay.screen();
    assert!(
        screen.contains("coupon-10 is an A/B test, not a bandit: its weights are fixed."),
        "{screen}"
    );
    assert_eq!(replay.app().snapshot.bandit, None);
}
