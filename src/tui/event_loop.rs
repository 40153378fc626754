//! The loop: poll the followed folders on a tick, drain every pending key, draw once; at most
//! ten frames a second, so a busy run cannot make the UI spin, and a key never waits for more
//! than one frame. `ratatui::init` installs a panic hook that restores the terminal; errors
//! restore it on the way out.

use super::app::{Action, App};
use super::keymap;
use super::panes;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use std::time::{Duration, Instant};

const FRAME: Duration = Duration::from_millis(100);
const TICK: Duration = Duration::from_millis(500);

pub fn run(app: &mut App) -> std::io::Result<()> {
    let mut terminal = ratatui::init();
    let result = run_loop(&mut terminal, app);
    ratatui::restore();
    result
}

fn run_loop(terminal: &mut DefaultTerminal, app: &mut App) -> std::io::Result<()> {
    let mut last_tick: Option<Instant> = None;
    while !app.quit {
        if last_tick.is_none_or(|t| t.elapsed() >= TICK) {
            app.update(Action::Tick);
            last_tick = Some(Instant::now());
        }
        terminal.draw(|f| panes::draw(f, app))?;
        if event::poll(FRAME)? {
            // Drain everything pending before the next draw.
            loop {
                if let Event::Key(key) = event::read()?
                    && key.kind == KeyEventKind::Press
                    && let Some(action) = keymap::action(key, app.dataset.filtering)
                {
                    let mut next = Some(action);
                    while let Some(a) = next {
                        next = app.update(a);
                    }
                }
                if app.quit || !event::poll(Duration::ZERO)? {
                    break;
                }
            }
        }
    }
    Ok(())
}
