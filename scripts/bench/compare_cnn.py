#!/usr/bin/env python3
"""Time one training epoch of the LeNet-like CNN in qnet-exp and in PyTorch (CPU): the paired
comparison of compare_mlp.py with ``--model cnn`` (every other option passes through).

Usage: python3 scripts/bench/compare_cnn.py [--reps 3] [--threads 1,2] [--methods fp,bc,sr]
                                            [--train-size 60000] [--wait-quiet S] [--bin PATH]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare_mlp  # noqa: E402

if __name__ == "__main__":
    sys.argv[1:1] = ["--model", "cnn"]
    compare_mlp.main()
