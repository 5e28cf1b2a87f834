//! `cache-client top`: a live view of the whole cluster, refreshed every second.
//!
//! ```text
//!  scrape (a thread per node: /admin/metrics + /admin/cluster) ─► model (rates, totals, sort)
//!        ─► view (ratatui) ─► term: full screen with keys, when stdout is a terminal
//!                          └► a plain line per refresh otherwise; `--once`: one frame as text
//! ```
//!
//! [`metrics`], [`model`] and [`view`] are pure and unit-tested (the view with ratatui's
//! `TestBackend`); [`scrape`] and [`term`] do the I/O.

pub mod metrics;
pub mod model;
pub mod scrape;
pub mod term;
pub mod view;

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use clap::Args;

use self::model::{Frame, Model, SortKey, State};
use self::scrape::Scraper;
use crate::cli::parse_duration;
use crate::commands::Ctx;
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// Shortest refresh interval: faster scrapes load every node for numbers too noisy to read.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Args, Debug)]
pub struct TopArgs {
    /// Print one frame as text and exit: two scrapes one interval apart, so rates are real.
    /// Exit 0 when every node answered, 1 when some did not, 2 when none did.
    #[arg(long)]
    pub once: bool,
    /// Time between refreshes (min 100ms).
    #[arg(long, default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < MIN_INTERVAL {
        return Err(format!("interval {s} is below the minimum of 100ms"));
    }
    Ok(d)
}

/// Run `top`: full screen on a terminal, a line per refresh on a pipe, one frame with `--once`.
pub fn run(args: &TopArgs, ctx: &Ctx) -> u8 {
    let model = Model::new(ctx.nodes.clone());
    let scraper = Scraper::new(&ctx.nodes, ctx.timeout);
    let tty = std::io::stdout().is_terminal();
    if args.once {
        return once(model, scraper, args.interval, tty);
    }
    if !tty {
        return plain(model, scraper, args.interval);
    }
    match term::run(model, scraper, args.interval) {
        Ok(()) => EXIT_OK,
        Err(e) => ctx.out.usage(&format!("top: terminal error: {e}")),
    }
}

fn once(mut model: Model, mut scraper: Scraper, interval: Duration, tty: bool) -> u8 {
    model.update(&scraper.scrape(), SortKey::Name);
    std::thread::sleep(interval);
    let frame = model.update(&scraper.scrape(), SortKey::Name);
    // On a pipe, wide enough for every column; on a terminal, its width.
    let width = match tty {
        true => crossterm::terminal::size().map_or(view::TABLE_WIDTH, |(w, _)| w),
        false => view::TABLE_WIDTH,
    };
    print!("{}", view::to_text(&frame, width));
    exit_code(&frame)
}

/// A line per refresh until stdout closes (`top | head -5` ends it) or a signal stops it.
fn plain(mut model: Model, mut scraper: Scraper, interval: Duration) -> u8 {
    let start = Instant::now();
    let mut due = start;
    let mut out = std::io::stdout();
    loop {
        let frame = model.update(&scraper.scrape(), SortKey::Name);
        let line = view::plain_line(&frame, start.elapsed().as_secs());
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return exit_code(&frame);
        }
        // Refresh on a fixed schedule, so a slow scrape does not push every later line back.
        due += interval;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
}

fn exit_code(frame: &Frame) -> u8 {
    match frame.rows.iter().filter(|r| r.state == State::Down).count() {
        0 => EXIT_OK,
        n if n == frame.rows.len() => EXIT_USAGE,
        _ => EXIT_FAILED,
    }
}
