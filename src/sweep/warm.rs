//! Keeping a rayon pool's workers awake through a run made of many small fork-joins.
//!
//! A network run alone in the pool splits every GEMM and parameter pass over the pool:
//! dozens of fork-joins per step, with short serial stretches between them. Rayon puts an
//! idle worker to sleep after a few dozen rounds of `yield`, so nearly every fork has to
//! wake a sleeping thread; in a VM each wake-up goes through the hypervisor. Measured on
//! this project's 2-vCPU KVM machine (BC-ADAM, 784-1024-1024-10, batch 100, 20k images,
//! 2 threads, four back-to-back pairs): 2,500-2,900 context switches per 200 steps and
//! 10.9-13.0k samples/s; with the other worker spinning, 400-800 switches and
//! 12.9-14.0k samples/s. PyTorch's OpenMP threads spin-wait the same way by default.
//!
//! The cost is a core that stays busy while the run does serial work, so this is only for a
//! run that has the pool to itself.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Run `f` on the current rayon pool while every other worker of the pool spins, running
/// the pool's jobs as they appear instead of sleeping between them. Outside a pool, or in a
/// pool of one thread, just runs `f`. Other work in the pool is not starved (a spinning
/// worker runs any job it finds), but `f` waits until every other worker has joined.
pub fn with_spinning_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let others = rayon::current_num_threads().saturating_sub(1);
    if others == 0 || rayon::current_thread_index().is_none() {
        return f();
    }
    let done = AtomicBool::new(false);
    let joined = AtomicUsize::new(0);
    rayon::scope(|s| {
        // Stop the spinners however this closure ends: if `f` panicked and left them
        // spinning, the scope would wait for them for ever instead of passing the panic on.
        let _stop = Stop(&done);
        for _ in 0..others {
            s.spawn(|_| {
                joined.fetch_add(1, Ordering::AcqRel);
                while !done.load(Ordering::Acquire) {
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        std::hint::spin_loop();
                    }
                }
            });
        }
        // Every spinner must be on another worker before `f` starts: this thread could
        // otherwise pick one up itself while it waits in a join, and spin for ever.
        while joined.load(Ordering::Acquire) < others {
            std::hint::spin_loop();
        }
        f()
    })
}

/// Sets the flag when dropped, on return or unwind.
struct Stop<'a>(&'a AtomicBool);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Forks inside `f` run, on the other workers too (each of which is busy with a spinner
    /// task, so it must run them from inside the spinner), the result comes back, and the
    /// spinners stop (the scope would never return otherwise).
    #[test]
    fn forks_run_on_the_spinning_workers_and_the_spinners_stop() {
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let (sum, stolen) = pool.install(|| {
                with_spinning_pool(|| {
                    let sum: u64 = (0..1000u64).map(|i| rayon::join(|| i, || 2 * i)).map(|(a, b)| a + b).sum();
                    if threads == 1 {
                        return (sum, false);
                    }
                    // The first half waits (up to a generous timeout) for the second half to
                    // start on another worker.
                    let me = rayon::current_thread_index();
                    let started = AtomicBool::new(false);
                    let (waited, other) = rayon::join(
                        || {
                            let t = Instant::now();
                            while !started.load(Ordering::Acquire) && t.elapsed() < Duration::from_secs(20) {
                                std::hint::spin_loop();
                            }
                            started.load(Ordering::Acquire)
                        },
                        || {
                            started.store(true, Ordering::Release);
                            rayon::current_thread_index()
                        },
                    );
                    (sum, waited && other != me)
                })
            });
            assert_eq!(sum, 3 * 999 * 1000 / 2, "{threads} threads");
            assert_eq!(stolen, threads > 1, "{threads} threads");
        }
        // Outside any pool it simply runs.
        assert_eq!(with_spinning_pool(|| 7), 7);
    }

    /// A panic inside `f` reaches the caller (the spinners stop) instead of hanging it.
    #[test]
    fn a_panic_inside_stops_the_spinners_and_propagates() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pool.install(|| with_spinning_pool(|| -> u8 { panic!("inside the run") }))
            }));
            let _ = tx.send(r.is_err());
        });
        let got = rx.recv_timeout(Duration::from_secs(60));
        assert_eq!(got, Ok(true), "the panic did not come back within 60 s (spinners left running?)");
    }
}
