//! Styles in one place. Every alarm also carries a word or symbol (`!! SRM ALARM`, `! STALE`)
//! and bold/reverse, so nothing depends on colour: under NO_COLOR crossterm drops colours but
//! keeps bold and reverse, and the monochrome theme drops them here too.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Theme {
    pub title: Style,
    pub selected: Style,
    pub alarm: Style,
    pub warning: Style,
    pub ok: Style,
    pub key: Style,
    /// Background detail drawn under the data: the chart's 95% bands.
    pub faint: Style,
}

impl Theme {
    pub fn default_colors() -> Theme {
        Theme {
            title: Style::default()
                .add_modifier(Modifier::BOLD)
                .fg(Color::Cyan),
            selected: Style::default().add_modifier(Modifier::REVERSED),
            alarm: Style::default()
                .add_modifier(Modifier::BOLD | Modifier::REVERSED)
                .fg(Color::Red),
            warning: Style::default()
                .add_modifier(Modifier::BOLD)
                .fg(Color::Yellow),
            ok: Style::default().fg(Color::Green),
            key: Style::default().add_modifier(Modifier::REVERSED),
            faint: Style::default().add_modifier(Modifier::DIM),
        }
    }

    /// White-on-black with bold everywhere that matters, for bright rooms and weak eyes.
    pub fn high_contrast() -> Theme {
        Theme {
            title: Style::default()
                .add_modifier(Modifier::BOLD)
                .fg(Color::White)
                .bg(Color::Black),
            selected: Style::default()
                .add_modifier(Modifier::REVERSED | Modifier::BOLD)
                .fg(Color::White),
            alarm: Style::default()
                .add_modifier(Modifier::BOLD | Modifier::REVERSED)
                .fg(Color::LightYellow),
            warning: Style::default()
                .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
                .fg(Color::LightYellow),
            ok: Style::default()
                .add_modifier(Modifier::BOLD)
                .fg(Color::White),
            key: Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            // Dim is hard to see in a bright room: the band's characters carry it alone.
            faint: Style::default(),
        }
    }

    /// Modifiers only: what NO_COLOR asks for.
    pub fn monochrome() -> Theme {
        Theme {
            title: Style::default().add_modifier(Modifier::BOLD),
            selected: Style::default().add_modifier(Modifier::REVERSED),
            alarm: Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED),
            warning: Style::default().add_modifier(Modifier::BOLD),
            ok: Style::default(),
            key: Style::default().add_modifier(Modifier::REVERSED),
            faint: Style::default().add_modifier(Modifier::DIM),
        }
    }

    /// `--theme` name and whether NO_COLOR is set (any non-empty value, per no-color.org).
    pub fn choose(name: &str, no_color: bool) -> Result<Theme, String> {
        if no_color {
            return Ok(Theme::monochrome());
        }
        match name {
            "default" => Ok(Theme::default_colors()),
            "high-contrast" => Ok(Theme::high_contrast()),
            "mono" | "monochrome" => Ok(Theme::monochrome()),
            other => Err(format!(
                "--theme `{other}`: use default, high-contrast or mono"
            )),
        }
    }
}

impl Default for Theme {
    fn default() -> Theme {
        Theme::monochrome()
    }
}
