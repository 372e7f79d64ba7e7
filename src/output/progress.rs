//! Progress display: an indicatif bar on a terminal, plain lines otherwise, nothing
//! with -q. Always on stderr, so stdout stays the report.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    Auto,
    Bar,
    Plain,
    None,
}

pub struct Progress {
    bar: Option<ProgressBar>,
    plain: Option<Mutex<(Instant, u64)>>,
    total: u64,
    start: Instant,
}

impl Progress {
    pub fn new(mode: ProgressMode, total: u64) -> Self {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        };
        let bar = (mode == ProgressMode::Bar).then(|| {
            // indicatif hides its bar when stderr is not a terminal; asked for one
            // (`--progress bar` into a pager or a log), draw it anyway, at 2 Hz.
            let target = if std::io::stderr().is_terminal() {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::term_like_with_hz(Box::new(AnsiStderr), 2)
            };
            let b = ProgressBar::with_draw_target(Some(total), target);
            b.set_style(
                ProgressStyle::with_template("{bar:40.cyan/blue} {pos}/{len} runs  {elapsed_precise} eta {eta}  {msg}")
                    .expect("valid template"),
            );
            b
        });
        let plain = (mode == ProgressMode::Plain).then(|| Mutex::new((Instant::now(), 0)));
        Progress { bar, plain, total, start: Instant::now() }
    }

    /// One run finished.
    pub fn inc(&self, failed: bool) {
        if let Some(b) = &self.bar {
            b.inc(1);
            if failed {
                b.set_message("some runs failed");
            }
        }
        if let Some(p) = &self.plain {
            let mut g = p.lock().unwrap();
            g.1 += 1;
            // At most one line every 2 s, plus the last one.
            if g.1 == self.total || g.0.elapsed() >= Duration::from_secs(2) {
                g.0 = Instant::now();
                eprintln!("{}/{} runs done ({:.1}s)", g.1, self.total, self.start.elapsed().as_secs_f64());
            }
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Stderr as an 80-column ANSI terminal, for a bar that was asked for where stderr is not
/// a terminal.
#[derive(Debug)]
struct AnsiStderr;

impl AnsiStderr {
    fn put(&self, s: &str) -> std::io::Result<()> {
        use std::io::Write;
        std::io::stderr().lock().write_all(s.as_bytes())
    }
    fn csi(&self, n: usize, code: char) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.put(&format!("\x1b[{n}{code}"))
    }
}

impl TermLike for AnsiStderr {
    fn width(&self) -> u16 {
        80
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.csi(n, 'A')
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.csi(n, 'B')
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.csi(n, 'C')
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.csi(n, 'D')
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.put(&format!("{s}\n"))
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.put(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.put("\r\x1b[2K")
    }
    fn flush(&self) -> std::io::Result<()> {
        use std::io::Write;
        std::io::stderr().flush()
    }
}
