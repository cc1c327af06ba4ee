"""The demo's three experiments: does each method's synthetic data make ReID better, and how much
better could perfect synthetic data make it?

Every comparison trains the same model with the same budget and seeds in three arms: real only,
real + the method's kept images, and real + the toy world's oracle (the perfect version of the
method's images, one per planned task: `factory.laptop.toyworld.oracle`), and scores each with
the method's own protocol (ARCHITECTURE.md):
- DLCR on toy LTCC: CAL, outfit changes joining by the progressive schedule; clothes-changing
  rank-1/mAP, each with and without test-time prediction refinement;
- DiVE on toy LLCM: CAJ, images of the training identities in both modalities (identity token
  + modality LoRA); visible->infrared and infrared->visible;
- Diffusion-ReID on toy Market-1501: BoT pre-trained on synthetic identities (people of another
  toy world), fine-tuned on the real train split, vs the same fine-tune from scratch.
The first seed's real-only model is also the filter's scorer. A filter that keeps nothing the
method's arm can train on is a result (`Experiment.missing`), not an error.
"""

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from tqdm import tqdm

from factory.demo.figures import scored_images
from factory.demo.settings import FILTER_SIMILARITY_QUANTILE, DemoSizes
from factory.demo.worlds import SOURCE_WORLD, World
from factory.generate.manifest import GENERATED_DIR, SCORES_DIR
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
    def timed(self, stage: str, *, steps: int = 0, name: str | None = None):
        """Time `stage` (its calls added up); with `steps`, show one progress bar, `name` (else
        the stage), that the block advances (it gets the bar)."""
        start = time.perf_counter()
        with tqdm(total=steps, desc=name or stage, unit="step", disable=not steps,
                  bar_format="{desc}: {n_fmt}/{total_fmt} [{elapsed}]") as bar:
            yield bar
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start

    @property
    def seeds(self) -> list[int]:
        return [self.seed + k for k in range(self.sizes.seeds)]


ARMS = ("real", "method", "oracle")


@dataclass
class Experiment:
    """One method's results: rows of the results table, the generation job's and the oracle's
    folders, and the arms that have no runs with the reason."""

    method: str
    protocol: str
    job: Path
    trainings: dict[str, str] = field(default_factory=dict)  # each arm's training, in words
    rows: list[dict] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        self.trainings = {"real": "real only", "method": f"real + {self.method}",
                          "oracle": "real + oracle"} | self.trainings

    def add(self, arm: str, seed: int, metrics: dict, *, refinement: bool = False) -> None:
        self.rows.append({"method": self.method, "protocol": self.protocol, "arm": arm,
                          "training": self.trainings[arm], "refinement": refinement,
                          "seed": seed, **metrics})


def kept_problem(job: Path, *, min_identities: int = 1) -> str | None:
    """Why the images the filter kept in `job` cannot train the method's arm; None: they can."""
    kept = scored_images(job).filter(pl.col("kept"))
    if kept.is_empty():
        return "no images kept"
    identities = kept["pid"].n_unique()
    if identities < min_identities:
        return f"kept images of {identities} identity, too few (a PK batch needs {min_identities})"
    return None


def oracle_images(lab: Lab, job: Path, world: World) -> Path:
    """The toy world's perfect image of every task of `job`; returns its `generated` table."""
    from factory.laptop.toyworld.oracle import render_oracle

    with lab.timed("oracle rendering", steps=1, name=f"oracle rendering ({job.name})") as bar:
        oracle = render_oracle(job, world.config, world.images, lab.out / "oracle" / job.name)
        bar.update(1)
    return oracle


def synthetic_arms(experiment: Experiment, oracle: Path, train_arm, *,
                   min_identities: int = 1) -> dict[str, dict[int, Path]]:
    """`train_arm(arm, generated, scores)` for the method's arm (left out, with the reason, when
    the filter kept nothing it can train on) and the oracle's; returns {arm: {seed: model}}."""
    job, runs = experiment.job, {}
    problem = kept_problem(job, min_identities=min_identities)
    if problem is None:
        runs["method"] = train_arm("method", job / GENERATED_DIR, job / SCORES_DIR)
    else:
        experiment.missing["method"] = problem
    runs["oracle"] = train_arm("oracle", oracle, None)
    return runs


def mixed_arms(lab: Lab, experiment: Experiment, world: World, real: dict[int, Path],
               oracle: Path, **fields) -> dict[str, dict[int, Path]]:
    """Real only, and real + the method's or the oracle's images joined as `fields` say (model,
    mixing); returns {arm: {seed: model}}."""
    name = experiment.job.name
    return {"real": real} | synthetic_arms(experiment, oracle, lambda arm, generated, scores:
                                           train_runs(lab, f"{name}-{arm}", world.images,
                                                      synthetic=generated, scores=scores,
                                                      **fields))


def per_seed(lab: Lab, run, name: str) -> dict:
    """`run(seed)` for every training seed at once (each Ray Train worker asks for one CPU, so
    two seeds keep two cores busy), under one progress bar `name`; returns {seed: result}."""
    with lab.timed("reid training", steps=len(lab.seeds), name=name) as bar, \
            ThreadPoolExecutor(max_workers=len(lab.seeds)) as pool:
        futures = {seed: pool.submit(run, seed) for seed in lab.seeds}
        for _ in as_completed(futures.values()):
            bar.update(1)
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
    return per_seed(lab, lambda seed: train_run(lab, name, images, seed=seed, **fields),
                    f"reid training {name}")


def score(lab: Lab, checkpoint: Path, world: World, *, refine_with: Path | None = None) -> dict:
    """Test metrics of a checkpoint with the world's own protocol (optionally DLCR's TTPR)."""
    size = (lab.sizes.reid["height"], lab.sizes.reid["width"])
    with lab.timed("evaluation"):
        return evaluate_model(load_checkpoint(checkpoint), world.images, world.layout, size=size,
                              device="cpu", refine_with=refine_with)


def generation_job(lab: Lab, method: str, world: World, *, kind: str, scorer: Path | None,
                   plan: dict, adapters: Path | None = None,
                   stages: tuple[str, ...] | None = None) -> Path:
    """describe -> plan -> generate -> filter (or only `stages` of them: describe and plan are
    all the oracle needs) for `method` on `world`; returns the job folder."""
    from factory.job import STAGES, run_job

    stages = stages or STAGES
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
    with lab.timed(f"generation ({method})", steps=len(stages)) as bar:
        for stage in stages:
            bar.set_postfix_str(stage)
            run_job(config, (stage,))
            bar.update(1)
    return job


def dlcr_plan(lab: Lab) -> dict:
    """DLCR's plan: outfit changes of the train and query images (the latter for refinement)."""
    return {"splits": ["train", "test"],
            "dlcr": {"targets_per_image": lab.sizes.dlcr_targets,
                     "source_roles": ["train", "query"]}}


def dive_plan(lab: Lab) -> dict:
    """DiVE's plan: images of every training identity in each target modality."""
    return {"dive": {"images_per_target": lab.sizes.dive_images}}


def dlcr(lab: Lab) -> Experiment:
    world = lab.worlds["ltcc"]
    real = train_runs(lab, "dlcr-real", world.images, model="cal")
    job = generation_job(lab, "dlcr", world, kind="inpaint", scorer=real[lab.seed],
                         plan=dlcr_plan(lab))
    oracle = oracle_images(lab, job, world)
    experiment = Experiment("DLCR", "ltcc", job)
    runs = mixed_arms(lab, experiment, world, real, oracle, model="cal", mixing="progressive")
    # Test-time refinement with the arm's own outfit changes (the real arm: the method's).
    refined_with = {"real": job / GENERATED_DIR, "method": job / GENERATED_DIR, "oracle": oracle}
    for seed in lab.seeds:
        for arm, models in runs.items():
            experiment.add(arm, seed, score(lab, models[seed], world))
            experiment.add(arm, seed, score(lab, models[seed], world,
                                            refine_with=refined_with[arm]), refinement=True)
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
    with lab.timed("adapt", steps=1, name="adapt (DiVE identity tokens + modality LoRA)") as bar:
        run_adapt(adapt)
        bar.update(1)
    job = generation_job(lab, "dive", world, kind="text2img", scorer=real[lab.seed],
                         plan=dive_plan(lab), adapters=adapt.out)
    oracle = oracle_images(lab, job, world)
    experiment = Experiment("DiVE", "llcm", job)
    runs = mixed_arms(lab, experiment, world, real, oracle, model="caj", mixing="extra_classes")
    for seed in lab.seeds:
        for arm, models in runs.items():
            experiment.add(arm, seed, score(lab, models[seed], world))
    return experiment


def diffusion_reid(lab: Lab) -> Experiment:
    world, source = lab.worlds["market1501"], lab.worlds[SOURCE_WORLD]
    scratch = train_runs(lab, "diffusion-reid-scratch", world.images)
    plan = {"diffusion_reid": {"images_per_identity": lab.sizes.diffusion_reid_images}}
    job = generation_job(lab, "diffusion_reid", source, kind="img2img",
                         scorer=scratch[lab.seed], plan=plan)
    oracle = oracle_images(lab, job, source)
    experiment = Experiment("Diffusion-ReID", "market1501", job, {
        "real": "real only (from scratch)", "method": "synthetic pre-training + real",
        "oracle": "oracle pre-training + real"})

    def pretrain_arm(arm: str, generated: Path, scores: Path | None) -> dict[int, Path]:
        synthetic_set = synthetic_images_table(
            generated, lab.out / "tables" / f"synthetic-{arm}.images.parquet",
            source_images=source.images, scores=scores)

        def pretrain_then_finetune_seed(seed: int) -> Path:
            return pretrain_then_finetune(
                run_config(lab, f"diffusion-reid-pretrain-{arm}", synthetic_set, seed=seed,
                           epochs=lab.sizes.pretrain_epochs),
                run_config(lab, f"diffusion-reid-finetune-{arm}", world.images, seed=seed))

        return per_seed(lab, pretrain_then_finetune_seed,
                        f"reid training diffusion-reid-pretrain+finetune-{arm}")

    # Pre-training on synthetic identities alone: a PK batch needs two of them.
    runs = {"real": scratch} | synthetic_arms(experiment, oracle, pretrain_arm, min_identities=2)
    for seed in lab.seeds:
        for arm, models in runs.items():
            experiment.add(arm, seed, score(lab, models[seed], world))
    return experiment


EXPERIMENTS = {"dlcr": dlcr, "dive": dive, "diffusion_reid": diffusion_reid}
