//! Progress of `export` and `import` on a terminal: keys and bytes so far, the rate, and with a
//! known total (an import's file size) a bar and an ETA. Drawn on stderr with indicatif, and only
//! when stderr is a terminal and `--json` is off: scripts and logs get the one summary line, never
//! redraw sequences.

use std::io::{self, IsTerminal, Read, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::bench::report::group;

/// Redraws per second: smooth to the eye, and a few hundred bytes of escape codes per second.
const REDRAW_HZ: u8 = 10;
/// How often the keys message is rebuilt (it allocates): as often as the bar is redrawn.
const MESSAGE_EVERY: Duration = Duration::from_millis(1000 / REDRAW_HZ as u64);
/// The start of each entry line of an export document (`\n{"key":`): counting these counts the
/// keys. A value cannot contain it (a newline inside JSON text is always escaped), so the count
/// is exact for documents written by a node and close for hand-made ones.
const ENTRY_START: &[u8] = b"\n{\"key\":";

/// Whether to draw: on a terminal, and not when the output is for a script.
pub(super) fn wanted(json: bool, stderr_is_terminal: bool) -> bool {
    !json && stderr_is_terminal
}

/// Whether to draw for this process (its real stderr).
pub(super) fn wanted_here(json: bool) -> bool {
    wanted(json, io::stderr().is_terminal())
}

/// Counts entry starts in a stream cut into arbitrary chunks.
#[derive(Default)]
struct EntryCounter {
    /// The last bytes of the stream so far, shorter than [`ENTRY_START`]: a match may straddle.
    carry: Vec<u8>,
}

impl EntryCounter {
    fn count(&mut self, chunk: &[u8]) -> u64 {
        let keep = ENTRY_START.len() - 1;
        // Matches straddling the cut: carry and head are each too short to hold one alone.
        let mut joint = std::mem::take(&mut self.carry);
        let seam = joint.len();
        joint.extend_from_slice(&chunk[..chunk.len().min(keep)]);
        let n = occurrences(&joint) + occurrences(chunk);
        self.carry = if chunk.len() >= keep {
            chunk[chunk.len() - keep..].to_vec()
        } else {
            joint.drain(..(seam + chunk.len()).saturating_sub(keep));
            joint
        };
        n
    }
}

fn occurrences(b: &[u8]) -> u64 {
    (0..b.len())
        .filter(|&i| b[i] == b'\n' && b[i..].starts_with(ENTRY_START))
        .count() as u64
}

/// A progress display; with `wanted` false it does nothing at all (and costs nothing).
pub(super) struct Progress {
    bar: Option<ProgressBar>,
    keys: u64,
    counter: EntryCounter,
    message_at: Instant,
}

impl Progress {
    /// `verb` names the operation ("exporting"); `total` is the byte count when known.
    pub(super) fn new(wanted: bool, verb: &str, total: Option<u64>) -> Progress {
        let bar = wanted.then(|| {
            let target = ProgressDrawTarget::stderr_with_hz(REDRAW_HZ);
            let (bar, template) = match total {
                Some(t) => (
                    ProgressBar::with_draw_target(Some(t), target),
                    // wide_bar takes what the terminal has left: the line never wraps.
                    format!("{verb} {{bytes}}/{{total_bytes}}, {{msg}}, {{bytes_per_sec}}, ETA {{eta}} [{{wide_bar}}]"),
                ),
                None => (
                    ProgressBar::with_draw_target(None, target),
                    format!("{{spinner}} {verb} {{bytes}}, {{msg}}, {{bytes_per_sec}}, {{elapsed}}"),
                ),
            };
            // The templates are constant apart from the verb: a failure is a bug, shown plainly.
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message("0 keys");
            bar
        });
        Progress {
            bar,
            keys: 0,
            counter: EntryCounter::default(),
            message_at: Instant::now(),
        }
    }

    /// `chunk` of the document went by.
    pub(super) fn advance(&mut self, chunk: &[u8]) {
        let Some(bar) = &self.bar else {
            return;
        };
        self.keys += self.counter.count(chunk);
        bar.inc(chunk.len() as u64);
        if self.message_at.elapsed() >= MESSAGE_EVERY {
            self.message_at = Instant::now();
            let secs = bar.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "{} keys ({}/s)",
                group(self.keys),
                group((self.keys as f64 / secs) as u64)
            ));
        }
    }

    /// Erase the display: the command's summary line is what stays.
    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A reader or writer that reports what passes through it to a [`Progress`].
pub(super) struct Metered<T> {
    pub inner: T,
    pub progress: Progress,
}

impl<W: Write> Write for Metered<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.progress.advance(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &[u8] = b"{\"format\":\"distributed-cache-export\",\"version\":1,\"entries\":[\n\
{\"key\":\"a\",\"value\":\"x\\n{\\\"key\\\":\"},\n{\"key\":\"b\",\"value\":{\"key\":1}},\n\
{\"key\":\"c\",\"value\":3}\n],\"count\":3,\"nodes\":[\"n1\"],\"missing\":[]}";

    #[test]
    fn keys_are_counted_whatever_the_chunking() {
        for size in [1, 2, 3, 7, 8, 9, 13, 64, DOC.len()] {
            let mut c = EntryCounter::default();
            let n: u64 = DOC.chunks(size).map(|ch| c.count(ch)).sum();
            assert_eq!(n, 3, "chunks of {size}");
        }
    }

    #[test]
    fn silent_without_a_terminal_or_with_json() {
        assert!(!wanted(false, false), "stderr is not a terminal");
        assert!(!wanted(true, true), "--json");
        assert!(wanted(false, true));
        // Not drawn: bytes pass through unchanged and nothing is counted or drawn.
        let mut m = Metered {
            inner: Vec::new(),
            progress: Progress::new(false, "exporting", None),
        };
        m.write_all(DOC).unwrap();
        m.progress.finish();
        assert_eq!(m.inner, DOC);
        assert!(m.progress.bar.is_none());
        assert_eq!(m.progress.keys, 0);
    }

    #[test]
    fn a_drawn_progress_counts_reads() {
        // Drawn to a hidden target: the counting is what is tested, not the terminal.
        let mut m = Metered {
            inner: DOC,
            progress: Progress::new(true, "importing", Some(DOC.len() as u64)),
        };
        if let Some(bar) = &m.progress.bar {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        let mut out = Vec::new();
        let mut buf = [0u8; 5];
        loop {
            let n = m.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, DOC);
        assert_eq!(m.progress.keys, 3);
        assert_eq!(
            m.progress.bar.as_ref().map(|b| b.position()),
            Some(DOC.len() as u64)
        );
    }
}
