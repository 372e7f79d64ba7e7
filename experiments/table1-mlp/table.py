#!/usr/bin/env python3
"""Table 1 from the summary.csv files of table1, table1-big-sr and table1-big-sr-steps:
test error (mean ± std over seeds) per method, data set and grid, and whether the paper's
ordering ADAM < BC < Big SR < SR <= R holds (with either Big SR variant). BC's latent
weights get a row of their own, outside the ordering."""
import csv
import sys

rows = []
for path in sys.argv[1:]:
    rows += list(csv.DictReader(open(path)))


def name(r):
    if r["sweep"].endswith("big-sr-steps"):
        return "Big SR-ADAM (same steps)"
    if r["sweep"].endswith("big-sr"):
        return "Big SR-ADAM (same epochs)"
    return {"fp": "ADAM", "bc": "BC-ADAM", "sr": "SR-ADAM", "r": "R-ADAM"}[r["method"]]


order = ["ADAM", "BC-ADAM", "BC-ADAM (latent weights)", "Big SR-ADAM (same epochs)", "Big SR-ADAM (same steps)", "SR-ADAM", "R-ADAM"]
cols = sorted({(r["dataset"], r["grid"]) for r in rows if r["grid"]})
cell = {}
for r in rows:
    grids = [r["grid"]] if r["grid"] else [g for d, g in cols if d == r["dataset"]]
    for g in grids:
        cell[(name(r), r["dataset"], g)] = (float(r["test_error_mean"]), float(r["test_error_std"] or 0), int(r["n"]))
        if r["method"] == "bc" and r.get("test_error_latent_mean"):
            cell[("BC-ADAM (latent weights)", r["dataset"], g)] = (
                float(r["test_error_latent_mean"]), float(r["test_error_latent_std"] or 0), int(r["n"]))
print("Test error (%), mean ± std over seeds:\n")
print("| method | " + " | ".join(f"{d} {g}" for d, g in cols) + " |")
print("|---|" + "---|" * len(cols))
for m in order:
    out = []
    for d, g in cols:
        v = cell.get((m, d, g))
        out.append(f"{100 * v[0]:.2f} ± {100 * v[1]:.2f}" if v else "-")
    print(f"| {m} | " + " | ".join(out) + " |")
print()
for big in ("Big SR-ADAM (same epochs)", "Big SR-ADAM (same steps)"):
    seq = ["ADAM", "BC-ADAM", big, "SR-ADAM", "R-ADAM"]
    for d, g in cols:
        if not all((m, d, g) in cell for m in seq):
            continue
        e = [cell[(m, d, g)][0] for m in seq]
        ok = e[0] < e[1] < e[2] < e[3] <= e[4]
        broken = [f"{a} >= {b}" for a, b, x, y in zip(seq, seq[1:], e, e[1:]) if x >= y]
        print(f"- {d} {g}, {big}: ordering {'holds' if ok else 'does not hold (' + '; '.join(broken) + ')'}"
              f" — {' / '.join(f'{100 * x:.2f}' for x in e)} %")
