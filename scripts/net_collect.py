#!/usr/bin/env python3
"""Collect the per-run files of a network sweep into two committed CSV files.

    python3 scripts/net_collect.py OUT/NAME RESULTS/NAME

reads OUT/NAME/runs.csv and every run folder's metrics.csv and layers.csv, and writes
RESULTS/NAME/curves.csv (one row per run and metrics row: step, epoch, the step size of
that epoch, train/val/test loss and error) and RESULTS/NAME/layers.csv (one row per run,
epoch and quantized layer: flip_frac, the fraction of that layer's quantized weights whose
value differs from the previous epoch's end, and round_err). Each row starts with the
run's id and the swept parameters the tables and plots group by (method, dataset, grid,
lr, batch, epochs, every, gamma, seed). Values are copied as the engine wrote them (no
float is re-formatted), rows in runs.csv order, so the files are byte-for-byte
reproducible; scripts/check-results.sh compares them like the other CSV files.
"""
import csv
import os
import sys

KEYS = ["id", "method", "dataset", "grid", "lr", "batch", "epochs", "every", "gamma", "seed"]
CURVE = ["step", "epoch", "lr", "train_loss", "train_error", "val_loss", "val_error",
         "test_loss", "test_error"]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1:]
    runs = list(csv.DictReader(open(os.path.join(src, "runs.csv"), newline="")))
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(dst, "curves.csv"), "w", newline="") as fc, \
            open(os.path.join(dst, "layers.csv"), "w", newline="") as fl:
        wc = csv.writer(fc, lineterminator="\n")
        wl = csv.writer(fl, lineterminator="\n")
        wc.writerow(KEYS + ["lr_t" if c == "lr" else c for c in CURVE])
        wl.writerow(KEYS + ["step", "epoch", "layer", "flip_frac", "round_err"])
        for r in runs:
            if r["status"] != "finished":
                continue
            head = [r[k] for k in KEYS]
            folder = os.path.join(src, r["id"])
            for m in csv.DictReader(open(os.path.join(folder, "metrics.csv"), newline="")):
                wc.writerow(head + [m[c] for c in CURVE])
            path = os.path.join(folder, "layers.csv")
            if os.path.exists(path):
                for m in csv.DictReader(open(path, newline="")):
                    wl.writerow(head + [m["step"], m["epoch"], m["layer"], m["flip_frac"],
                                        m["round_err"]])


if __name__ == "__main__":
    main()
