"""A generation job: describe -> plan -> generate -> filter; the same locally and under
`ray job submit`.

    python jobs/generate.py --config jobs/configs/dlcr_prcc.yaml [--set generate.actors=8]
    ray job submit --working-dir . -- python jobs/generate.py --config jobs/configs/dlcr_prcc.yaml
    python jobs/generate.py --smoke --out out/smoke [jobs/configs/dive_toy.yaml ...]
    python jobs/generate.py jobs/configs/dlcr_prcc.yaml --stand-ins models/tiny
    python jobs/generate.py --config jobs/configs/dlcr_prcc.yaml --pull   # models first
`--smoke` runs on the toy world with smoke models made under --out, a folder or a bucket (every toy
config when none is named). `--stand-ins` runs a config on its own data (tables, scorer, adapters)
with every model swapped for the tiny random stand-ins of `factory models tiny`, at smoke sizes on
CPU: the real path of a job, checked on a laptop. `--pull` first pulls and pins the config's models
(on a fresh cluster's shared cache; quick when they are there). Re-running a killed job resumes it:
committed images are never made again.
"""

import argparse
import json
import sys
from pathlib import Path

from factory.job import STAGES, run_job
from factory.laptop.smoke import smoke_job, stand_in_job
from factory.methods import METHODS
from factory.pretrained.config_models import pull_models
from schemas.config_base import ConfigError, apply_overrides, load_config
from schemas.generation_configs import GenerationJobConfig

TOY_CONFIGS = [Path(__file__).parent.parent / method.toy_config for method in METHODS.values()]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", help="generation job YAML file(s)")
    parser.add_argument("--config", action="append", default=[], dest="named", metavar="CONFIG",
                        help="a generation job YAML file (repeatable; same as positional)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field by its dotted path, e.g. plan.max_identities=2; "
                             "VALUE is read as YAML (null sets the field to null); repeatable")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--smoke", action="store_true", help="toy world and smoke models")
    parser.add_argument("--out", help="--smoke: folder or bucket (s3://, gs://) for the toy "
                                      "world, models and jobs")
    parser.add_argument("--pull", action="store_true",
                        help="first pull every model the config names into the model cache "
                             "and pin it (`factory models pull`; a no-op for models already "
                             "there): a fresh cluster's first job")
    parser.add_argument("--stand-ins", metavar="DIR",
                        help="swap every model for the tiny stand-ins in DIR (built there when "
                             "missing; `factory models tiny`), at smoke sizes on CPU")
    args = parser.parse_args(argv)
    args.configs += args.named
    if args.smoke != bool(args.out) or not (args.configs or args.smoke):
        parser.error("give a config, or --smoke with --out (and optionally configs)")
    if args.smoke and args.stand_ins:
        parser.error("--smoke (the toy world) and --stand-ins (the config's own data) exclude "
                     "each other")
    if args.pull and (args.smoke or args.stand_ins):
        parser.error("--pull fetches a config's own models; --smoke and --stand-ins use local "
                     "ones")
    try:
        for path in args.configs or TOY_CONFIGS:
            config = load_config(GenerationJobConfig, path, args.set)
            if args.smoke:  # --set again after the smoke models and sizes, so it still wins
                config = apply_overrides(GenerationJobConfig, smoke_job(config, args.out),
                                         args.set, source=f"{path} (--smoke)")
            if args.stand_ins:
                config = stand_in_job(config, Path(args.stand_ins), args.set, source=str(path))
            if args.pull:
                pull_models("generation_job", config)
            summary = run_job(config, tuple(args.stages))
            print(json.dumps({"config": str(path), **summary}, indent=2, default=str))
    except (ConfigError, ValueError, FileNotFoundError) as error:
        print(f"jobs/generate.py: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
