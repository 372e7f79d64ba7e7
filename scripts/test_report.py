#!/usr/bin/env python3
"""Checks of scripts/readme_numbers.py, scripts/report.py and scripts/results_lib.py:
the number formats, the fits, that a README whose number was edited by hand fails
`--check` (and is repaired by a rewrite), that a missing block is an error, and that the
committed READMEs and results/REPORT.md agree with the committed CSVs.

    python3 scripts/test_report.py
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import readme_numbers as rn  # noqa: E402
import results_lib as rl  # noqa: E402


def check_formats():
    assert rl.num(0.022913) == "0.0229", rl.num(0.022913)
    assert rl.num(1.3e-4) == "1.30e-4", rl.num(1.3e-4)
    assert rl.num(2043.2, 2) == "2,000", rl.num(2043.2, 2)
    assert rl.num(12.46, 3) == "12.5"
    assert rl.num(100000) == "100,000"
    assert rl.num(None) == "n/a"
    assert rl.pm(0.0229, 0.00338) == "0.0229 ± 0.0034", rl.pm(0.0229, 0.00338)
    assert rl.pm(8.8e-4, 1.1e-4) == "8.8e-4 ± 1.1e-4", rl.pm(8.8e-4, 1.1e-4)
    assert rl.pm(-0.949476, 7.0e-5) == "-0.949476 ± 0.000070", rl.pm(-0.949476, 7.0e-5)
    assert rl.pm(0.5, None) == "0.500"
    assert rl.lr_str(0.0005) == "5e-4" and rl.lr_str(0.002) == "0.002" and rl.lr_str(6.25e-4) == "6.25e-4"
    assert rl.cfg(0.0005) == "0.0005" and rl.cfg(3) == "3"
    assert rl.span([0.2, 0.1, 0.3]) == "0.100-0.300"


def check_fit():
    xs = [1, 2, 4, 8, 16]
    f = rl.loglog_fit(xs, [3 * x**0.5 for x in xs])
    assert abs(f["slope"] - 0.5) < 1e-12 and f["slope_ci95"] < 1e-9 and abs(f["r2"] - 1) < 1e-12, f
    noisy = rl.loglog_fit(xs, [x * (1.1 if i % 2 else 0.9) for i, x in enumerate(xs)])
    assert abs(noisy["slope"] - 1) < 0.1 and noisy["slope_ci95"] > 0.01, noisy
    assert rl.within(noisy, 1.0)
    try:
        rl.loglog_fit([1, 2], [1, 2])
        raise AssertionError("a fit with 2 points must fail")
    except rl.Missing:
        pass


def check_readme_guard():
    """A number changed by hand in a block fails --check; a rewrite restores it."""
    name = "sr-floor-vs-batch"
    tmp = tempfile.mkdtemp()
    try:
        shutil.copytree(os.path.join(rl.EXPERIMENTS, name), os.path.join(tmp, name))
        readme = os.path.join(tmp, name, "README.md")
        text = open(readme).read()
        blocks = rn.SPECS[name](rl.Experiment(name))
        assert rn.render(name, text, blocks) == text, "the committed README must agree with its CSVs"
        edited = text.replace("B^-0.46", "B^-0.50", 1)
        assert edited != text, "the test expects the batch slope in the README"
        assert rn.render(name, edited, blocks) == text, "a rewrite must restore the generated number"
        # a block the spec fills but the README lacks is an error
        no_block = rn.BLOCK.sub("", text, count=1)
        try:
            rn.render(name, no_block, blocks)
            raise AssertionError("a missing block must be an error")
        except rl.Missing:
            pass
        # a number outside the blocks is not touched (the rule is that there are none)
        assert rn.render(name, text + "\nextra 1.23\n", blocks).endswith("extra 1.23\n")
    finally:
        shutil.rmtree(tmp)


def check_committed():
    r = subprocess.run([sys.executable, os.path.join(HERE, "readme_numbers.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def main():
    check_formats()
    check_fit()
    check_readme_guard()
    check_committed()
    print("test_report: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
