//! Everything written to disk: number formatting, atomic writes, the CSV files, the
//! floor table and the progress display.

pub mod csv;
pub mod fits;
pub mod progress;
pub mod select;
pub mod stats;
pub mod summary;
pub mod table;

use std::io::Write;
use std::path::Path;

/// A line on stdout. When the reader has gone (`qnet-exp ... | head -1`), the rest is
/// dropped quietly: the results are in files, and a closed pipe is not an error.
pub fn say(line: std::fmt::Arguments) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static GONE: AtomicBool = AtomicBool::new(false);
    if GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        GONE.store(true, Ordering::Relaxed);
    }
}

/// Shortest text that reads back to the same f64; scientific notation outside
/// [1e-4, 1e15) so tiny gaps stay short. Deterministic, so reruns are byte-identical.
pub fn fmt_f64(x: f64) -> String {
    let a = x.abs();
    if x == 0.0 || !x.is_finite() || (1e-4..1e15).contains(&a) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

pub fn fmt_opt(x: Option<f64>) -> String {
    x.map(fmt_f64).unwrap_or_default()
}

/// Write a file so that readers see either the old or the new content, never a part:
/// write a temporary sibling, flush it, rename it over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    // Unique across processes and hosts sharing the folder.
    let tmp = path.with_file_name(format!(".{name}.tmp-{}-{:08x}", std::process::id(), rand::random::<u32>()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_short_and_read_back() {
        for x in [0.0, 1.0, 0.1, 1e-12, 123456.789, -3.5e-7, 2e20, f64::NAN, f64::INFINITY] {
            let s = fmt_f64(x);
            let back: f64 = s.parse().unwrap();
            assert!(back == x || (x.is_nan() && back.is_nan()), "{x} -> {s}");
        }
        assert_eq!(fmt_f64(1e-12), "1e-12");
        assert_eq!(fmt_f64(0.25), "0.25");
    }

    #[test]
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
