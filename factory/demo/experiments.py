"""The demo's three experiments: does each method's synthetic data make ReID better?

Every comparison trains the same model with the same budget and seeds on both sides and scores it
with the method's own protocol (ARCHITECTURE.md):
- DLCR on toy LTCC: CAL on real images vs real + DLCR outfit changes (progressive schedule),
  clothes-changing rank-1/mAP, each with and without test-time prediction refinement;
- DiVE on toy LLCM: CAJ on real vs real + DiVE images (identity token + modality LoRA),
  visible->infrared and infrared->visible;
- Diffusion-ReID on toy Market-1501: BoT pre-trained on synthetic identities (people of another
  toy world), fine-tuned on the real train split, vs the same fine-tune from scratch.
The first seed's real-only model is also the filter's scorer.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from factory.demo.settings import FILTER_SIMILARITY_QUANTILE, DemoSizes
from factory.demo.worlds import SOURCE_WORLD, World
from factory.reid.checkpoint import load_checkpoint
from factory.train.evaluation import evaluate_model
from factory.train.pretraining import pretrain_then_finetune, synthetic_images_table
from factory.train.run import train
from schemas.configs import TrainConfig
from schemas.generation_configs import GenerationJobConfig


@dataclass
class Lab:
    """What every experiment shares: where to write, sizes, worlds, the toy SD, timings."""

    out: Path
    seed: int
    sizes: DemoSizes
    worlds: dict[str, World]
    toy_sd: Path
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, stage: str):
        start = time.perf_counter()
        yield
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start

    @property
    def seeds(self) -> list[int]:
        return [self.seed + k for k in range(self.sizes.seeds)]


@dataclass
class Experiment:
    """One method's results: rows of the results table and the generation job's folder."""

    method: str
    protocol: str
    job: Path
    rows: list[dict] = field(default_factory=list)

    def add(self, training: str, seed: int, metrics: dict, *, refinement: bool = False) -> None:
        self.rows.append({"method": self.method, "protocol": self.protocol,
                          "training": training, "refinement": refinement, "seed": seed,
                          **metrics})


def per_seed(lab: Lab, run) -> dict:
    """`run(seed)` for every training seed at once (each Ray Train worker asks for one CPU, so
    two seeds keep two cores busy); returns {seed: result}."""
    with ThreadPoolExecutor(max_workers=len(lab.seeds)) as pool:
        futures = {seed: pool.submit(run, seed) for seed in lab.seeds}
        return {seed: future.result() for seed, future in futures.items()}


def run_config(lab: Lab, name: str, images: Path, *, seed: int, **fields) -> TrainConfig:
    """One ReID run of the demo's size (its name carries the seed)."""
    return TrainConfig(images=images, storage_path=lab.out / "runs", name=f"{name}-seed{seed}",
                       seed=seed, **lab.sizes.reid | fields)


def train_run(lab: Lab, name: str, images: Path, *, seed: int, **fields) -> Path:
    """Train one ReID run (Ray Train); returns its last checkpoint folder."""
    checkpoint, _ = train(run_config(lab, name, images, seed=seed, **fields))
    return checkpoint


def train_runs(lab: Lab, name: str, images: Path, **fields) -> dict[int, Path]:
    """`train_run` for every training seed, concurrently; returns {seed: checkpoint}."""
    with lab.timed("reid training"):
        return per_seed(lab, lambda seed: train_run(lab, name, images, seed=seed, **fields))


def score(lab: Lab, checkpoint: Path, world: World, *, refine_with: Path | None = None) -> dict:
    """Test metrics of a checkpoint with the world's own protocol (optionally DLCR's TTPR)."""
    size = (lab.sizes.reid["height"], lab.sizes.reid["width"])
    with lab.timed("evaluation"):
        return evaluate_model(load_checkpoint(checkpoint), world.images, world.layout, size=size,
                              device="cpu", refine_with=refine_with)


def generation_job(lab: Lab, method: str, world: World, *, kind: str, scorer: Path,
                   plan: dict, adapters: Path | None = None) -> Path:
    """describe -> plan -> generate -> filter for `method` on `world`; returns the job folder."""
    from factory.job import run_job
    from factory.laptop.toy_sd.build import toy_sd_path

    job = lab.out / "generation" / method
    config = GenerationJobConfig(
        method=method, images=world.images, out=job, model=str(toy_sd_path(lab.toy_sd, kind)),
        prompts=lab.out / "tables" / f"{world.root.name}.prompts.parquet", adapters=adapters,
        masks=world.masks if method == "dlcr" else None, scorer=scorer,
        describe={"backend": "attributes", "descriptions": world.descriptions,
                  "kinds": ["clothing"] if method == "dlcr" else ["caption"]},
        plan={"recipe": lab.sizes.recipe, "seed": lab.seed, **plan},
        generate={"batch_size": 4, "actors": lab.sizes.generate_actors},
        filter={"min_confidence": None, "similarity_quantile": FILTER_SIMILARITY_QUANTILE})
    with lab.timed(f"generation ({method})"):
        run_job(config)
    return job


def dlcr(lab: Lab) -> Experiment:
    world = lab.worlds["ltcc"]
    real = train_runs(lab, "dlcr-real", world.images, model="cal")
    plan = {"splits": ["train", "test"],
            "dlcr": {"targets_per_image": lab.sizes.dlcr_targets,
                     "source_roles": ["train", "query"]}}
    job = generation_job(lab, "dlcr", world, kind="inpaint", scorer=real[lab.seed], plan=plan)
    experiment = Experiment("DLCR", "ltcc", job)
    mixed = train_runs(lab, "dlcr-synthetic", world.images, model="cal",
                       synthetic=job / "generated", scores=job / "scores", mixing="progressive")
    for seed in lab.seeds:
        for training, checkpoint in (("real only", real[seed]), ("real + DLCR", mixed[seed])):
            experiment.add(training, seed, score(lab, checkpoint, world))
            experiment.add(training, seed, score(lab, checkpoint, world,
                                                 refine_with=job / "generated"),
                           refinement=True)
    return experiment


def dive(lab: Lab) -> Experiment:
    from factory.adapt.stage import run_adapt
    from factory.laptop.toy_sd.build import toy_sd_path
    from schemas.diffusion_configs import AdaptConfig

    world = lab.worlds["llcm"]
    real = train_runs(lab, "dive-real", world.images, model="caj")
    adapt = AdaptConfig(model=str(toy_sd_path(lab.toy_sd, "text2img")), images=world.images,
                        out=lab.out / "adapters" / "llcm", storage_path=lab.out / "runs",
                        name="adapt-llcm", seed=lab.seed, **lab.sizes.adapt)
    with lab.timed("adapt"):
        run_adapt(adapt)
    plan = {"dive": {"images_per_target": lab.sizes.dive_images}}
    job = generation_job(lab, "dive", world, kind="text2img", scorer=real[lab.seed], plan=plan,
                         adapters=adapt.out)
    experiment = Experiment("DiVE", "llcm", job)
    mixed = train_runs(lab, "dive-synthetic", world.images, model="caj",
                       synthetic=job / "generated", scores=job / "scores", mixing="extra_classes")
    for seed in lab.seeds:
        experiment.add("real only", seed, score(lab, real[seed], world))
        experiment.add("real + DiVE", seed, score(lab, mixed[seed], world))
    return experiment


def diffusion_reid(lab: Lab) -> Experiment:
    world, source = lab.worlds["market1501"], lab.worlds[SOURCE_WORLD]
    scratch = train_runs(lab, "diffusion-reid-scratch", world.images)
    plan = {"diffusion_reid": {"images_per_identity": lab.sizes.diffusion_reid_images}}
    job = generation_job(lab, "diffusion_reid", source, kind="img2img",
                         scorer=scratch[lab.seed], plan=plan)
    experiment = Experiment("Diffusion-ReID", "market1501", job)
    synthetic_set = synthetic_images_table(job, lab.out / "tables" / "synthetic.images.parquet",
                                           source_images=source.images)

    def pretrain_then_finetune_seed(seed: int) -> Path:
        return pretrain_then_finetune(
            run_config(lab, "diffusion-reid-pretrain", synthetic_set, seed=seed,
                       epochs=lab.sizes.pretrain_epochs),
            run_config(lab, "diffusion-reid-finetune", world.images, seed=seed))

    with lab.timed("reid training"):
        finetuned = per_seed(lab, pretrain_then_finetune_seed)
    for seed in lab.seeds:
        experiment.add("real only (from scratch)", seed, score(lab, scratch[seed], world))
        experiment.add("synthetic pre-training + real", seed, score(lab, finetuned[seed], world))
    return experiment


EXPERIMENTS = {"dlcr": dlcr, "dive": dive, "diffusion_reid": diffusion_reid}
