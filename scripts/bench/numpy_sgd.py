#!/usr/bin/env python3
"""Independent NumPy reference of qnet-exp's training loop (src/train.rs) on least squares.

Same problem, same per-step and per-log work as the Rust loop, written the way a careful
NumPy user would: preallocated buffers, ufuncs with out=, random numbers drawn in one
block per logging interval (rng.integers for batch indices, rng.random for SR noise).
The random streams differ from the Rust ones (different generators), so single runs
agree in distribution, not bit for bit.

Per step (as in train.rs + method.rs):
  batch of B indices with replacement
  g = (1/B) X_B^T (X_B w - y_B) + lambda w         (gradient at the deployed weights)
  grad_sq += |g|^2                                  (train.rs keeps it for grad_norm)
  s = lr g; subcell += #{|s_i| < delta/2}           (quantized methods)
  fp: w <- w - s
  r:  w <- Q_d(w - s)      (nearest, ties away from zero)
  sr: w <- Q_s(w - s)      (stochastic rounding on k*delta)
  bc: w_r <- w_r - s, w <- Q_d(w_r)
  changed = #{w_new != w_old} (for last_change)
  running averages of w (and of w_r for bc)
Per log (every log_every steps and at the end): the gap 0.5 e^T H e of w, w_r, avg(w),
avg(w_r) with H = X^T X / m + lambda I, e = w - w*, the distance |w - w*|, the changed
fraction since the last log, subcell fraction and grad norm.

Prints one JSON object (timings, final and tail gaps) on stdout; --out writes metrics.csv
with the same columns as qnet-exp.
"""

import os

# Single-threaded BLAS for a fair comparison with `qnet-exp --jobs 1`. Must be set before
# NumPy is imported. (OPENBLAS_CORETYPE is deliberately left alone.)
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
           "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

METHODS = ("fp", "r", "sr", "bc")
COLUMNS = ["step", "epoch", "lr", "loss", "gap", "gap_latent", "gap_avg", "gap_avg_latent",
           "dist", "changed_frac", "subcell_frac", "grad_norm"]


def make_problem(dim, samples, noise, cond, lam, rng):
    """Synthetic least squares as in src/data/synthetic.rs + src/problems/least_squares.rs."""
    d, m = dim, samples
    if d > 1:
        scales = cond ** (-np.arange(d) / (2.0 * (d - 1)))
    else:
        scales = np.ones(1)
    w_true = rng.standard_normal(d)
    x = rng.standard_normal((m, d)) * scales
    y = x @ w_true + noise * rng.standard_normal(m)
    h = x.T @ x / m + lam * np.eye(d)
    b = x.T @ y / m
    c = np.linalg.cholesky(h)
    w_star = np.linalg.solve(c.T, np.linalg.solve(c, b))
    r = x @ w_star - y
    f_star = 0.5 * (r @ r) / m + 0.5 * lam * (w_star @ w_star)
    return np.ascontiguousarray(x), y, h, w_star, f_star


def train(x, y, h, w_star, f_star, *, method, lam, delta, lr, batch, steps, log_every, rng,
          lean=False):
    m, d = x.shape
    B = batch
    half = 0.5 * delta
    inv_delta = 1.0 / delta
    inv_b = 1.0 / B
    quantized = method != "fp"

    # Weights (zero init: every grid here contains 0, so rounding the init is a no-op).
    w = np.zeros(d)
    latent = np.zeros(d) if method == "bc" else None
    avg = w.copy()
    avg_latent = latent.copy() if latent is not None else None
    prev = w.copy()

    # Preallocated work buffers.
    xb = np.empty((B, d))
    yb = np.empty(B)
    r = np.empty(B)
    g = np.empty(d)
    s = np.empty(d)
    v = np.empty(d)
    u = np.empty(d)
    f = np.empty(d)
    tmp = np.empty(d)
    mask = np.empty(d, dtype=bool)
    mask2 = np.empty(d, dtype=bool)
    e = np.empty(d)
    he = np.empty(d)

    def gap(z):
        np.subtract(z, w_star, out=e)
        np.dot(h, e, out=he)
        return 0.5 * float(e @ he)

    def nearest(src, dst):
        # Q_d: nearest grid point, ties away from zero (0 exactly halfway goes up), decided
        # on u = x / delta as in quant::Lattice::nearest.
        np.multiply(src, inv_delta, out=u)
        np.floor(u, out=f)
        np.subtract(u, f, out=u)  # frac
        np.greater(u, 0.5, out=mask)
        np.equal(u, 0.5, out=mask2)
        if mask2.any():
            np.logical_and(mask2, np.greater_equal(src, 0.0), out=mask2)
            np.logical_or(mask, mask2, out=mask)
        np.add(f, mask, out=f)
        np.multiply(f, delta, out=dst)

    rows = []
    iv_grad_sq = 0.0
    iv_subcell = 0
    iv_steps = 0
    last_change = 0

    def row(t):
        gp = gap(w)
        changed = int(np.count_nonzero(w != prev))
        prev[:] = w
        n = iv_steps
        return (
            t,
            t * B / m,
            lr,
            f_star + gp,
            gp,
            gap(latent) if latent is not None else None,
            gap(avg),
            gap(avg_latent) if avg_latent is not None else None,
            float(np.sqrt(np.dot(w - w_star, w - w_star))),
            changed / d,
            (iv_subcell / (n * d)) if (quantized and n > 0) else None,
            math.sqrt(iv_grad_sq / n) if n > 0 else None,
        )

    rows.append(row(0))
    t = 0
    while t < steps:
        block = min(log_every - t % log_every, steps - t)
        idx_block = rng.integers(0, m, size=(block, B))
        noise_block = rng.random((block, d)) if method == "sr" else None
        for j in range(block):
            idx = idx_block[j]
            # g = (1/B) X_B^T (X_B w - y_B) + lambda w
            np.take(x, idx, axis=0, out=xb)
            np.take(y, idx, out=yb)
            np.dot(xb, w, out=r)
            np.subtract(r, yb, out=r)
            np.dot(r, xb, out=g)
            g *= inv_b
            if lam != 0.0:
                np.multiply(w, lam, out=tmp)
                g += tmp
            if not lean:
                iv_grad_sq += float(g @ g)
            np.multiply(g, lr, out=s)
            if quantized and not lean:
                np.abs(s, out=tmp)
                iv_subcell += int(np.count_nonzero(np.less(tmp, half, out=mask)))

            if method == "fp":
                np.subtract(w, s, out=v)
            elif method == "r":
                np.subtract(w, s, out=v)
                nearest(v, v)
            elif method == "sr":
                # Q_s: floor(u) + 1 with probability frac(u).
                np.subtract(w, s, out=v)
                np.multiply(v, inv_delta, out=u)
                np.floor(u, out=f)
                np.subtract(u, f, out=u)
                np.less(noise_block[j], u, out=mask)
                np.add(f, mask, out=f)
                np.multiply(f, delta, out=v)
            else:  # bc, nearest deployment
                latent -= s
                nearest(latent, v)

            if not lean and np.not_equal(v, w, out=mask).any():
                last_change = t + 1
            w, v = v, w  # v now holds the old weights; reused as scratch next step

            # Uniform average of the iterates w_1..w_t (and of BC's latent ones).
            inv = 1.0 / (t + 1)
            np.subtract(w, avg, out=tmp)
            tmp *= inv
            avg += tmp
            if latent is not None:
                np.subtract(latent, avg_latent, out=tmp)
                tmp *= inv
                avg_latent += tmp

            iv_steps += 1
            t += 1
        rows.append(row(t))
        iv_grad_sq, iv_subcell, iv_steps = 0.0, 0, 0
        if not math.isfinite(rows[-1][3]):
            break
    return rows, last_change


def fmt(v):
    return "" if v is None else repr(v)


def metrics_csv(rows):
    lines = [",".join(COLUMNS)]
    for rw in rows:
        lines.append(",".join(fmt(c) for c in rw))
    return "\n".join(lines) + "\n"


def tail_mean(rows, col, tail):
    """Mean over the last `tail` fraction of the logged points after step 0 (as summary.rs)."""
    pts = [rw[col] for rw in rows[1:]]
    if not pts:
        return None
    k = min(max(math.ceil(tail * len(pts)), 1), len(pts))
    return sum(pts[-k:]) / k


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", choices=METHODS, required=True)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--cond", type=float, default=10.0)
    ap.add_argument("--lambda", dest="lam", type=float, default=0.0)
    ap.add_argument("--delta", type=float, default=0.05)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--log-every", type=int, default=1000)
    ap.add_argument("--tail", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lean", action="store_true",
                    help="skip the per-step diagnostics (grad norm, subcell count, changed check)")
    ap.add_argument("--out", help="write metrics.csv here")
    a = ap.parse_args(argv)

    rng = np.random.default_rng(a.seed)
    t0 = time.perf_counter()
    x, y, h, w_star, f_star = make_problem(a.dim, a.samples, a.noise, a.cond, a.lam, rng)
    t1 = time.perf_counter()
    # Timed like qnet-exp's wall_s: the training loop plus formatting metrics.csv.
    rows, last_change = train(x, y, h, w_star, f_star, method=a.method, lam=a.lam,
                              delta=a.delta, lr=a.lr, batch=a.batch, steps=a.steps,
                              log_every=a.log_every, rng=rng, lean=a.lean)
    csv = metrics_csv(rows)
    t2 = time.perf_counter()
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(csv)
    res = {
        "method": a.method,
        "steps": rows[-1][0],
        "wall_s": t2 - t1,
        "build_s": t1 - t0,
        "final_gap": rows[-1][4],
        "tail_gap": tail_mean(rows, 4, a.tail),
        "tail_gap_avg": tail_mean(rows, 6, a.tail),
        "tail_gap_latent": tail_mean(rows, 5, a.tail) if a.method == "bc" else None,
        "last_change_step": last_change,
        "numpy": np.__version__,
    }
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
