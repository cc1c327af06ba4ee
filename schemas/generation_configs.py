"""Configuration of a generation job: describe -> plan -> generate -> filter (ARCHITECTURE.md).

One `GenerationJobConfig` names the method, the input tables, the output folder and the models;
its sections configure each stage. Everything that changes a generated image (the recipe, the
method's plan settings, the models) goes into the task ids, so changing it plans new tasks.
"""

import re
from typing import Literal

from pydantic import Field, model_validator

from factory.methods import METHOD_NAMES, METHODS
from schemas.config_base import StoragePath, StrictModel
from schemas.describe_config import DescribeConfig

Split = Literal["train", "val", "test"]
Role = Literal["train", "query", "gallery"]


class RecipeConfig(StrictModel):
    """Diffusion settings of every task of the job (they enter each task's id)."""

    height: int = Field(512, ge=16, le=2048)
    """Height the pipeline runs at, in pixels (a multiple of the VAE's downscale)."""
    width: int = Field(256, ge=16, le=2048)
    """Width the pipeline runs at, in pixels."""
    steps: int = Field(50, ge=1, le=1000)
    """Denoising steps."""
    guidance: float = Field(7.5, ge=0.0)
    """Classifier-free guidance scale (1 or less turns guidance off)."""
    scheduler: Literal["ddim", "dpmsolver++", "euler"] = "ddim"
    """Sampler swapped into the pipeline (DiVE: dpmsolver++)."""
    negative_prompt: str = ""
    """Negative prompt of every task ("" for none, as DLCR)."""
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    """Precision the pipeline runs in (float16 on GPUs for speed; float32 on CPU)."""


class DlcrPlanConfig(StrictModel):
    """DLCR: outfit changes of real images by clothes inpainting."""

    targets_per_image: int = Field(10, ge=1)
    """Target outfits per source image, drawn from the other outfits of the training set
    (fewer when the set has fewer)."""
    strength: float = Field(1.0, gt=0.0, le=1.0)
    """Inpainting strength (DLCR: 1.0, the clothes are fully re-drawn)."""
    source_roles: list[Role] = ["train"]
    """Roles of the source images; add `query` for the outfit changes that DLCR's test-time
    refinement needs."""


class DivePlanConfig(StrictModel):
    """DiVE: identity-consistent images per target modality or camera."""

    targets: list[str] = ["rgb", "ir"]
    """Target code names: a modality (`rgb`, `ir`) or a modality and camera (`ir3`), as the
    adapter set names its codes; image k of every target shares its seed, so targets form
    identity-consistent pairs."""
    images_per_target: int = Field(18, ge=1)
    """Images per identity and target (DiVE: 18 per IR camera)."""
    identities: Literal["dataset", "source", "all"] = "dataset"
    """Whose images to make: the dataset's own identities (synthetic images of existing
    classes), the adapter set's added `source` identities (DiVE's expansion: new classes,
    e.g. Market-1501 people in the VI dataset's IR cameras), or `all` of them."""

    @model_validator(mode="after")
    def _code_names(self):
        bad = [name for name in self.targets if not re.fullmatch(r"(rgb|ir)\d*", name)]
        if bad or not self.targets:
            raise ValueError(f"targets must be code names like rgb, ir, ir3; got {self.targets}")
        return self


class DiffusionReidPlanConfig(StrictModel):
    """Diffusion-ReID: Language Prompt Enhancement plus Diversity Injection."""

    images_per_identity: int = Field(150, ge=1)
    """Images per identity (Diff-Person: about 150)."""
    mode: Literal["img2img", "text2img"] = "img2img"
    """Start from a real image of the identity (img2img) or from noise (text2img)."""
    strengths: list[float] = [0.6, 0.75, 0.9]
    """img2img strengths drawn per task (a few levels, so batches share one)."""
    noise_scale: tuple[float, float] = (0.95, 1.05)
    """text2img: range of the factor on the initial noise, drawn per task."""
    viewpoints: list[str] = ["front view", "back view", "side view"]
    """Viewpoint words, one drawn per task."""
    poses: list[str] = ["walking", "standing", "running"]
    """Pose words, one drawn per task."""
    backgrounds: list[str] = ["on a street", "in a corridor", "in a park", "on a campus"]
    """Background words, one drawn per task."""
    illuminations: list[str] = ["daylight", "dim light", "overcast", "at night"]
    """Illumination words, one drawn per task."""
    injection: Literal["none", "prompt_swap", "noise"] = "none"
    """Diversity Injection inside the denoising loop, at step `injection_at`: `prompt_swap`
    denoises with the attribute words (viewpoint, pose, background, illumination: the coarse
    layout) until then and with the identity prompt alone (token + caption: the appearance)
    after; `noise` adds fresh seeded noise of std `injection_noise` to the latents there;
    `none`: words and noise factor only. Recorded in each task's params."""
    injection_at: float = Field(0.4, gt=0.0, lt=1.0)
    """Where the injection happens, as a share of the denoising steps run."""
    injection_noise: float = Field(0.1, gt=0.0)
    """`noise`: std of the injected noise, in latent units."""

    @model_validator(mode="after")
    def _valid_ranges(self):
        if not all(0.0 < s <= 1.0 for s in self.strengths) or not self.strengths:
            raise ValueError(f"strengths must be in (0, 1], got {self.strengths}")
        low, high = self.noise_scale
        if not 0.0 < low <= high:
            raise ValueError(f"noise_scale must be 0 < low <= high, got {self.noise_scale}")
        words = self.viewpoints + self.poses + self.backgrounds + self.illuminations
        if commas := [word for word in words if "," in word]:  # prompts split on commas
            raise ValueError(f"attribute words may not hold a comma: {commas}")
        return self


class PlanConfig(StrictModel):
    """The task table: which images to make and how (polars, vectorised)."""

    recipe: RecipeConfig = RecipeConfig()
    """Diffusion settings shared by all tasks."""
    splits: list[Split] = ["train"]
    """Splits of the `images` table whose identities (and source images) are used."""
    max_identities: int | None = Field(None, ge=1)
    """Use only the first this many identities (by pid); null: all."""
    seed: int = 0
    """Seed of every draw (targets, words, seeds); each task's seed also hashes its inputs."""
    dlcr: DlcrPlanConfig = DlcrPlanConfig()
    """DLCR settings."""
    dive: DivePlanConfig = DivePlanConfig()
    """DiVE settings."""
    diffusion_reid: DiffusionReidPlanConfig = DiffusionReidPlanConfig()
    """Diffusion-ReID settings."""


class GenerateConfig(StrictModel):
    """Running the tasks on Ray Data: actor pool, batches, output files."""

    actors: int = Field(1, ge=1)
    """Actors in the pool, each holding one pipeline (one per GPU on a cluster)."""
    gpus_per_actor: float = Field(0.0, ge=0.0)
    """GPUs each actor asks Ray for; 0 runs on CPU."""
    cpus_per_actor: float = Field(1.0, gt=0.0)
    """CPUs each actor asks Ray for."""
    batch_size: int = Field(4, ge=1)
    """Tasks per pipeline call."""
    image_format: Literal["jpg", "png"] | None = None
    """File format of the generated images; null: the method's own (`factory/methods.py`):
    png for DLCR, whose pixels outside the clothes mask must stay byte-equal to the source's,
    jpg for the text-to-image methods, whose every pixel is generated."""
    jpeg_quality: int = Field(95, ge=1, le=100)
    """JPEG quality (when the format is jpg)."""
    manifest_rows: int = Field(1024, ge=1)
    """Rows per manifest file: each file commits that many images at once (bigger files,
    fewer of them; smaller, less work redone after a crash)."""


class FilterConfig(StrictModel):
    """Scoring each generated image with a ReID model trained on the real training split."""

    min_confidence: float | None = Field(0.5, ge=0.0, le=1.0)
    """Keep an image only if the scorer's softmax probability of its pid is at least this
    (checked where the pid is one of the scorer's classes); null: not checked."""
    min_similarity: float | None = Field(None, ge=-1.0, le=1.0)
    """Keep an image only if the cosine similarity of its feature to the centroid of its
    identity's real images is at least this; null: no absolute threshold."""
    similarity_quantile: float | None = Field(0.1, gt=0.0, lt=1.0)
    """Calibrated similarity threshold: keep an image only if it is at least as similar to its
    identity's centroid as this quantile of the identity's real images are (each held out of
    the centroid); null: not calibrated. With `min_similarity` too, the stricter one holds."""
    reference: Literal["real", "sources"] = "real"
    """The images each identity's centroid is made of: its `real` images (and, for DiVE's
    added people, their source dataset's), or the job's `sources`: the identity-token images
    of `source_generated` (DLCR x DiVE: an outfit change is compared with the DiVE images of
    its person)."""
    actors: int = Field(1, ge=1)
    """Scoring actors."""
    gpus_per_actor: float = Field(0.0, ge=0.0)
    """GPUs each scoring actor asks Ray for."""
    cpus_per_actor: float = Field(1.0, gt=0.0)
    """CPUs each scoring actor asks Ray for."""
    batch_size: int = Field(64, ge=1)
    """Images per scoring batch."""


class GenerationJobConfig(StrictModel):
    """A generation job: describe -> plan -> generate -> filter for one method."""

    method: Literal[METHOD_NAMES]
    """Generation method (ARCHITECTURE.md)."""
    images: StoragePath
    """`images` table of the real dataset (from `factory ingest`)."""
    prompts: StoragePath
    """`prompts` table: written by describe, read by plan."""
    out: StoragePath
    """Job folder: tasks.parquet, generated/ and failed/ manifests, images/, scores/."""
    model: str
    """Diffusers pipeline folder or hub id: SD-inpainting for DLCR, SD-1.5 otherwise."""
    adapters: StoragePath | None = None
    """Identity-token + LoRA adapter folder (from adapt); null: caption prompts, no tokens."""
    masks: StoragePath | None = None
    """DLCR parser role, ground truth: a `parsing_masks` table (the dataset's own LIP masks)."""
    parser: str | None = None
    """DLCR parser role, a model: a transformers semantic-segmentation folder or hub id with
    LIP/ATR label names (used when `masks` is null)."""
    scorer: StoragePath | None = None
    """ReID checkpoint folder (from `factory train` on the real train split) for the filter."""
    source_generated: StoragePath | None = None
    """DLCR x DiVE: another job's `generated` table (e.g. a DiVE job's `<out>/generated`) whose
    images DLCR changes the clothes of, instead of the real images; target outfits are every
    clothing prompt of `prompts` (any clothes-changing dataset's), and with `adapters` (the
    DiVE adapter set) each prompt is the source image's own followed by the clothing items."""
    source_scores: StoragePath | None = None
    """`scores` table of `source_generated`: only its kept images are sources; null: all."""
    describe: DescribeConfig = DescribeConfig()
    """Describe stage (prompts)."""
    plan: PlanConfig = PlanConfig()
    """Plan stage (tasks)."""
    generate: GenerateConfig = GenerateConfig()
    """Generate stage (images and manifests)."""
    filter: FilterConfig = FilterConfig()
    """Filter stage (scores)."""

    @property
    def image_format(self) -> str:
        """File format of the generated images: `generate.image_format`, or the method's own."""
        return self.generate.image_format or METHODS[self.method].image_format

    @model_validator(mode="after")
    def _sources_are_dlcrs(self):
        if self.source_generated is not None and self.method != "dlcr":
            raise ValueError("source_generated (generated images as sources) is for method "
                             "'dlcr' (outfit changes of another method's images)")
        if self.filter.reference == "sources" and self.source_generated is None:
            raise ValueError("filter.reference 'sources' compares images with the job's source "
                             "images: set `source_generated`")
        return self

    @model_validator(mode="after")
    def _dlcr_needs_a_parser(self):
        if self.method == "dlcr" and self.masks is None and self.parser is None:
            raise ValueError("method 'dlcr' needs clothes masks: set `masks` (a "
                             "parsing_masks table) or `parser` (a segmentation model)")
        return self

