//! Drawing a [`Frame`] with ratatui: the full screen of the live view, the same picture as plain
//! text (`--once`), and the one-line summary printed each second when stdout is not a terminal.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row as TRow, Table, Widget};

use super::model::{Frame, Row, State};
use crate::output::bytes_text;

/// Column titles and widths (characters): wide enough for `123.4k`, `12.34ms`, `1023.9 MiB`, and
/// a `host:port` of an IPv4 address ([`TABLE_WIDTH`] in all); a narrower terminal squeezes the
/// columns, it never wraps.
const COLUMNS: [(&str, u16); 13] = [
    ("NODE", 10),
    ("ADDRESS", 21),
    ("STATE", 8),
    ("REQ/S", 8),
    ("HIT%", 6),
    ("P50", 8),
    ("P99", 8),
    ("ENTRIES", 9),
    ("MEMORY", 10),
    ("RING", 6),
    ("FWD/S", 7),
    ("FWDERR/S", 8),
    ("ERR/S", 7),
];

/// Blank columns between two table columns.
const COLUMN_GAP: u16 = 1;

/// Columns the whole table needs: the `--once` text width, and the terminal width that shows
/// every column.
pub const TABLE_WIDTH: u16 = {
    let mut w = 0;
    let mut i = 0;
    while i < COLUMNS.len() {
        w += COLUMNS[i].1 + COLUMN_GAP;
        i += 1;
    }
    w - COLUMN_GAP
};

/// Lines around the table: title, blank, table header, totals, blank, key help.
const CHROME_LINES: u16 = 6;

/// What the screen says besides the numbers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Status {
    pub paused: bool,
    /// Show the key help line (not in `--once` output, where there are no keys).
    pub keys: bool,
}

/// Lines needed to show `frame` whole: the chrome, one per node, one per down node's reason.
pub fn height(frame: &Frame) -> u16 {
    let errors = frame.rows.iter().filter(|r| r.error.is_some()).count();
    CHROME_LINES + (frame.rows.len() + errors) as u16
}

/// Draw `frame` into `buf` over `area` (the terminal's whole screen, or a text buffer).
pub fn render(frame: &Frame, status: Status, area: Rect, buf: &mut Buffer) {
    let errors: Vec<Line> = frame
        .rows
        .iter()
        .filter_map(|r| Some(Line::from(format!("{}: {}", r.name, r.error.as_ref()?)).red()))
        .collect();
    let [title, _, table, errs, _, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(frame.rows.len() as u16 + 2),
        Constraint::Length(errors.len() as u16),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    Paragraph::new(title_line(frame, status)).render(title, buf);
    table_widget(frame).render(table, buf);
    Paragraph::new(errors).render(errs, buf);
    if status.keys {
        Paragraph::new("s: sort column   p/space: pause   q/Ctrl-C: quit".dim()).render(help, buf);
    }
}

/// Status first (nodes up, sort, pause), then the legend: a narrow terminal clips the legend.
fn title_line(frame: &Frame, status: Status) -> Line<'static> {
    let mut spans = vec![
        "cache-client top".bold(),
        format!(
            "  {}/{} nodes up   sorted by {}",
            frame.nodes_up,
            frame.rows.len(),
            frame.sort.as_str()
        )
        .into(),
    ];
    if status.paused {
        spans.push("   ".into());
        spans.push("PAUSED".reversed());
    }
    spans.push("   rates since the last refresh, p50/p99 since each node started".dim());
    Line::from(spans)
}

fn table_widget(frame: &Frame) -> Table<'static> {
    let header = TRow::new(COLUMNS.iter().map(|(t, _)| *t))
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED));
    // NO_COLOR: state colours only; bold and reverse video are not colour (no-color.org).
    let colour = crate::output::colour_allowed();
    let mut rows: Vec<TRow> = frame
        .rows
        .iter()
        .map(|r| {
            let style = match r.state {
                _ if !colour => Style::new(),
                State::Up => Style::new(),
                State::Draining | State::Suspect => Style::new().yellow(),
                State::Down | State::Degraded => Style::new().red(),
            };
            TRow::new(cells(r)).style(style)
        })
        .collect();
    rows.push(TRow::new(cells(&frame.total)).bold());
    let widths = COLUMNS.iter().map(|(_, w)| Constraint::Length(*w));
    Table::new(rows, widths)
        .header(header)
        .column_spacing(COLUMN_GAP)
}

/// The text of each column of `r`, in [`COLUMNS`] order.
fn cells(r: &Row) -> [String; 13] {
    [
        r.name.clone(),
        r.addr.clone(),
        r.state.as_str().to_string(),
        rate(r.req_s),
        pct(r.hit_ratio()),
        latency(r.p50),
        latency(r.p99),
        r.entries.map_or(DASH.into(), |e| format!("{e:.0}")),
        r.bytes.map_or(DASH.into(), |b| bytes_text(b as u64)),
        pct(r.ring),
        rate(r.fwd_s),
        rate(r.fwd_fail_s),
        rate(r.err_s),
    ]
}

/// Shown where there is no number (first frame, a down node, no lookups).
const DASH: &str = "-";

/// `0.5`, `1234`, `123.4k`, `12.3M`: one decimal below 10/s so a trickle is not shown as 0.
pub fn rate(v: Option<f64>) -> String {
    match v {
        None => DASH.into(),
        Some(v) if v < 10.0 => format!("{v:.1}"),
        Some(v) if v < 100_000.0 => format!("{v:.0}"),
        Some(v) if v < 100_000_000.0 => format!("{:.1}k", v / 1e3),
        Some(v) => format!("{:.1}M", v / 1e6),
    }
}

pub fn pct(v: Option<f64>) -> String {
    v.map_or(DASH.into(), |v| format!("{:.1}%", v * 100.0))
}

/// Seconds as `73µs`, `1.25ms`, `3.01s`.
pub fn latency(v: Option<f64>) -> String {
    match v {
        None => DASH.into(),
        Some(s) if s < 1e-3 => format!("{:.0}µs", s * 1e6),
        Some(s) if s < 1.0 => format!("{:.2}ms", s * 1e3),
        Some(s) => format!("{s:.2}s"),
    }
}

/// The frame as plain text, `width` columns wide, trailing spaces trimmed (for `--once`).
pub fn to_text(frame: &Frame, width: u16) -> String {
    let area = Rect::new(0, 0, width, height(frame));
    let mut buf = Buffer::empty(area);
    render(frame, Status::default(), area, &mut buf);
    buffer_text(&buf)
}

/// The symbols of `buf`, one line per row, trailing spaces and blank last lines trimmed.
pub fn buffer_text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let len = out.trim_end().len();
    out.truncate(len);
    out.push('\n');
    out
}

/// One line per refresh for logs and pipes: the totals, then each node's state and request rate.
pub fn plain_line(frame: &Frame, elapsed_secs: u64) -> String {
    let t = &frame.total;
    let mut s =
        format!(
        "t={elapsed_secs}s up={}/{} req/s={} hit={} p99={} entries={} memory={} fwd/s={} err/s={}",
        frame.nodes_up,
        frame.rows.len(),
        rate(t.req_s),
        pct(t.hit_ratio()),
        latency(t.p99),
        t.entries.map_or(DASH.into(), |e| format!("{e:.0}")),
        t.bytes.map_or(DASH.into(), |b| bytes_text(b as u64)).replace(' ', ""),
        rate(t.fwd_s),
        rate(t.err_s),
    );
    for r in &frame.rows {
        s.push_str(&format!(
            " | {} {} {}",
            r.name,
            r.state.as_str(),
            rate(r.req_s)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use super::*;
    use crate::nodes::NodeAddr;
    use crate::top::metrics::Counters;
    use crate::top::model::{Model, NodeData, Scrape, SortKey};

    /// Two nodes up with traffic between two scrapes one second apart, the third refused.
    fn sample_frame() -> Frame {
        let nodes: Vec<NodeAddr> = (1..=3)
            .map(|i| NodeAddr {
                name: format!("node{i}"),
                addr: format!("127.0.0.1:800{i}"),
            })
            .collect();
        let data = |req: f64, hits: f64| NodeData {
            id: None,
            counters: Counters {
                requests: req,
                hits,
                misses: hits / 3.0,
                entries: 1500.0,
                bytes: 3.0 * 1024.0 * 1024.0,
                p50: Some(0.000073),
                p99: Some(0.00125),
                ..Counters::default()
            },
            ring_share: Some(0.5),
            sees_down: vec!["node3".into()],
        };
        let t0 = Instant::now();
        let scrape = |at, req, hits| {
            let mut v: Vec<Scrape> = [data(req, hits), data(req * 2.0, hits)]
                .into_iter()
                .map(|d| Scrape { at, result: Ok(d) })
                .collect();
            v.push(Scrape {
                at,
                result: Err("connection refused (127.0.0.1:8003)".into()),
            });
            v
        };
        let mut m = Model::new(nodes);
        m.update(&scrape(t0, 1000.0, 300.0), SortKey::Name);
        m.update(
            &scrape(t0 + Duration::from_secs(1), 2234.0, 600.0),
            SortKey::Requests,
        )
    }

    #[test]
    fn the_screen_shows_every_node_the_totals_and_the_keys() {
        let frame = sample_frame();
        let mut term = Terminal::new(TestBackend::new(120, 20)).unwrap();
        let status = Status {
            paused: true,
            keys: true,
        };
        term.draw(|f| render(&frame, status, f.area(), f.buffer_mut()))
            .unwrap();
        let text = buffer_text(term.backend().buffer());
        for want in [
            "NODE",
            "REQ/S",
            "HIT%",
            "P99",
            "RING",
            "node1",
            "node2",
            "node3",
            "cluster",
            "2/3 nodes up",
            "sorted by req/s",
            "PAUSED",
            "q/Ctrl-C: quit",
            "down",
            "node3: connection refused (127.0.0.1:8003)",
            "2468",
            "1234",
            "3702",
            "75.0%",
            "73µs",
            "1.25ms",
            "3.0 MiB",
            "6.0 MiB",
            "50.0%",
            "100.0%",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
        let order: Vec<usize> = ["node2", "node1", "node3"]
            .iter()
            .map(|n| text.find(&format!("{n} ")).unwrap())
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "sorted by req/s\n{text}"
        );
    }

    #[test]
    fn a_small_terminal_clips_instead_of_panicking() {
        let frame = sample_frame();
        let mut term = Terminal::new(TestBackend::new(20, 3)).unwrap();
        term.draw(|f| render(&frame, Status::default(), f.area(), f.buffer_mut()))
            .unwrap();
    }

    #[test]
    fn once_text_and_plain_line() {
        let frame = sample_frame();
        let text = to_text(&frame, TABLE_WIDTH);
        assert_eq!(TABLE_WIDTH, 128);
        // Everything but the key help and the blank line before it.
        assert_eq!(text.lines().count(), usize::from(height(&frame)) - 2);
        assert!(text.contains("127.0.0.1:8001 "), "addresses whole:\n{text}");
        assert!(text.contains("node1") && !text.contains("quit"), "{text}");
        let line = plain_line(&frame, 7);
        assert!(
            line.starts_with("t=7s up=2/3 req/s=3702 hit=75.0% p99=1.25ms"),
            "{line}"
        );
        assert!(line.ends_with("| node3 down -"), "{line}");
    }

    #[test]
    fn number_formats() {
        assert_eq!(rate(Some(0.5)), "0.5");
        assert_eq!(rate(Some(1234.4)), "1234");
        assert_eq!(rate(Some(123_456.0)), "123.5k");
        assert_eq!(rate(Some(123_456_789.0)), "123.5M");
        assert_eq!(latency(Some(3.014655)), "3.01s");
        assert_eq!(pct(None), "-");
    }
}
