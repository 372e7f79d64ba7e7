#!/usr/bin/env python3
"""PyTorch CPU reference for qnet-exp's MLP benchmark: one training epoch, samples/s.

The model and step match `problem.kind = "mlp"` in qnet-exp (src/nets/mlp.rs, src/nets/train.rs):
784-1024-1024-10 (``--width``, ``--depth``), ReLU, optional BatchNorm1d after each hidden
Linear (before the ReLU), float32, softmax cross-entropy averaged over the batch, Adam
(lr 1e-3, betas 0.9/0.999, eps 1e-8), batch 100, one epoch over the 60k MNIST training
images read from the raw IDX files with NumPy, scaled to [0, 1] and standardised with the
training set's mean and std (one scalar each, as qnet-exp does). Glorot-uniform weights,
zero biases.

Methods (binary weights {-s, +s} with BinaryConnect's per-layer s = sqrt(1.5/(fan_in+fan_out)),
all three weight matrices quantized, biases and BN parameters full precision, as qnet-exp's
``grid = "binary"`` default):

- ``fp``: plain Adam.
- ``bc``: BinaryConnect. The Linear layers hold the deployed binary weights; a full-precision
  latent copy is what Adam updates. Per step: forward/backward at the binary weights, the
  latent weight's ``.grad`` *is* the binary weight's gradient (straight-through, no copy),
  ``Adam.step()`` moves the latent weights, then ``w = s * sign(latent)`` in place.
- ``sr``: Adam steps the (binary) weights, then each weight matrix is stochastically rounded
  in place: ``w = s * sign(w - u)`` with ``u ~ U(-s, s)`` drawn into a preallocated buffer
  (up with probability (w + s) / 2s, clipped to the grid).

Written as a careful PyTorch user would: data preloaded as one tensor, batches gathered with
``index_select(out=)`` into a preallocated buffer, no per-step Python-side allocation beyond
what autograd does, ``zero_grad(set_to_none=True)``, rounding passes in place under
``torch.no_grad()``. ``torch.set_num_threads(N)`` (and ``set_num_interop_threads(1)``).
Times the training epoch only, after ``--warmup`` batches (not counted; the model and the
optimizer are then reset, so the timed epoch starts from the initial point).

Prints one JSON object per line (with ``--json``) or a readable line per method.

Usage:
  torch_mlp.py [--methods fp,bc,sr] [--threads 1] [--batch-norm] [--adam default|fused|foreach]
               [--data /work/main/data/mnist] [--train-size 60000] [--json]
"""

import argparse
import gzip
import json
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def read_idx(path):
    """A raw (or .gz) IDX file as a NumPy array; checks the magic number and the length."""
    import numpy as np

    p = Path(path)
    if not p.exists() and Path(str(p) + ".gz").exists():
        p = Path(str(p) + ".gz")
    if not p.exists():
        sys.exit(f"torch_mlp.py: {path} not found (run scripts/fetch-data.sh)")
    raw = gzip.open(p, "rb").read() if p.suffix == ".gz" else p.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        sys.exit(f"torch_mlp.py: {p}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    off = 4 + 4 * ndim
    n = math.prod(dims)
    if len(raw) - off != n:
        sys.exit(f"torch_mlp.py: {p}: {len(raw) - off} bytes of data, header says {n}")
    return np.frombuffer(raw, dtype=np.uint8, offset=off).reshape(dims)


def load_mnist(data_dir, train_size):
    import numpy as np

    x = read_idx(Path(data_dir) / "train-images-idx3-ubyte")[:train_size]
    y = read_idx(Path(data_dir) / "train-labels-idx1-ubyte")[:train_size]
    x = x.reshape(len(x), -1).astype(np.float32) / np.float32(255.0)
    # One scalar mean and std over all training pixels (qnet-exp's dataset::standardize).
    mean = x.mean(dtype=np.float64)
    std = x.std(dtype=np.float64)
    x = ((x - np.float32(mean)) / np.float32(std if std > 0 else 1.0)).astype(np.float32)
    return np.ascontiguousarray(x), y.astype(np.int64)


def build(torch, sizes, batch_norm, seed):
    nn = torch.nn
    torch.manual_seed(seed)
    layers, linears = [], []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        nn.init.xavier_uniform_(lin.weight)  # U(-a, a), a = sqrt(6 / (fan_in + fan_out))
        nn.init.zeros_(lin.bias)
        layers.append(lin)
        linears.append(lin)
        if i + 2 < len(sizes):
            if batch_norm:
                layers.append(nn.BatchNorm1d(sizes[i + 1]))  # eps 1e-5, momentum 0.1
            layers.append(nn.ReLU())
    return nn.Sequential(*layers), linears


class Trainer:
    """One method's model, optimizer and per-step work."""

    def __init__(self, torch, method, sizes, batch_norm, lr, adam, seed, built=None):
        """`built`: a ready `(model, layers)` pair (torch_cnn.py's CNN) instead of the MLP of
        `sizes`; every layer's weight is quantized."""
        self.torch, self.method = torch, method
        self.model, self.linears = built if built is not None else build(torch, sizes, batch_norm, seed)
        self.model.train()
        self.weights = [l.weight for l in self.linears]
        # BinaryConnect's per-layer binary scale s = sqrt(1.5 / (fan_in + fan_out)), with a
        # convolution's fans C_in k k and C_out k k (as xavier_uniform_ and qnet-exp count them).
        fans = [torch.nn.init._calculate_fan_in_and_fan_out(w) for w in self.weights]
        self.scales = [math.sqrt(1.5 / (fi + fo)) for fi, fo in fans]
        other = [p for n, p in self.model.named_parameters() if not n.endswith("weight") or p.dim() == 1]
        kw = {"lr": lr, "betas": (0.9, 0.999), "eps": 1e-8}
        if adam == "fused":
            kw["fused"] = True
        elif adam == "foreach":
            kw["foreach"] = True
        elif adam == "single":
            kw["foreach"] = False
        with torch.no_grad():
            if method == "fp":
                self.opt = torch.optim.Adam(self.model.parameters(), **kw)
            elif method == "bc":
                # Latent full-precision weights: Adam's parameters; the Linear weights hold
                # the binary deployed weights, recomputed after each step.
                self.latent = [w.detach().clone() for w in self.weights]
                for lw in self.latent:
                    lw.requires_grad_(True)
                self.opt = torch.optim.Adam(self.latent + other, **kw)
                self._binarize()
            elif method == "sr":
                self.noise = [torch.empty_like(w) for w in self.weights]
                self.opt = torch.optim.Adam(self.model.parameters(), **kw)
                # Start on the grid: stochastic rounding of the Glorot init.
                self._stochastic_round()
            else:
                raise ValueError(method)
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def _binarize(self):
        for w, lw, s in zip(self.weights, self.latent, self.scales):
            torch = self.torch
            torch.sign(lw, out=w.data)
            w.data.mul_(s)

    def _stochastic_round(self):
        torch = self.torch
        for w, u, s in zip(self.weights, self.noise, self.scales):
            # P(+s) = (w + s) / 2s clipped to [0, 1]  <=>  u < w with u ~ U(-s, s).
            u.uniform_(-s, s)
            torch.sub(w.data, u, out=u)
            torch.sign(u, out=w.data)
            w.data.mul_(s)

    def step(self, xb, yb):
        torch = self.torch
        self.opt.zero_grad(set_to_none=True)
        if self.method == "bc":
            for w in self.weights:
                w.grad = None
        out = self.model(xb)
        loss = self.loss_fn(out, yb)
        loss.backward()
        if self.method == "bc":
            for w, lw in zip(self.weights, self.latent):
                lw.grad = w.grad  # straight-through: dL/dw_binary is the latent's gradient
        self.opt.step()
        with torch.no_grad():
            if self.method == "bc":
                self._binarize()
            elif self.method == "sr":
                self._stochastic_round()
        return loss


def timed_run(torch, make_trainer, method, args, x, y):
    """One epoch of `method` over (x, y) in batches of args.batch with a fresh trainer from
    make_trainer(), after args.warmup steps on a throwaway one (allocator, thread pool,
    kernels); the wall and CPU time of the epoch and its mean training loss."""
    n, b = x.shape[0], args.batch
    steps = n // b
    xb = torch.empty((b,) + tuple(x.shape[1:]), dtype=torch.float32)
    yb = torch.empty((b,), dtype=torch.int64)
    g = torch.Generator().manual_seed(args.seed + 1)

    tr = make_trainer()
    perm = torch.randperm(n, generator=g)
    for s in range(args.warmup):
        idx = perm[s * b:(s + 1) * b]
        torch.index_select(x, 0, idx, out=xb)
        torch.index_select(y, 0, idx, out=yb)
        tr.step(xb, yb)
    tr = make_trainer()

    perm = torch.randperm(n, generator=g)
    losses = []
    t0 = time.perf_counter()
    c0 = time.process_time()
    for s in range(steps):
        idx = perm[s * b:(s + 1) * b]
        torch.index_select(x, 0, idx, out=xb)
        torch.index_select(y, 0, idx, out=yb)
        losses.append(tr.step(xb, yb).detach())
    # Read the losses only after the loop (no per-step .item() sync, though CPU has none).
    loss_sum = float(torch.stack(losses).sum())
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {
        "method": method,
        "threads": torch.get_num_threads(),
        "batch_norm": args.batch_norm,
        "adam": args.adam,
        "steps": steps,
        "samples": steps * b,
        "wall_s": wall,
        "cpu_s": cpu,
        "samples_per_s": steps * b / wall,
        "train_loss": loss_sum / steps,
    }


def run_method(torch, np, method, args, x, y):
    sizes = [x.shape[1]] + [args.width] * args.depth + [10]
    return timed_run(torch, lambda: Trainer(torch, method, sizes, args.batch_norm, args.lr, args.adam, args.seed),
                     method, args, x, y)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--methods", default="fp,bc,sr", help="comma-separated subset of fp,bc,sr")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-norm", action="store_true")
    ap.add_argument("--adam", default="default", choices=["default", "fused", "foreach", "single"],
                    help="torch.optim.Adam implementation (default: PyTorch's own choice)")
    ap.add_argument("--data", default=str(ROOT / "data" / "mnist"))
    ap.add_argument("--train-size", type=int, default=60000)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=5, help="untimed batches before the epoch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="one JSON object per method")
    args = ap.parse_args()

    n = str(args.threads)
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(v, n)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    xs, ys = load_mnist(args.data, args.train_size)
    x, y = torch.from_numpy(xs), torch.from_numpy(ys)
    for m in args.methods.split(","):
        r = run_method(torch, np, m.strip(), args, x, y)
        r["torch"] = torch.__version__
        if args.json:
            print(json.dumps(r), flush=True)
        else:
            print(f"{r['method']:3s} threads={r['threads']} bn={int(r['batch_norm'])} adam={r['adam']}: "
                  f"{r['wall_s']:.2f} s, {r['samples_per_s']:.0f} samples/s, "
                  f"train loss {r['train_loss']:.4f}", flush=True)


if __name__ == "__main__":
    main()
