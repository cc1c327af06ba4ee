"""Pre-train a ReID backbone on generated identities alone (Diffusion-ReID), on Ray Train; the same
locally and under `ray job submit`. Writes <storage_path>/<name>/model, what a fine-tuning
config's `pretrained` names.

    python jobs/pretrain.py jobs/configs/pretrain_bot_diffusion_reid_market1501.yaml [--smoke]
    ray job submit --working-dir . -- python jobs/pretrain.py \
        jobs/configs/pretrain_bot_diffusion_reid_market1501.yaml
Re-running a killed job with the same config resumes from its last checkpoint.
"""

import sys

from factory.cli import main

if __name__ == "__main__":
    sys.exit(main(["pretrain", *sys.argv[1:]]))
