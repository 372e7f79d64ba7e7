"""Shared helpers of scripts/readme_numbers.py and scripts/report.py: read an experiment's
committed CSVs, pick rows, fit slopes and format numbers the same way everywhere.

Nothing here is typed by hand: every number the two scripts print comes from a CSV under
experiments/NAME/results/ through these functions.
"""

import csv
import math
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = os.path.join(ROOT, "experiments")


class Missing(Exception):
    """A CSV, a row or a column the spec asks for is not there."""


def _convert(v):
    if v == "":
        return None
    if v in ("true", "false"):
        return v == "true"
    try:
        if v.lstrip("-").isdigit():
            return int(v)
        return float(v)
    except ValueError:
        return v


class Table:
    """The rows of one CSV as dicts (numbers converted, empty fields None)."""

    def __init__(self, path):
        if not os.path.isfile(path):
            raise Missing(f"no file {os.path.relpath(path, ROOT)}")
        with open(path, newline="") as f:
            self.rows = [{k: _convert(v) for k, v in r.items()} for r in csv.DictReader(f)]
        self.path = path

    def where(self, **kw):
        out = []
        for r in self.rows:
            if all(_match(r.get(k), v) for k, v in kw.items()):
                out.append(r)
        t = Table.__new__(Table)
        t.rows, t.path = out, self.path
        return t

    def one(self, **kw):
        rows = self.where(**kw).rows
        if len(rows) != 1:
            raise Missing(f"{os.path.relpath(self.path, ROOT)}: {len(rows)} rows match {kw}, expected 1")
        return rows[0]

    def values(self, col):
        vals = []
        for r in self.rows:
            v = r.get(col)
            if v is not None and v not in vals:
                vals.append(v)
        return vals

    def col(self, col):
        return [r.get(col) for r in self.rows]

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)


def _match(have, want):
    if callable(want):
        return want(have)
    if isinstance(want, float) and isinstance(have, (int, float)) and have is not None:
        return math.isclose(have, want, rel_tol=1e-9, abs_tol=1e-15)
    return have == want


class Experiment:
    """One folder under experiments/: its sweeps' summary, fits and runs tables."""

    def __init__(self, name, root=EXPERIMENTS):
        self.name = name
        self.dir = os.path.join(root, name)
        # QNET_RESULTS_ROOT=DIR reads DIR/NAME/<sweep>/*.csv instead of the committed
        # experiments/NAME/results/ (e.g. a check-results.sh --keep folder).
        alt = os.environ.get("QNET_RESULTS_ROOT")
        self.results = os.path.join(self.dir, "results")
        if alt and os.path.isdir(os.path.join(alt, name)):
            self.results = os.path.join(alt, name)
        self._cache = {}

    def exists(self):
        return os.path.isdir(self.results)

    def has(self, sweep, kind="summary"):
        return os.path.isfile(os.path.join(self.results, sweep, f"{kind}.csv"))

    def csv(self, sweep, file):
        """Any other CSV a run.sh keeps next to a sweep's summary (curve.csv, basins.csv)."""
        return Table(os.path.join(self.results, sweep, file))

    def table(self, sweep, kind="summary"):
        key = (sweep, kind)
        if key not in self._cache:
            self._cache[key] = Table(os.path.join(self.results, sweep, f"{kind}.csv"))
        return self._cache[key]

    def summary(self, sweep):
        return self.table(sweep, "summary")

    def fits(self, sweep):
        return self.table(sweep, "fits")

    def runs(self, sweep):
        return self.table(sweep, "runs")

    def fit(self, sweep, **kw):
        return self.fits(sweep).one(**kw)


# ---------------------------------------------------------------------------------------
# Formatting


def _exp_str(x, decimals):
    s = f"{x:.{decimals}e}"
    mant, e = s.split("e")
    return f"{mant}e{int(e)}"


def num(x, sig=3):
    """x with `sig` significant digits: plain between 1e-3 and 1e5, else like 1.3e-4."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, bool):
        return str(x).lower()
    if x == 0:
        return "0"
    a = abs(x)
    if isinstance(x, int) and a < 1e7:
        return f"{x:,}" if a >= 10000 else str(x)
    if 1e-3 <= a < 1e5:
        e = math.floor(math.log10(a))
        if e >= sig:
            return f"{round(x, sig - 1 - e):,.0f}"
        dec = max(0, sig - 1 - e)
        s = f"{x:.{dec}f}"
        # rounding may have added a digit (9.995 -> 10.00): keep `sig` digits
        if dec > 0 and abs(float(s)) >= 10 ** (e + 1):
            s = f"{x:.{dec - 1}f}"
        if a >= 10000:
            s = f"{float(s):,.{dec}f}"
        return s
    return _exp_str(x, sig - 1)


def pm(mean, ci, sig=2):
    """'mean ± ci' with ci to `sig` significant digits and mean to the same decimal place."""
    if mean is None:
        return "n/a"
    if ci is None or ci == 0 or (isinstance(ci, float) and math.isnan(ci)):
        return num(mean, 3)
    a = abs(mean) if mean != 0 else abs(ci)
    if 1e-3 <= a < 1e5 and abs(ci) >= 1e-7:
        e = math.floor(math.log10(abs(ci)))
        dec = max(0, sig - 1 - e)
        return f"{mean:.{dec}f} ± {ci:.{dec}f}"
    e = math.floor(math.log10(a))
    scale = 10.0**e
    ec = math.floor(math.log10(abs(ci) / scale)) if ci != 0 else 0
    dec = max(0, sig - 1 - ec)
    dec = min(dec, 4)
    return f"{mean / scale:.{dec}f}e{e} ± {ci / scale:.{dec}f}e{e}"


def slope(fit, dec=2):
    """A fits.csv row as 'slope ± ci95'."""
    return f"{fit['slope']:.{dec}f} ± {fit['slope_ci95']:.{dec}f}"


def pct(x, dec=1):
    return f"{100 * x:.{dec}f} %"


def ratio(x, sig=2):
    return num(x, sig) + "x"


def span(values, sig=3):
    """'lo-hi' of a list of numbers (min to max)."""
    lo, hi = min(values), max(values)
    a, b = num(lo, sig), num(hi, sig)
    return a if a == b else f"{a}-{b}"


def table(header, rows):
    """A markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def lr_str(x):
    """A step size or Delta as a config writes it: the shortest form (0.0005, 6.25e-4)."""
    s = num(x, 4)
    if "e" in s:
        mant, e = s.split("e")
        mant = mant.rstrip("0").rstrip(".") if "." in mant else mant
        return f"{mant}e{e}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def cfg(x):
    """A number the way qnet-exp writes it into fits.csv's `fixed` column and file names."""
    return repr(float(x)) if isinstance(x, float) else str(x)


# ---------------------------------------------------------------------------------------
# Fits of the form log(y) = a + b log(x), with a 95 % Student-t interval on b


_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
         10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
         18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t975(df):
    if df in _T975:
        return _T975[df]
    keys = sorted(_T975)
    for k in keys:
        if k > df:
            return _T975[k]
    return 1.96


def loglog_fit(xs, ys):
    """Least-squares slope of log(y) on log(x): dict slope, slope_ci95, intercept, r2, n."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x and y and x > 0 and y > 0]
    n = len(pts)
    if n < 3:
        raise Missing(f"a fit needs 3 positive points, got {n}")
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    sxy = sum((p[0] - mx) * (p[1] - my) for p in pts)
    b = sxy / sxx
    a = my - b * mx
    res = sum((p[1] - a - b * p[0]) ** 2 for p in pts)
    syy = sum((p[1] - my) ** 2 for p in pts)
    se = math.sqrt(res / (n - 2) / sxx)
    return {"slope": b, "slope_ci95": t975(n - 2) * se, "intercept": a,
            "r2": 1 - res / syy if syy > 0 else 1.0, "n": n}


def within(fit, value):
    """Does the fit's 95 % interval contain `value`?"""
    return abs(fit["slope"] - value) <= fit["slope_ci95"]
