//! The Models panel's learner choice: `r` opens it on the learner chosen last in this
//! session (dense at first), ↑/↓ (or k/j) move, Enter starts the retrain with that learner,
//! Esc closes it without starting anything. It takes every key while open, as the form does.

use super::state::{App, Effect};
use crate::app::train::LearnerChoice;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

/// What each learner is, in one short line for the chooser.
pub fn describe(l: LearnerChoice) -> &'static str {
    match l {
        LearnerChoice::Dense => "dense logistic on one-hot context (Adam)",
        LearnerChoice::Lr => "hashed logistic, Adam + L2",
        LearnerChoice::LrSgd => "hashed logistic, mini-batch SGD + L2",
        LearnerChoice::Ftrl => "hashed FTRL-Proximal, L1 + L2",
        LearnerChoice::Mlp => "hashed one-hidden-layer network",
    }
}

impl App {
    /// `r` on the Models panel: opens the choice on the last learner used.
    pub(super) fn open_learner_pick(&mut self) {
        let at = LearnerChoice::ALL
            .iter()
            .position(|l| *l == self.learner)
            .unwrap_or(0);
        self.learner_pick = Some(at);
        self.status_line = "retrain with: ↑/↓ choose, Enter starts, Esc closes".into();
    }

    /// Keys while the choice is open.
    pub(super) fn on_learner_pick_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        let Some(at) = self.learner_pick else {
            return vec![];
        };
        let last = LearnerChoice::ALL.len() - 1;
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.learner_pick = Some(at.saturating_sub(1)),
            KeyCode::Down | KeyCode::Char('j') => self.learner_pick = Some((at + 1).min(last)),
            KeyCode::Esc => {
                self.learner_pick = None;
                self.status_line = "retrain not started: nothing changed".into();
            }
            KeyCode::Enter => {
                self.learner_pick = None;
                self.learner = LearnerChoice::ALL[at.min(last)];
                return self.run_job();
            }
            _ => {}
        }
        vec![]
    }
}
