"""The `factory` command: one sub-command per stage, plus the toy world and the demo.

Heavy libraries are imported inside the command that needs them, so `factory --help` is instant.
"""

import argparse
import sys
from pathlib import Path

STAGES = """\
pipeline (ARCHITECTURE.md):
  ingest     dataset on disk -> images table                    (available)
  describe   clothing items / identity captions -> prompts      (available)
  adapt      identity tokens + modality LoRA (Ray Train)        (available)
  plan       deterministic task table                           (available)
  generate   diffusers pipelines on Ray Data actors             (available)
  filter     ReID confidence of each generated image            (available)
  train/tune ReID models on real + kept synthetic data          (available)
  evaluate   the dataset's own protocol: CMC, mAP, mINP         (during train/tune)
  export     Market-1501-style folder + Parquet with image bytes (available)
  audit      a generation folder: exactly once, whole images, no leftovers
models:
  models pull  every model a config names, into one cache, revisions pinned (models.lock.json)
  models tiny  tiny random stand-ins of every real model, and the --set lines that swap them in
  toy-model    the toy Stable Diffusion (text2img + inpainting), trained on the toy world
"""


def _toy_render(args) -> int:
    from schemas.config_base import read_yaml
    from schemas.configs import ToyWorldConfig, make_config

    options = {"layout": args.layout, "seed": args.seed, "train_identities": args.train_ids,
               "test_identities": args.test_ids, "outfits": args.outfits,
               "workers": args.workers}
    given = {key: value for key, value in options.items() if value is not None}  # None: not given
    fields = read_yaml(args.config) if args.config else {}
    config = make_config(ToyWorldConfig, fields | given, source=args.config or "command line")
    from factory.laptop.toyworld.layouts import render_layout

    root = render_layout(config, Path(args.out), progress=True)
    print(f"wrote the toy world ({config.layout}, seed {config.seed}) to {root}")
    return 0


def _toy_sheet(args) -> int:
    from factory.laptop.toyworld.contact_sheet import contact_sheet

    path = contact_sheet(args.seed, Path(args.out), identities=args.identities)
    print(f"wrote {path}")
    return 0


def _ingest(args) -> int:
    from factory.ingest.stage import ingest, summarize

    table = ingest(args.dataset, args.root, args.out, progress=True, verify=not args.no_verify)
    print(summarize(table))
    print(f"wrote {table.num_rows} rows to {args.out}")
    return 0


def _validate(args) -> int:
    from factory.table_io import read_table

    table = read_table(args.file, args.table)
    if args.table == "images":
        from factory.ingest.datasets import check_cameras

        check_cameras(table, source=args.file)
    print(f"{args.file}: valid {args.table!r} table, {table.num_rows} rows")
    return 0


def _schemas_export(args) -> int:
    from schemas.configs import export_json_schemas

    for path in export_json_schemas(Path(args.out)):
        print(f"wrote {path}")
    return 0


def _demo(args) -> int:
    from factory.demo import run_demo
    from schemas.configs import DemoConfig, make_config

    config = make_config(DemoConfig, {"out": args.out, "seed": args.seed, "quick": args.quick,
                                      "verbose": args.verbose}, source="command line")
    report = run_demo(config)
    print(f"report: {report}")
    return 0


def _add_overrides(command, example: str, smoke: str) -> None:
    command.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help=f"override a field by its dotted path, e.g. {example}; VALUE is "
                              f"read as YAML (null sets the field to null); repeatable")
    command.add_argument("--smoke", action="store_true", help=smoke)


def _add_restart(command) -> None:
    command.add_argument("--restart", action="store_true",
                         help="delete the run of this name and start it over (a re-run under "
                              "the same name with a changed config is refused otherwise)")


# Each config-file command's --smoke presets: the prefix of their paths -> the preset's name.
SMOKE_PRESETS = {"train": {"": "train"}, "pretrain": {"": "train"},
                 "tune": {"": "sweep", "train.": "train"},
                 "adapt": {"": "adapt"}, "plan": {"": "generation"},
                 "generate": {"": "generation"}, "filter": {"": "generation"}}


def load_command_config(model, args):
    """The command's config: its YAML file, under --smoke the command's smoke presets
    (`SMOKE_PRESETS`), then every --set."""
    from schemas.config_base import load_config

    preset = {}
    if args.smoke:
        from factory.laptop.presets import smoke_preset

        for prefix, name in SMOKE_PRESETS[args.command].items():
            preset |= {prefix + key: value for key, value in smoke_preset(name).items()}
    return load_config(model, args.config, args.set, preset=preset)


def _train(args) -> int:
    from schemas.configs import TrainConfig

    config = load_command_config(TrainConfig, args)
    from factory.train.run import train

    checkpoint, report = train(config, restart=args.restart)
    print(f"checkpoint: {checkpoint}\nreport: {report}")
    return 0


def _pretrain(args) -> int:
    args.set = ["real_images=false", "mixing=extra_classes", *args.set]  # generated alone
    _train(args)
    print("fine-tune from it: set a training config's `pretrained` to the model folder above")
    return 0


def _tune(args) -> int:
    from schemas.configs import SweepConfig

    config = load_command_config(SweepConfig, args)
    from factory.train.run import sweep

    print(f"report: {sweep(config, restart=args.restart)}")
    return 0


def _add_training(commands) -> None:
    for name, run, what, example in (
            ("train", _train, "train a ReID model on Ray Train (resumable)", "synthetic=null"),
            ("pretrain", _pretrain, "pre-train a ReID backbone on generated identities alone "
             "(Diffusion-ReID): `train` with real_images false, synthetic ids as classes",
             "synthetic=out/generation/x/generated"),
            ("tune", _tune, "ASHA sweep on Ray Tune (resumable)", "train.synthetic=null")):
        command = commands.add_parser(name, help=what, description=what)
        command.add_argument("config", help="YAML config (schemas/json has its JSON Schema)")
        _add_overrides(command, example,
                       "tiny model and few steps: checks the whole path in a minute")
        _add_restart(command)
        command.set_defaults(run=run)


def _adapt(args) -> int:
    from schemas.configs import AdaptConfig

    config = load_command_config(AdaptConfig, args)
    from factory.adapt.stage import run_adapt

    adapters, report = run_adapt(config, restart=args.restart)
    print(f"adapters: {adapters.path} ({len(adapters.tokens)} identities, fingerprint "
          f"{adapters.fingerprint})\nreport: {report}")
    return 0


def _add_adapt(commands) -> None:
    what = "learn identity tokens + a modality LoRA on Ray Train (DiVE; resumable)"
    command = commands.add_parser("adapt", help=what, description=what)
    command.add_argument("config", help="YAML config (schemas/json/adapt.schema.json)")
    _add_overrides(command, "steps=800", "a few tiny steps: checks the whole path in a minute")
    _add_restart(command)
    command.set_defaults(run=_adapt)


def _add_toy(commands) -> None:
    from schemas.configs import TOY_LAYOUTS

    toy = commands.add_parser("toy", help="the procedural toy world").add_subparsers(
        dest="toy_command", required=True, metavar="COMMAND")
    render = toy.add_parser("render", help="render a toy world in a real dataset's layout")
    render.add_argument("--layout", choices=TOY_LAYOUTS, help="dataset layout to write")
    render.add_argument("--seed", type=int, help="seed of the world (default 0)")
    render.add_argument("--out", required=True, help="folder to write the dataset into")
    render.add_argument("--config", help="YAML file of ToyWorldConfig fields")
    render.add_argument("--train-ids", type=int, help="persons in the training split")
    render.add_argument("--test-ids", type=int, help="persons in the test split")
    render.add_argument("--outfits", type=int, help="outfits per person")
    render.add_argument("--workers", type=int, help="rendering processes")
    render.set_defaults(run=_toy_render)
    sheet = toy.add_parser("sheet", help="contact sheet: identities x outfits x cameras x modality")
    sheet.add_argument("--seed", type=int, default=0)
    sheet.add_argument("--identities", type=int, default=4)
    sheet.add_argument("--out", required=True, help="PNG file to write")
    sheet.set_defaults(run=_toy_sheet)


def _toy_model(args) -> int:
    from factory.laptop.toy_sd.build import build_toy_sd, cached_hash

    size = "smoke" if args.smoke else "small"
    root = build_toy_sd(Path(args.out), size=size, seed=args.seed)
    print(f"toy SD ({size}, seed {args.seed}, build {cached_hash(root)}): {root}/sd and "
          f"{root}/sd-inpainting")
    return 0


def _add_toy_model(commands) -> None:
    what = "build the toy Stable Diffusion, trained on the toy world (cached by its settings)"
    command = commands.add_parser("toy-model", help=what, description=what)
    command.add_argument("--out", required=True, help="folder for the model pair")
    command.add_argument("--seed", type=int, default=0, help="seed of weights and training data")
    command.add_argument("--smoke", action="store_true",
                         help="tiny model, a few training steps: checks the code path in seconds")
    command.set_defaults(run=_toy_model)


def _models_tiny(args) -> int:
    from factory.laptop.stand_ins import OVERRIDES, build_stand_ins

    for role, path in build_stand_ins(Path(args.out), seed=args.seed).items():
        print(f"{role}: {path}")
    print(f"--set overrides: {Path(args.out) / OVERRIDES} (stand-ins.<method>.txt per method)")
    return 0


def _add_ingest(commands) -> None:
    from factory.ingest.datasets import DATASETS

    ingest = commands.add_parser("ingest", help="read a dataset's own layout into an images table",
                                 description=f"datasets: {', '.join(sorted(DATASETS))}")
    ingest.add_argument("dataset", choices=sorted(DATASETS), metavar="DATASET",
                        help="reader name (see above)")
    ingest.add_argument("root", help="folder the dataset was unpacked into, or its s3:// or "
                        "gs:// prefix")
    ingest.add_argument("--out", required=True,
                        help="Parquet file for the images table (a path or a URI)")
    ingest.add_argument("--no-verify", action="store_true",
                        help="read image headers only instead of decoding every image (faster; "
                             "a truncated image then fails later, in training)")
    ingest.set_defaults(run=_ingest)


def _add_tables(commands) -> None:
    from schemas import TABLES

    validate = commands.add_parser("validate", help="check a Parquet file against its contract")
    validate.add_argument("table", choices=sorted(TABLES), help="table name")
    validate.add_argument("file", help="Parquet file")
    validate.set_defaults(run=_validate)
    schemas = commands.add_parser("schemas", help="export config models as JSON Schema files")
    schemas.add_argument("--out", default=str(Path(__file__).parent.parent / "schemas" / "json"))
    schemas.set_defaults(run=_schemas_export)


def _describe(args) -> int:
    from schemas.config_base import apply_overrides, load_config
    from schemas.generation_configs import GenerationJobConfig

    job = load_config(GenerationJobConfig, args.config, args.set)
    settings = {}
    if args.smoke and job.describe.vlm_backend != "attributes":
        from factory.laptop.stand_ins.vlm import smoke_settings as vlm_settings

        settings.update(vlm_settings(Path(job.out) / "smoke-vlm"))
    if args.smoke and job.describe.backend != "attributes":
        from factory.laptop.tiny_llm import smoke_settings

        settings.update(smoke_settings(Path(job.out) / "smoke-llm"))
    if settings:
        job = apply_overrides(GenerationJobConfig, job, args.set, source=args.config, preset={
            f"describe.{key}": value for key, value in settings.items()})
    from factory.describe import run_describe

    table = run_describe(job.describe, job.images, job.prompts)
    failed = table.num_rows - table.column("error").null_count
    print(f"{job.prompts}: {table.num_rows} prompts, {failed} failed (see their error column)")
    return 0


def _add_describe(commands) -> None:
    what = "clothing items per outfit (DLCR) and captions per identity (LPE) -> prompts table"
    describe = commands.add_parser("describe", help=what, description=what)
    describe.add_argument("config", help="generation job YAML: its images, prompts and describe "
                                         "section are used")
    _add_overrides(describe, "describe.backend=vllm",
                   "VLM and LLM backends: the tiny local Idefics3 and Llama (vLLM's CPU build)")
    describe.set_defaults(run=_describe)


RESTART_HELP = {
    "plan": "delete the job's images, manifests and scores first (a plan that drops committed "
            "tasks is refused otherwise)",
    "filter": "delete the job's scores first (scoring on with another scorer or thresholds is "
              "refused otherwise)"}


def _generation_stage(args) -> int:
    import json

    from schemas.generation_configs import GenerationJobConfig

    config = load_command_config(GenerationJobConfig, args)
    from factory.job import run_job

    restart = getattr(args, "restart", False)
    summary = run_job(config, stages=(args.command,), restart=restart)[args.command]
    print(json.dumps(summary, indent=2, default=str))
    return 0


def _add_generation(commands) -> None:
    for name, what in (("plan", "the job's deterministic tasks table (polars)"),
                       ("generate", "run the pending tasks on Ray Data actors (resumable)"),
                       ("filter", "score generated images with a ReID checkpoint (resumable)")):
        command = commands.add_parser(name, help=what, description=what)
        command.add_argument("config", help="generation job YAML "
                                            "(schemas/json/generation_job.schema.json)")
        _add_overrides(command, "plan.max_identities=2",
                       "tiny recipe, few identities and images, one CPU actor")
        if name != "generate":
            command.add_argument("--restart", action="store_true", help=RESTART_HELP[name])
        command.set_defaults(run=_generation_stage)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factory", description="reid-factory: synthetic ReID data with diffusion models.",
        epilog=STAGES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true",
                        help="on failure, print the traceback after the one-line error; `demo`: "
                             "also Ray's own output (per-epoch reports, Ray Data progress) (may "
                             "also follow COMMAND)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_ingest(commands)
    _add_toy(commands)
    _add_toy_model(commands)
    from factory.pretrained.command import add_models_command

    add_models_command(commands, tiny=_models_tiny)
    _add_tables(commands)
    _add_training(commands)
    _add_describe(commands)
    _add_generation(commands)
    from factory.generate.command import add_audit_command

    add_audit_command(commands)
    _add_adapt(commands)
    from factory.export.command import add_export_command

    add_export_command(commands)
    demo = commands.add_parser("demo", help="the whole factory on the toy world, with a report")
    demo.add_argument("--out", default="out/demo", help="folder for everything the demo writes")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quick", action="store_true", help="a smaller world, for a first look")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv  # accepted anywhere on the line, not only before COMMAND
    args = build_parser().parse_args([arg for arg in argv if arg != "--verbose"])
    args.verbose = verbose
    try:
        return args.run(args)
    except Exception as exc:  # one line naming the file, row or field; the rest on request
        from factory.failures import report_failure

        return report_failure(exc, f"factory {args.command}", verbose=verbose)


if __name__ == "__main__":
    sys.exit(main())
