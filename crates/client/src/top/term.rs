//! The live full-screen loop: scrape, draw, then wait for keys until the next refresh is due.
//! The terminal is put back (raw mode off, main screen) on every way out, panics included
//! (`ratatui::try_init` installs the hook that does it).

use std::io;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::model::{sort_rows, Frame, Model, SortKey};
use super::scrape::Scraper;
use super::view::{self, Status};

/// What a key asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    /// Sort by the next column.
    Sort,
    /// Stop refreshing, or start again.
    Pause,
    Ignore,
}

/// `q`, `Esc`, Ctrl-C quit (raw mode turns Ctrl-C into a key, not a signal); `s` sorts; `p` and
/// space pause.
pub fn action(key: KeyEvent) -> Action {
    if key.kind != KeyEventKind::Press {
        return Action::Ignore;
    }
    match key.code {
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Action::Quit,
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => Action::Quit,
        KeyCode::Char('s' | 'S') => Action::Sort,
        KeyCode::Char('p' | 'P' | ' ') => Action::Pause,
        _ => Action::Ignore,
    }
}

/// Run the live view until a quit key. Errors are the terminal's (not a TTY, closed).
pub fn run(mut model: Model, mut scraper: Scraper, interval: Duration) -> io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let result = live(&mut terminal, &mut model, &mut scraper, interval);
    ratatui::restore();
    result
}

fn live(
    terminal: &mut ratatui::DefaultTerminal,
    model: &mut Model,
    scraper: &mut Scraper,
    interval: Duration,
) -> io::Result<()> {
    let mut sort = SortKey::default();
    let mut status = Status {
        paused: false,
        keys: true,
    };
    let mut frame: Option<Frame> = None;
    let mut due = Instant::now();
    loop {
        if !status.paused && Instant::now() >= due {
            frame = Some(model.update(&scraper.scrape(), sort));
            due = Instant::now() + interval;
        }
        if let Some(f) = &frame {
            terminal.draw(|t| view::render(f, status, t.area(), t.buffer_mut()))?;
        }
        // Wait for a key until the next refresh; a paused view waits for keys only.
        let wait = if status.paused {
            interval
        } else {
            due.saturating_duration_since(Instant::now())
        };
        if !event::poll(wait)? {
            continue;
        }
        let Event::Key(key) = event::read()? else {
            continue; // a resize: the next draw fits the new size
        };
        match action(key) {
            Action::Quit => return Ok(()),
            Action::Sort => {
                sort = sort.next();
                if let Some(f) = &mut frame {
                    sort_rows(&mut f.rows, sort);
                    f.sort = sort;
                }
            }
            Action::Pause => status.paused = !status.paused,
            Action::Ignore => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn keys() {
        let none = KeyModifiers::NONE;
        assert_eq!(action(key(KeyCode::Char('q'), none)), Action::Quit);
        assert_eq!(action(key(KeyCode::Esc, none)), Action::Quit);
        assert_eq!(
            action(key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Action::Quit
        );
        assert_eq!(action(key(KeyCode::Char('c'), none)), Action::Ignore);
        assert_eq!(action(key(KeyCode::Char('s'), none)), Action::Sort);
        assert_eq!(action(key(KeyCode::Char('p'), none)), Action::Pause);
        assert_eq!(action(key(KeyCode::Char(' '), none)), Action::Pause);
        let mut release = key(KeyCode::Char('q'), none);
        release.kind = KeyEventKind::Release;
        assert_eq!(action(release), Action::Ignore);
    }
}
