//! The Live A/B chart reads without colour (issue 8 §4): each arm keeps its own marker, the
//! legend on its own rows names every arm, and each arm's 95% band is drawn under the markers
//! as faint `·` (`:` where the bands of several arms overlap), with the legend saying so.

use liftdeck::replay::Replay;
use liftdeck::tui::{render, App};
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;
use ratatui::Terminal;
use std::collections::BTreeSet;

/// The demo shop after `seconds`, on the Live A/B panel of campaign number `down` (0 is the
/// two-arm coupon-10, 1 the four-arm discount-depth).
fn live_ab(size: (u16, u16), seconds: u32, down: usize) -> Replay {
    let mut replay = Replay::new(size, false).expect("replay");
    let keys = format!("{}<Enter>", "j".repeat(down));
    replay
        .run(&format!(
            "{{\"op\":\"sim\",\"seed\":7,\"shoppers\":3000,\"seconds\":{seconds}}}\n\
             {{\"op\":\"key\",\"keys\":\"{keys}\"}}"
        ))
        .expect("runs");
    replay
}

/// The legend rows (from the first arm's entry down to the plot's first row) and the plot
/// rows (right of the rate labels, down to the minutes axis).
fn chart_parts(text: &str) -> (String, Vec<String>) {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("o control"))
        .unwrap_or_else(|| panic!("no legend:\n{text}"));
    let plot_start = start
        + lines[start..]
            .iter()
            .position(|l| l.matches('│').count() >= 3)
            .unwrap_or_else(|| panic!("no plot:\n{text}"));
    let legend = lines[start..plot_start].join(" ");
    let plot = lines[plot_start..]
        .iter()
        .take_while(|l| !l.contains("minutes"))
        .filter_map(|l| l.trim_end_matches('│').split('│').nth(2))
        .map(str::to_string)
        .collect();
    (legend, plot)
}

fn check_chart(replay: &Replay, arms: &[&str]) {
    let text = replay.screen();
    let (legend, plot) = chart_parts(&text);
    for (i, arm) in arms.iter().enumerate() {
        let mark = ['o', '+', 'x', '#'][i];
        assert!(
            legend.contains(&format!("{mark} {arm} ")),
            "{arm}: {legend}"
        );
    }
    assert!(
        legend.contains("· 95% band") && legend.contains(": bands overlap"),
        "the legend explains the band: {legend}"
    );
    let cells: String = plot.concat();
    assert!(
        cells.contains('·') || cells.contains(':'),
        "a band under the curves:\n{text}"
    );
    let marks: BTreeSet<char> = cells.chars().filter(|c| "o+x#".contains(*c)).collect();
    assert!(
        marks.len() >= arms.len().min(3),
        "distinct markers over the band: {marks:?}\n{text}"
    );
}

#[test]
fn the_band_legend_and_markers_read_at_80x24_and_100x30() {
    for size in [(80, 24), (100, 30)] {
        let four = live_ab(size, 1800, 1);
        check_chart(&four, &["control", "d5", "d10", "d20"]);
        let two = live_ab(size, 1800, 0);
        check_chart(&two, &["control", "coupon"]);
    }
}

/// The modifiers of every plot cell holding `c`.
fn styles_of(app: &App, size: (u16, u16), c: &str) -> BTreeSet<bool> {
    let mut terminal = Terminal::new(TestBackend::new(size.0, size.1)).expect("terminal");
    terminal.draw(|f| render(app, f)).expect("draw");
    let buf = terminal.backend().buffer();
    let mut dim = BTreeSet::new();
    for y in 0..size.1 {
        // Only the chart: below its legend row.
        let row: String = (0..size.0).map(|x| buf[(x, y)].symbol()).collect();
        if row.matches('│').count() < 3 {
            continue;
        }
        for x in 0..size.0 {
            let cell = &buf[(x, y)];
            if cell.symbol() == c {
                dim.insert(cell.modifier.contains(Modifier::DIM));
            }
        }
    }
    dim
}

#[test]
fn band_cells_are_faint_and_markers_are_not() {
    let replay = live_ab((100, 30), 1800, 0);
    let band = styles_of(replay.app(), (100, 30), "·");
    let overlap = styles_of(replay.app(), (100, 30), ":");
    assert!(!band.is_empty() || !overlap.is_empty());
    assert!(
        band.iter().chain(&overlap).all(|d| *d),
        "{band:?} {overlap:?}"
    );
    assert_eq!(
        styles_of(replay.app(), (100, 30), "o"),
        BTreeSet::from([false])
    );
}
