//! Inputs found by fuzzing the parsers (fuzz/, scripts/fuzz.sh) and by the fuzz harness's
//! memory bound, kept as regression tests: each must give an error message, never a panic,
//! a hang or an allocation over the bound.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

use qnet_exp::data::idx;

/// The system allocator, recording the largest single allocation (or reallocation) made
/// since the last [`largest_since`] reset.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Largest = Largest;

/// The tests of this file run one at a time (see [`serial`]).
static MEASURE: Mutex<()> = Mutex::new(());

/// Holds off the other tests of this file (each takes it), so that a measured allocation
/// is the measured test's own.
fn serial() -> MutexGuard<'static, ()> {
    MEASURE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` and returns its result with the largest single allocation made meanwhile.
fn largest_since<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.store(0, Relaxed);
    let out = f();
    (out, LARGEST.load(Relaxed))
}

/// A gzip stream of `head` followed by `zeros` zero bytes (written in 1 MiB pieces).
fn gz_zeros(head: &[u8], zeros: u64) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(head).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        e.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    e.finish().unwrap()
}

fn images_header(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    [idx::IMAGES_MAGIC, n, rows, cols].iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A gzip stream longer than its IDX header says is read only up to the declared size
/// plus one byte, and the buffer grows only to that: reading to the end alone doubled it,
/// so a stream just over 1 GiB (the cap) asked for a 2 GiB buffer.
#[test]
fn gzip_past_the_declared_size_allocates_no_more_than_it_keeps() {
    let _one = serial();
    let d = tempfile::tempdir().unwrap();
    // 16-byte header + 2^20 - 16 pixels = 2^20 bytes declared; the stream has 1000 more.
    let declared = 1u64 << 20;
    let z = gz_zeros(&images_header(1, 16, 65535), declared - 16 + 1000);
    let p = write(d.path(), "long.gz", &z);
    let (r, largest) = largest_since(|| idx::read_images(&p, None));
    let e = r.unwrap_err();
    assert!(e.contains("bytes longer than its header says"), "{e}");
    assert!(largest <= declared as usize + 1 + (64 << 10), "largest allocation {largest} for {declared} bytes");
    // A stream exactly as long as declared is read whole, in a buffer of its size.
    let z = gz_zeros(&images_header(1, 16, 65535), declared - 16);
    let p = write(d.path(), "exact.gz", &z);
    let (r, largest) = largest_since(|| idx::read_images(&p, None));
    assert_eq!(r.unwrap().pixels.len(), declared as usize - 16);
    assert!(largest <= declared as usize + 1 + (64 << 10), "largest allocation {largest} for {declared} bytes");
}

/// The 1 GiB cap itself: a 4.6 MB gzip file that declares more than 1 GiB is refused
/// without a buffer over 1 GiB + 1 byte. Decompressing 1 GiB takes a few seconds in a
/// release build: only `cargo test --release` runs it.
#[test]
#[cfg_attr(debug_assertions, ignore = "decompresses 1 GiB: run with --release")]
fn gzip_bomb_over_one_gib_is_refused_within_the_cap() {
    let _one = serial();
    let d = tempfile::tempdir().unwrap();
    let cap = idx::MAX_GUNZIPPED as usize;
    let (name, head) = ("declared.gz", images_header(1, 32768, 32768));
    let z = gz_zeros(&head, (cap - head.len() + 1) as u64);
    let p = write(d.path(), name, &z);
    let (r, largest) = largest_since(|| idx::read_images(&p, None));
    let e = r.unwrap_err();
    assert!(e.contains("decompresses to more than 1024 MiB"), "{name}: {e}");
    assert!(largest <= cap + 1, "{name}: largest allocation {largest} bytes");
}

/// Gzip content without an IDX header (a CIFAR-10 batch) that decompresses to more than
/// 1 GiB is refused as such; it was cut at 1 GiB and then reported as a truncated CIFAR-10
/// file (or, for IDX, as a bad magic number). Release builds only, as above.
#[test]
#[cfg_attr(debug_assertions, ignore = "decompresses 1 GiB: run with --release")]
fn headerless_gzip_over_one_gib_is_refused_as_too_big() {
    let _one = serial();
    let d = tempfile::tempdir().unwrap();
    let cap = idx::MAX_GUNZIPPED as usize;
    let z = gz_zeros(&[], cap as u64 + 1);
    let p = write(d.path(), "data_batch_1.bin", &z);
    let (r, largest) = largest_since(|| qnet_exp::data::cifar::read_batch(&p, None));
    let e = r.unwrap_err();
    assert!(e.contains("decompresses to more than 1024 MiB"), "{e}");
    assert!(largest <= cap + 1, "largest allocation {largest} bytes");
    let e = idx::read_labels(&p, None).unwrap_err();
    assert!(e.contains("decompresses to more than 1024 MiB"), "{e}");
}

/// A long sweep list is checked for repeated values in linear time: each value was
/// compared with every earlier one (both printed anew), so a list of 10,000 values (a
/// 60 KB config) took 34 s and one of 30,000 values 6 minutes in a release build.
#[test]
fn a_long_axis_list_is_checked_for_repeats_in_linear_time() {
    let _one = serial();
    let n = 20_000;
    let config = |values: &[String]| {
        format!(
            "name = \"long\"\n[problem]\nsamples = 10000000\n[quant]\nmethod = \"fp\"\n[optim]\nlr = 0.1\nbatch = [{}]\n",
            values.join(", ")
        )
    };
    let mut values: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    let t = std::time::Instant::now();
    let def = qnet_exp::config::parse(&config(&values), "long.toml", &[]).unwrap();
    assert!(def.errors.is_empty(), "{:?}", def.errors);
    assert_eq!(def.given.iter().find(|(k, _)| k.path == "optim.batch").unwrap().1.len(), n);
    values.push("7".into());
    let def = qnet_exp::config::parse(&config(&values), "long.toml", &[]).unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(def.errors, vec![format!("long.toml: optim.batch[{n}] = 7: appears twice in the list")]);
    assert!(secs < 10.0, "checking {n} values twice took {secs:.1} s");
}

/// `--set` with a path of many parts (`a.a.a...=1`, 45,000 parts in a 90 KB argument,
/// under Linux's 128 KB per argument) built one nested table per part, whose recursive
/// drop overflowed the stack: a crash, not an error. A path of more than two parts names
/// no key and is now refused as such.
#[test]
fn a_set_path_of_many_parts_is_an_error_not_a_stack_overflow() {
    let _one = serial();
    let base = "name = \"b\"\n[quant]\nmethod = \"fp\"\n[optim]\nlr = 0.1\n";
    let deep = format!("{}=1", vec!["a"; 100_000].join("."));
    let errors = qnet_exp::config::parse_sweep(base, "b.toml", &[deep]).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("--set a.a.a") && errors[0].contains("not a key"), "{errors:?}");
    for set in ["problem.dim.x=1", "quant.method.sr=1"] {
        let errors = qnet_exp::config::parse_sweep(base, "b.toml", &[set.to_string()]).unwrap_err();
        assert_eq!(
            errors,
            vec![format!("--set {set}: {}: not a key (keys are `name` or `section.key`)", &set[..set.len() - 2])]
        );
    }
    // Two parts still go through.
    assert!(qnet_exp::config::parse_sweep(base, "b.toml", &["problem.dim=3".to_string()]).is_ok());
}
