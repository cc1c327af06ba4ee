"""Learn identity tokens + a modality LoRA (DiVE) on Ray Train; the same locally and under
`ray job submit`.

    python jobs/adapt.py jobs/configs/adapt_sysu_toy.yaml [--smoke] [--set steps=800]
    ray job submit --working-dir . -- python jobs/adapt.py jobs/configs/adapt_llcm.yaml
Re-running a killed job with the same config resumes from its last checkpoint; raising `steps`
continues a finished one.
"""

import sys

from factory.cli import main

if __name__ == "__main__":
    sys.exit(main(["adapt", *sys.argv[1:]]))
