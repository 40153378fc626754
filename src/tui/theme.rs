//! Themes: `themes/NAME.toml` with semantic colour names; panes ask the theme for a role
//! ("title", "teacher", a heat level), never for a literal colour. The three bundled themes are
//! compiled in, so the binary works from any folder; a file in `themes/` overrides them.

use ratatui::style::{Color, Modifier, Style};
use std::collections::BTreeMap;
use std::path::Path;

const BUNDLED: [(&str, &str); 3] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("monochrome", include_str!("../../themes/monochrome.toml")),
];

#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    colors: BTreeMap<String, Color>,
    /// Monochrome: emphasis by modifiers only.
    pub plain: bool,
}

#[derive(serde::Deserialize)]
struct ThemeFile {
    name: String,
    colors: BTreeMap<String, String>,
}

fn parse_color(s: &str) -> Option<Color> {
    if s == "reset" {
        return Some(Color::Reset);
    }
    s.parse::<Color>().ok()
}

impl Theme {
    /// `themes/NAME.toml` under `dir` if present, else the bundled theme of that name.
    pub fn load(name: &str, dir: &Path) -> Result<Self, String> {
        let file = dir.join(format!("{name}.toml"));
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(_) => BUNDLED
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| (*t).to_string())
                .ok_or_else(|| {
                    format!(
                        "theme `{name}`: no {} and no bundled theme of that name (dark, light, monochrome)",
                        file.display()
                    )
                })?,
        };
        let parsed: ThemeFile =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut colors = BTreeMap::new();
        for (role, value) in parsed.colors {
            let c = parse_color(&value).ok_or_else(|| {
                format!(
                    "{}: colors.{role} = \"{value}\" is not a colour",
                    file.display()
                )
            })?;
            colors.insert(role, c);
        }
        let plain = colors.values().all(|c| *c == Color::Reset);
        Ok(Self {
            name: parsed.name,
            colors,
            plain,
        })
    }

    /// The theme to use: monochrome when `NO_COLOR` is set (https://no-color.org), else `name`.
    pub fn choose(name: &str, dir: &Path) -> Result<Self, String> {
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return Self::load("monochrome", dir);
        }
        Self::load(name, dir)
    }

    pub fn bundled(name: &str) -> Self {
        Self::load(name, Path::new("/nonexistent")).unwrap_or_else(|_| Self {
            name: "monochrome".into(),
            colors: BTreeMap::new(),
            plain: true,
        })
    }

    fn color(&self, role: &str) -> Color {
        self.colors.get(role).copied().unwrap_or(Color::Reset)
    }

    pub fn fg(&self, role: &str) -> Style {
        Style::default().fg(self.color(role))
    }

    pub fn text(&self) -> Style {
        self.fg("text")
    }

    pub fn muted(&self) -> Style {
        let s = self.fg("muted");
        if self.plain {
            s.add_modifier(Modifier::DIM)
        } else {
            s
        }
    }

    pub fn title(&self, focused: bool) -> Style {
        let s = self.fg(if focused { "title_focused" } else { "title" });
        s.add_modifier(Modifier::BOLD)
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg("title_focused")
        } else {
            self.fg("border")
        }
    }

    pub fn selected(&self) -> Style {
        if self.plain {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
                .bg(self.color("selection"))
                .add_modifier(Modifier::BOLD)
        }
    }

    /// Colour of the i-th overlaid series (runs, loss terms).
    pub fn series(&self, i: usize) -> Style {
        const ROLES: [&str; 6] = ["train", "student", "teacher", "valid", "warning", "test"];
        self.fg(ROLES[i % ROLES.len()])
    }

    /// A heat-map cell for `t` in 0..=1: interpolated between `heat_low` and `heat_high` (text
    /// reversed at the top end in monochrome, where there is no colour to interpolate).
    pub fn heat(&self, t: f64) -> Style {
        let t = t.clamp(0.0, 1.0);
        match (self.color("heat_low"), self.color("heat_high")) {
            (Color::Rgb(r0, g0, b0), Color::Rgb(r1, g1, b1)) => {
                let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
                let bg = Color::Rgb(mix(r0, r1), mix(g0, g1), mix(b0, b1));
                let fg = if t > 0.55 {
                    Color::Black
                } else {
                    self.color("text")
                };
                Style::default().bg(bg).fg(fg)
            }
            _ if t > 0.66 => Style::default().add_modifier(Modifier::REVERSED),
            _ => Style::default(),
        }
    }
}
