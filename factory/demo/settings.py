"""How big the demo's worlds, models and runs are: the full demo (<= 30 min on 2 CPU cores,
toy SD build included) and `--quick` (a few minutes, for tests and a first look).

Both sides of every comparison share one `reid` budget and the same seeds, so a difference in
the results table comes from the data, not from the training.
"""

from dataclasses import dataclass, field

# The filter keeps an image at least as close (cosine of ReID features) to its identity's real
# images as this quantile of those real images are, each held out (no confidence threshold:
# Diffusion-ReID's identities are not the scorer's classes).
FILTER_SIMILARITY_QUANTILE = 0.1
# BoT's 3.5e-4 is for an ImageNet-pre-trained ResNet-50; the demo's resnet10 starts from random
# weights and has minutes: at 3.5e-4 its identity loss barely left chance (3.18 -> 3.03 in 12
# epochs). Toy Market-1501, 12 epochs, rank-1: 0.26 at 3.5e-4, 0.57 at 3.5e-3, 0.39 at 1e-2;
# 8 epochs at 3.5e-3: 0.51.
FROM_SCRATCH_LR = 3.5e-3


@dataclass(frozen=True)
class DemoSizes:
    world: dict
    """ToyWorldConfig fields of every rendered layout."""
    toy_sd: str
    """Toy Stable Diffusion size (factory.laptop.toy_sd.build.TOY_SIZES)."""
    reid: dict
    """TrainConfig fields shared by every ReID run."""
    pretrain_epochs: int
    """Diffusion-ReID: epochs of pre-training on the synthetic identities."""
    recipe: dict
    """Generation recipe (RecipeConfig fields) shared by the three methods."""
    dlcr_targets: int
    """DLCR: outfit changes per source image (train and query images)."""
    dive_images: int
    """DiVE: images per identity and target modality."""
    diffusion_reid_images: int
    """Diffusion-ReID: images per synthetic identity."""
    adapt: dict
    """AdaptConfig fields of the DiVE adapt run."""
    seeds: int
    """Training seeds per side of each comparison (trained concurrently)."""
    generate_actors: int = 2
    """Generation actors (one CPU each)."""
    source_world_seed_offset: int = 1000
    """Diffusion-ReID's synthetic identities come from a toy world of seed + this offset."""
    layouts: tuple[str, ...] = field(default=("market1501", "ltcc", "prcc", "sysu_mm01", "llcm"))
    """Layouts rendered and read back (the experiments use ltcc, llcm and market1501)."""


QUICK = DemoSizes(
    world={"train_identities": 6, "test_identities": 6, "images_per_camera": 2},
    toy_sd="smoke",
    reid={"arch": "resnet10", "height": 64, "width": 32, "p": 4, "k": 2, "epochs": 2,
          "lr": FROM_SCRATCH_LR,
          "max_steps_per_epoch": 2, "warmup_epochs": 0, "milestones": [10], "eval_every": 2,
          "cal_start_epoch": 1},
    pretrain_epochs=1,
    recipe={"height": 64, "width": 32, "steps": 2, "guidance": 5.0},
    dlcr_targets=1, dive_images=1, diffusion_reid_images=2,
    adapt={"steps": 2, "batch_size": 2, "rank": 4, "height": 64, "width": 32,
           "checkpoint_every": 2, "report_identities": 2, "report_steps": 2},
    seeds=1, generate_actors=1,
)
FULL = DemoSizes(
    world={"train_identities": 24, "test_identities": 24, "images_per_camera": 2},
    toy_sd="small",
    # 14 epochs of 6 PK batches (84 steps): at the 42 steps of 7 epochs no arm learned to read
    # the toy people's identity (bench/toy_headroom.py: DLCR's oracle and real only both ~0.07
    # clothes-changing rank-1); at 84 steps real only reaches ~0.08/0.15 and the oracle leads.
    reid={"arch": "resnet10", "height": 64, "width": 32, "p": 8, "k": 4, "epochs": 14,
          "lr": FROM_SCRATCH_LR, "warmup_epochs": 1, "milestones": [10], "eval_every": 14,
          "cal_start_epoch": 6},
    pretrain_epochs=3,
    recipe={"height": 64, "width": 32, "steps": 15, "guidance": 5.0},
    dlcr_targets=2, dive_images=4, diffusion_reid_images=8,
    adapt={"steps": 150, "batch_size": 16, "rank": 8, "height": 64, "width": 32,
           "lr": 1e-3, "checkpoint_every": 100, "cpus_per_worker": 2},
    seeds=2,
)
