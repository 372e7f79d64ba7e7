//! Helpers shared by the fuzz targets: the run-count cap of the config targets, and
//! the temporary files the data readers are pointed at.

use std::io::Write;
use std::path::PathBuf;

use qnet_exp::config::{self, SweepDef, Val};

/// Inputs whose sweep would expand to more runs than this are skipped: the real limit
/// (`MAX_RUNS`, 100k) takes seconds per input, which would starve the fuzzer.
pub const MAX_FUZZ_RUNS: u64 = 2_000;

/// The number of runs `expand` would resolve for a validated file (seeds x every axis).
pub fn planned_runs(def: &SweepDef) -> u64 {
    let seeds = match (def.scalar("run.seed_index"), def.scalar("run.seeds")) {
        (Some(_), _) => 1,
        (None, Some(Val::Int(n))) => (*n).max(1) as u64,
        _ => 1,
    };
    def.given.iter().filter(|(k, _)| k.axis).fold(seeds, |acc, (_, v)| acc.saturating_mul(v.len() as u64))
}

/// `parse_sweep` (parse, then expand) with the run-count cap; on success, every run's own
/// config.toml is rendered and the first one is loaded back, which must give the same run.
pub fn check_sweep(text: &str, overrides: &[String]) {
    let def = match config::parse(text, "fuzz.toml", overrides) {
        Ok(def) => def,
        Err(errors) => {
            assert!(!errors.is_empty(), "an Err without a message");
            return;
        }
    };
    if planned_runs(&def) > MAX_FUZZ_RUNS {
        return;
    }
    match config::expand(def) {
        Ok(sweep) => {
            let tomls: Vec<String> = sweep.runs.iter().map(|r| r.to_toml()).collect();
            if let (Some(run), Some(own)) = (sweep.runs.first(), tomls.first()) {
                let again = config::parse_sweep(own, "run.toml", &[])
                    .unwrap_or_else(|e| panic!("a run's own config.toml does not load: {e:?}\n{own}"));
                assert_eq!(again.runs.len(), 1, "a run's own config.toml gives {} runs", again.runs.len());
                assert_eq!(again.runs[0].id, run.id, "a run's own config.toml gives another run:\n{own}");
            }
        }
        Err(errors) => assert!(!errors.is_empty(), "an Err without a message"),
    }
}

/// A folder of this process's own for the data targets' files (made once, reused).
pub fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qnet-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Writes `bytes` (gzip-compressed when `gzip`) to `dir/name`, removing any `name.gz`
/// left by an earlier input, and returns the path.
pub fn put(dir: &std::path::Path, name: &str, bytes: &[u8], gzip: bool) -> PathBuf {
    let path = dir.join(name);
    let body = if gzip { gz(bytes) } else { bytes.to_vec() };
    std::fs::write(&path, body).expect("write temp file");
    path
}

/// Removes `dir/name` and `dir/name.gz` (so a missing file stays missing).
pub fn clear(dir: &std::path::Path, name: &str) {
    let _ = std::fs::remove_file(dir.join(name));
    let _ = std::fs::remove_file(dir.join(format!("{name}.gz")));
}

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip in memory");
    e.finish().expect("gzip in memory")
}

/// Splits `data` at a position read from two bytes (mod its length + 1).
pub fn split_at(data: &[u8], pos: u16) -> (&[u8], &[u8]) {
    data.split_at(pos as usize % (data.len() + 1))
}

/// The audit's memory bound: no input may make the code under test hold more than this
/// at once. Checked on every allocation by [`Bounded`] (libFuzzer's own `-malloc_limit_mb`
/// needs a sanitizer's malloc hooks; this works in a plain build and counts the live total,
/// not only single allocations).
pub const MAX_LIVE_BYTES: usize = 1 << 30;

/// The system allocator, aborting (a crash libFuzzer records, with its input) as soon as
/// one allocation or the live total of the Rust heap goes over [`MAX_LIVE_BYTES`].
pub struct Bounded;

static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn over() -> ! {
    use std::io::Write;
    let _ =
        std::io::stderr().write_all(b"==qnet-fuzz== allocation over the 1 GiB limit (one request or the live total)\n");
    std::process::abort()
}

unsafe impl std::alloc::GlobalAlloc for Bounded {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        if LIVE.fetch_add(layout.size(), Relaxed) + layout.size() > MAX_LIVE_BYTES {
            over();
        }
        std::alloc::System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        std::alloc::System.dealloc(ptr, layout)
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        if LIVE.fetch_add(layout.size(), Relaxed) + layout.size() > MAX_LIVE_BYTES {
            over();
        }
        std::alloc::System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        if new_size > layout.size() {
            let grow = new_size - layout.size();
            if LIVE.fetch_add(grow, Relaxed) + grow > MAX_LIVE_BYTES {
                over();
            }
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Relaxed);
        }
        std::alloc::System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Bounded = Bounded;
