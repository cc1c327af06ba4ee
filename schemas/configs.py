"""Job configurations as pydantic models: defaults, one docstring per field, clear errors.

Each model is exported as a JSON Schema file (`schemas/json/<name>.schema.json`) so editors can
check YAML configs; `factory schemas` rewrites them and a test keeps them in step.
"""

import json
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from factory.methods import METHOD_NAMES
from factory.pretrained.imagenet import IMAGENET_WEIGHTS
from schemas.config_base import (
    ConfigError,
    RayTrainRun,
    StoragePath,
    StrictModel,
    apply_overrides,
    load_config,
    make_config,
)
from schemas.describe_config import DescribeConfig
from schemas.diffusion_configs import AdaptConfig
from schemas.generation_configs import GenerationJobConfig

TOY_LAYOUTS = ("market1501", "ltcc", "prcc", "sysu_mm01", "llcm")
JSON_DIR = Path(__file__).parent / "json"


class ToyWorldConfig(StrictModel):
    """A toy world rendered in the on-disk layout of a real dataset."""

    layout: Literal["market1501", "ltcc", "prcc", "sysu_mm01", "llcm"] = "market1501"
    """Dataset whose folders and file names the toy world writes."""
    seed: int = 0
    """Seed of every random choice; the same seed gives the same pixels."""
    train_identities: int = Field(16, ge=2)
    """Persons in the training split."""
    test_identities: int = Field(16, ge=2)
    """Persons in the test split (disjoint from training, as in the real datasets)."""
    outfits: int = Field(2, ge=1, le=8)
    """Outfits per person (clothes-changing layouts; others use one)."""
    images_per_camera: int = Field(2, ge=1)
    """Images of each person, outfit and camera."""
    height: int = Field(128, ge=32, le=1024)
    """Image height in pixels."""
    width: int = Field(64, ge=16, le=512)
    """Image width in pixels."""
    workers: int = Field(2, ge=1)
    """Processes that render in parallel."""

    @model_validator(mode="after")
    def _clothes_changing_needs_two_outfits(self):
        if self.layout in ("ltcc", "prcc") and self.outfits < 2:
            raise ValueError(f"layout {self.layout!r} is clothes-changing: outfits must be >= 2")
        return self


class IngestConfig(StrictModel):
    """Read a dataset from its own layout into the `images` table."""

    dataset: str
    """Registry name of the dataset reader (`factory ingest --help` lists them)."""
    root: StoragePath
    """Folder the dataset was unpacked into."""
    out: StoragePath
    """Parquet file to write the `images` table to."""


class DemoConfig(StrictModel):
    """The end-to-end demo on the toy world."""

    out: Path = Path("out/demo")
    """Folder for everything the demo writes (data, tables, report)."""
    seed: int = 0
    """Seed of the toy world and of every later random choice."""
    quick: bool = False
    """Tiny worlds, models and runs (a few minutes), for tests and a first look."""
    methods: list[Literal[METHOD_NAMES]] = list(METHOD_NAMES)
    """Generation methods to run and compare against real-only training."""
    verbose: bool = False
    """Show Ray's own output too: its workers' (Ray Train's per-epoch reports), its info lines
    and Ray Data's progress; otherwise the log is one progress bar per stage and the verdicts."""


class TrainConfig(RayTrainRun):
    """Train a ReID model on Ray Train, on real images plus (optionally) kept synthetic ones."""

    images: StoragePath
    """`images` table (Parquet) of the real dataset; its train split trains, its test split
    evaluates."""
    train_splits: list[Literal["train", "val"]] = ["train"]
    """Splits to train on (SYSU-MM01 and MSMT17 often use train + val)."""
    real_images: bool = True
    """Train on the real training images; false: on the kept synthetic images alone, as
    classes of their own (Diffusion-ReID's pre-training on generated identities; needs
    `synthetic` and `mixing: extra_classes`). The real test split evaluates either way."""
    synthetic: StoragePath | None = None
    """`generated` table (Parquet) of synthetic images to mix in."""
    scores: StoragePath | None = None
    """`scores` table of the synthetic images; without one every synthetic image is used."""
    filter_threshold: float | None = Field(None, ge=0.0, le=1.0)
    """Keep synthetic images with confidence >= this (an image whose identity is not one of the
    scorer's classes, e.g. DiVE's added people, keeps the filter's `kept`); null: use `kept`."""
    source_images: StoragePath | None = None
    """DiVE's added identities: the RGB-only `images` table an adapter set's `source_images`
    named; the real RGB training images of each added identity with kept synthetic images join
    its class (real RGB + synthetic IR, as DiVE trains them). Needs `mixing: extra_classes`."""
    mixing: Literal["progressive", "extra_classes"] = "progressive"
    """How synthetic images join: DLCR's progressive 1:1 schedule (they carry their source's
    identity), or DiVE's synthetic identities as extra classes."""
    synthetic_ratio: float = Field(1.0, ge=0.0, le=1.0)
    """Share of real images in a batch that get a synthetic partner (progressive mixing)."""
    model: Literal["bot", "caj", "cal"] = "bot"
    """BoT baseline, CAJ (visible-infrared) or CAL (clothes-changing)."""
    arch: Literal["resnet50", "resnet18", "resnet10"] = "resnet50"
    """Backbone; resnet10 is the laptop and test size."""
    pooling: Literal["avg", "gem"] = "avg"
    """Global pooling of the last feature map."""
    pretrained: Literal["imagenet"] | Path | None = None
    """Backbone initialisation: null, random (the laptop default); `imagenet`, torchvision's
    ImageNet weights of `arch` (IMAGENET1K_V1, as the papers start; fetched by `factory models
    pull`, read from torch.hub's cache); or a local torchvision state dict (.pth/.safetensors),
    e.g. a synthetic pre-training's backbone; or the model folder of another run
    (`runs/<name>/model`), whose backbone is taken."""
    height: int = Field(256, ge=32)
    """Input height in pixels."""
    width: int = Field(128, ge=16)
    """Input width in pixels."""
    p: int = Field(16, ge=2)
    """Identities per batch (per worker)."""
    k: int = Field(4, ge=1)
    """Images per identity in a batch (per modality for CAJ)."""
    epochs: int = Field(60, ge=1)
    """Training epochs."""
    max_steps_per_epoch: int | None = Field(None, ge=1)
    """Cap on batches per epoch (quick runs); null: the sampler's epoch."""
    lr: float = Field(3.5e-4, gt=0)
    """Adam learning rate after warm-up."""
    weight_decay: float = Field(5e-4, ge=0)
    """Adam weight decay."""
    warmup_epochs: int = Field(10, ge=0)
    """Linear warm-up from lr/10 (BoT)."""
    milestones: list[int] = [40, 70]
    """Epochs at which the learning rate drops by 10x."""
    triplet_margin: float | None = 0.3
    """Batch-hard triplet margin; null: soft margin."""
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    """Epsilon of the label-smoothed cross-entropy."""
    cal_start_epoch: int = Field(25, ge=0)
    """CAL: epoch at which the clothes-adversarial loss starts (CAL's code: 25)."""
    protocol: str | None = None
    """Evaluation protocol run on the test split after epochs (null: none)."""
    refine_with: StoragePath | None = None
    """`generated` table of outfit changes of the query images: evaluate with DLCR's test-time
    prediction refinement (null: plain ranking)."""
    refine_versions: int = Field(4, ge=1)
    """Generated versions per query the refinement uses (DLCR, arXiv 2411.07205: N = 4): the
    first by seed, then image id, of those `refine_with` holds."""
    eval_every: int = Field(5, ge=1)
    """Evaluate every this many epochs, and after the last."""
    loader_workers: int = Field(0, ge=0)
    """DataLoader processes per Ray Train worker."""
    name: str = "reid"
    """Run name (see `RayTrainRun.name`)."""
    seed: int = 0
    """Seed of sampling, augmentation and initialisation."""

    resumable: ClassVar[tuple[str, ...]] = (*RayTrainRun.resumable, "epochs", "eval_every",
                                            "loader_workers")

    @model_validator(mode="after")
    def _synthetic_alone_needs_synthetic_classes(self):
        if not self.real_images and (self.synthetic is None or self.mixing != "extra_classes"):
            raise ValueError("real_images false trains on synthetic images alone: set "
                             "`synthetic` (a generated table) and `mixing: extra_classes`")
        return self

    @model_validator(mode="after")
    def _source_identities_are_classes(self):
        if self.source_images is not None and (self.synthetic is None
                                               or self.mixing != "extra_classes"):
            raise ValueError("source_images (DiVE's added identities) joins the synthetic "
                             "images' classes: set `synthetic` and `mixing: extra_classes`")
        return self

    @model_validator(mode="after")
    def _imagenet_needs_an_imagenet_arch(self):
        if self.pretrained == "imagenet" and self.arch not in IMAGENET_WEIGHTS:
            raise ValueError(f"pretrained 'imagenet': arch {self.arch!r} has no ImageNet "
                             f"weights; use one of {sorted(IMAGENET_WEIGHTS)} or pretrained null")
        return self


class SweepConfig(StrictModel):
    """An ASHA sweep (Ray Tune) over training settings; each trial is a Ray Train run."""

    train: TrainConfig
    """The base training run; swept fields override it per trial."""
    lr: tuple[float, float] | None = (1e-4, 1e-3)
    """Log-uniform range of the learning rate; null keeps the base value."""
    weight_decay: tuple[float, float] | None = (1e-5, 1e-3)
    """Log-uniform range of the weight decay; null keeps the base value."""
    synthetic_ratio: list[float] | None = None
    """Choices of the synthetic-data ratio; null keeps the base value."""
    filter_threshold: list[float] | None = None
    """Choices of the synthetic filter threshold; null keeps the base value."""
    samples: int = Field(8, ge=1)
    """Trials to run."""
    max_concurrent: int = Field(1, ge=1)
    """Trials running at once (each holds its Ray Train workers)."""
    grace_period: int = Field(1, ge=1)
    """Epochs every trial runs before ASHA may stop it."""
    reduction_factor: int = Field(2, ge=2)
    """ASHA keeps the best 1/reduction_factor at each rung."""
    metric: str = "mAP"
    """Metric ASHA maximises (reported by every epoch's evaluation)."""
    storage_path: StoragePath = Path("runs")
    """Where the sweep keeps its state; an interrupted sweep resumes from there."""
    name: str = "sweep"
    """Sweep name: running again with the same storage_path and name resumes it."""
    seed: int = 0
    """Seed of the search."""

    # A restored sweep keeps its search space and trials: every other field decides the sweep.
    resumable: ClassVar[tuple[str, ...]] = ("storage_path", "name")

    @model_validator(mode="after")
    def _needs_a_protocol(self):
        if not self.train.protocol:
            raise ValueError("train.protocol must name an evaluation protocol: ASHA needs a metric")
        return self


CONFIGS: dict[str, type[StrictModel]] = {
    "toy_world": ToyWorldConfig,
    "ingest": IngestConfig,
    "demo": DemoConfig,
    "train": TrainConfig,
    "sweep": SweepConfig,
    "describe": DescribeConfig,
    "adapt": AdaptConfig,
    "generation_job": GenerationJobConfig,
}
# Re-exported so callers import every config name from one place.
__all__ = ["CONFIGS", "ConfigError", "StrictModel", "apply_overrides", "load_config", "make_config",
           *(model.__name__ for model in CONFIGS.values())]


def export_json_schemas(folder: Path = JSON_DIR) -> list[Path]:
    """Write one JSON Schema file per config model; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in CONFIGS.items():
        path = folder / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
