"""ASHA sweep of ReID training on Ray Tune; the same locally and under `ray job submit`.

    python jobs/tune.py jobs/configs/sweep_market_toy.yaml [--smoke] [--set samples=16]
Re-running an interrupted sweep with the same config resumes it (`Tuner.restore`).
"""

import sys

from factory.cli import main

if __name__ == "__main__":
    sys.exit(main(["tune", *sys.argv[1:]]))
