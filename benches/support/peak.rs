//! The fp32 multiply-add peak of one core, measured: the "share of peak" the benches print
//! is against this (or `PEAK_GFLOPS` when set), not a constant from another machine.

/// GFLOP/s of one thread running independent register-only FMA chains: 16 of 16-lane
/// AVX-512 vectors where the CPU has AVX-512F, else 12 of 8-lane AVX2 + FMA (x86-64), else
/// 16 scalar `mul_add` chains (a lower bound on other targets). Best of 5 runs of ~0.1 s.
pub fn measured_peak_gflops() -> f64 {
    let run = |iters: u64| {
        let start = std::time::Instant::now();
        let flops = fma_chains(iters);
        flops / start.elapsed().as_secs_f64() / 1e9
    };
    // Calibrate: iters taking over 0.02 s, then runs 5 times as long.
    let mut iters = 1u64 << 16;
    loop {
        let start = std::time::Instant::now();
        fma_chains(iters);
        if start.elapsed().as_secs_f64() > 0.02 {
            break;
        }
        iters *= 2;
    }
    (0..5).map(|_| run(iters * 5)).fold(0.0, f64::max)
}

/// Runs `iters` rounds of independent FMAs in registers; returns the floating-point
/// operations done. Written in assembly: the compiler kept an array of accumulators partly
/// in memory (73 % of the rate below).
fn fma_chains(iters: u64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            unsafe { chains_avx512(iters) };
            return iters as f64 * 16.0 * 16.0 * 2.0;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            unsafe { chains_avx2(iters) };
            return iters as f64 * 12.0 * 8.0 * 2.0;
        }
    }
    let mut acc = [1.0f32; 16];
    let (x, y) = (std::hint::black_box(0.999_999f32), std::hint::black_box(1e-7f32));
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = a.mul_add(x, y);
        }
        std::hint::black_box(&mut acc);
    }
    iters as f64 * 16.0 * 2.0
}

/// 16 chains of 16-lane FMAs (zmm0-15) on zeros (no subnormals), sources zmm16-17.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn chains_avx512(iters: u64) {
    // SAFETY: registers only; every register written is declared clobbered.
    unsafe {
        std::arch::asm!(
            "vpxord zmm16, zmm16, zmm16",
            "vpxord zmm17, zmm17, zmm17",
            "vpxord zmm0, zmm0, zmm0", "vpxord zmm1, zmm1, zmm1", "vpxord zmm2, zmm2, zmm2",
            "vpxord zmm3, zmm3, zmm3", "vpxord zmm4, zmm4, zmm4", "vpxord zmm5, zmm5, zmm5",
            "vpxord zmm6, zmm6, zmm6", "vpxord zmm7, zmm7, zmm7", "vpxord zmm8, zmm8, zmm8",
            "vpxord zmm9, zmm9, zmm9", "vpxord zmm10, zmm10, zmm10", "vpxord zmm11, zmm11, zmm11",
            "vpxord zmm12, zmm12, zmm12", "vpxord zmm13, zmm13, zmm13", "vpxord zmm14, zmm14, zmm14",
            "vpxord zmm15, zmm15, zmm15",
            "2:",
            "vfmadd231ps zmm0, zmm16, zmm17", "vfmadd231ps zmm1, zmm16, zmm17",
            "vfmadd231ps zmm2, zmm16, zmm17", "vfmadd231ps zmm3, zmm16, zmm17",
            "vfmadd231ps zmm4, zmm16, zmm17", "vfmadd231ps zmm5, zmm16, zmm17",
            "vfmadd231ps zmm6, zmm16, zmm17", "vfmadd231ps zmm7, zmm16, zmm17",
            "vfmadd231ps zmm8, zmm16, zmm17", "vfmadd231ps zmm9, zmm16, zmm17",
            "vfmadd231ps zmm10, zmm16, zmm17", "vfmadd231ps zmm11, zmm16, zmm17",
            "vfmadd231ps zmm12, zmm16, zmm17", "vfmadd231ps zmm13, zmm16, zmm17",
            "vfmadd231ps zmm14, zmm16, zmm17", "vfmadd231ps zmm15, zmm16, zmm17",
            "dec {n}",
            "jnz 2b",
            n = inout(reg) iters.max(1) => _,
            out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
            out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _,
            out("zmm8") _, out("zmm9") _, out("zmm10") _, out("zmm11") _,
            out("zmm12") _, out("zmm13") _, out("zmm14") _, out("zmm15") _,
            out("zmm16") _, out("zmm17") _,
            options(nomem, nostack),
        );
    }
}

/// 12 chains of 8-lane FMAs (ymm0-11) on zeros, sources ymm14-15.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chains_avx2(iters: u64) {
    // SAFETY: registers only; every register written is declared clobbered.
    unsafe {
        std::arch::asm!(
            "vxorps ymm14, ymm14, ymm14",
            "vxorps ymm15, ymm15, ymm15",
            "vxorps ymm0, ymm0, ymm0", "vxorps ymm1, ymm1, ymm1", "vxorps ymm2, ymm2, ymm2",
            "vxorps ymm3, ymm3, ymm3", "vxorps ymm4, ymm4, ymm4", "vxorps ymm5, ymm5, ymm5",
            "vxorps ymm6, ymm6, ymm6", "vxorps ymm7, ymm7, ymm7", "vxorps ymm8, ymm8, ymm8",
            "vxorps ymm9, ymm9, ymm9", "vxorps ymm10, ymm10, ymm10", "vxorps ymm11, ymm11, ymm11",
            "2:",
            "vfmadd231ps ymm0, ymm14, ymm15", "vfmadd231ps ymm1, ymm14, ymm15",
            "vfmadd231ps ymm2, ymm14, ymm15", "vfmadd231ps ymm3, ymm14, ymm15",
            "vfmadd231ps ymm4, ymm14, ymm15", "vfmadd231ps ymm5, ymm14, ymm15",
            "vfmadd231ps ymm6, ymm14, ymm15", "vfmadd231ps ymm7, ymm14, ymm15",
            "vfmadd231ps ymm8, ymm14, ymm15", "vfmadd231ps ymm9, ymm14, ymm15",
            "vfmadd231ps ymm10, ymm14, ymm15", "vfmadd231ps ymm11, ymm14, ymm15",
            "dec {n}",
            "jnz 2b",
            n = inout(reg) iters.max(1) => _,
            out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
            out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
            out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
            out("ymm14") _, out("ymm15") _,
            options(nomem, nostack),
        );
    }
}

/// `PEAK_GFLOPS` if set, else [`measured_peak_gflops`] (printed, so a reader sees which).
pub fn peak_gflops() -> f64 {
    if let Some(p) = std::env::var("PEAK_GFLOPS").ok().and_then(|v| v.parse().ok()) {
        println!("peak: {p:.1} GFLOP/s per core (PEAK_GFLOPS)");
        return p;
    }
    let p = measured_peak_gflops();
    println!("peak: {p:.1} GFLOP/s per core, measured (register-only FMA chains; PEAK_GFLOPS overrides)");
    p
}
