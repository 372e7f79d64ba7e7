#!/usr/bin/env python3
"""Paste generated tables into experiment READMEs, so that no number in them is typed by hand.

    python3 scripts/net_readme.py [--check] README.md...

In each README, a block

    <!-- generated from results/table.md by scripts/net_readme.py; do not edit -->
    ...
    <!-- end generated -->

is replaced by the content of the named file (relative to the README's folder), which the
experiment's run.sh writes from its committed CSV files with scripts/net_table.py. A
missing file leaves the block saying so. --check changes nothing and exits 1 if any block
is not what the file says (e.g. after the results were regenerated without updating the
README). Without README arguments: every README.md under experiments/ with such a block.
"""
import glob
import os
import re
import sys

BLOCK = re.compile(r"(<!-- generated from (\S+) by scripts/net_readme\.py; do not edit -->\n)"
                   r"(.*?)(<!-- end generated -->)", re.S)


def render(readme):
    text = open(readme).read()
    base = os.path.dirname(os.path.abspath(readme))

    def sub(m):
        path = os.path.join(base, m.group(2))
        body = open(path).read() if os.path.exists(path) else f"(not generated yet: {m.group(2)} is missing)\n"
        if not body.endswith("\n"):
            body += "\n"
        return m.group(1) + body + m.group(4)

    return text, BLOCK.sub(sub, text)


def main():
    args = sys.argv[1:]
    check = "--check" in args
    files = [a for a in args if a != "--check"]
    if not files:
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "experiments")
        files = sorted(f for f in glob.glob(os.path.join(root, "*", "README.md"))
                       if BLOCK.search(open(f).read()))
    stale = []
    for f in files:
        old, new = render(f)
        if old != new:
            stale.append(f)
            if not check:
                open(f, "w").write(new)
    if check and stale:
        for f in stale:
            print(f"net_readme: {os.path.relpath(f)} is out of date with its results "
                  "(run scripts/net_readme.py)", file=sys.stderr)
        sys.exit(1)
    if not check:
        for f in stale:
            print(f"net_readme: updated {os.path.relpath(f)}")


if __name__ == "__main__":
    main()
