"""Train a ReID model on Ray Train; the same locally and under `ray job submit`.

    python jobs/train.py jobs/configs/train_market_toy.yaml [--smoke] [--set lr=0.001]
    ray job submit --working-dir . -- python jobs/train.py jobs/configs/train_market_toy.yaml
Re-running a killed job with the same config resumes from its last checkpoint.
"""

import sys

from factory.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
