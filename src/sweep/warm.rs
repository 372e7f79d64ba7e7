//! Keeping a rayon pool's workers awake through a run made of many small fork-joins.
//!
//! A network run alone in the pool splits every GEMM and parameter pass over the pool:
//! dozens of fork-joins per step, with short serial stretches between them. Rayon puts an
//! idle worker to sleep after a few dozen rounds of `yield`, so nearly every fork has to
//! wake a sleeping thread; in a VM each wake-up goes through the hypervisor. Measured on
//! this project's 2-vCPU KVM machine (BC-ADAM, 784-1024-1024-10, batch 100, 20k images,
//! 2 threads): ~3,000 context switches per 200 steps and 10.0-11.7k samples/s; with the
//! other worker spinning, ~120 switches and 11.1-13.1k samples/s, +10-12 % in each of four
//! back-to-back pairs. PyTorch's OpenMP threads spin-wait the same way by default.
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
        let out = f();
        done.store(true, Ordering::Release);
        out
    })
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
}
