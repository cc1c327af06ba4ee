"""`factory models`: pull the models a config names, or build the laptop's tiny stand-ins.

The `tiny` handler comes from `factory/cli.py` (the laptop package is wired in there only).
"""

from pathlib import Path

PULL_HELP = ("download every model CONFIG names (diffusion pipeline, parser, describe LLM and "
             "VLM, ImageNet backbone weights) into the hub cache (HF_HOME) and torch.hub's "
             "(TORCH_HOME), and pin each revision in the lock file beside the cache "
             "($HF_HOME/reid-factory/models.lock.json, or $FACTORY_MODELS_LOCK)")
TINY_HELP = ("write tiny random stand-ins of every real model (SD-1.5 text-to-image and "
             "inpainting, ATR and LIP SegFormer parsers, VLM, LLM) and stand-ins.txt: the "
             "--set overrides that swap a job's models for them")


def _pull(args) -> int:
    from factory.pretrained.config_models import pull_config
    from factory.pretrained.lock import lock_path

    pulled = pull_config(Path(args.config), update=args.update)
    for item in pulled:
        pinned = f" @ {item.revision}" if item.revision else " (local folder, nothing to pull)"
        if item.revision is None and not item.path.is_dir():
            pinned = " (local folder, not there yet: build or copy it)"
        print(f"{item.ref.field}: {item.ref.name}{pinned}\n    {item.path}")
    pinned = sum(item.revision is not None for item in pulled)
    print(f"{args.config}: {len(pulled)} model(s) ready, {pinned} pinned in {lock_path()}")
    return 0


def add_models_command(commands, *, tiny) -> None:
    """Add `models pull` and `models tiny` (run by `tiny(args)`) to the sub-commands."""
    models = commands.add_parser("models", help="pull pinned models, or build tiny stand-ins",
                                 description="models a job loads: pulled once into one cache "
                                             "and pinned, or tiny local stand-ins")
    actions = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    pull = actions.add_parser("pull", help=PULL_HELP, description=PULL_HELP)
    pull.add_argument("config", help="generation job, adapt, train or sweep YAML")
    pull.add_argument("--update", action="store_true",
                      help="pull the hub's current main branch and re-pin, instead of the "
                           "revisions the lock file pins")
    pull.set_defaults(run=_pull)
    stand_ins = actions.add_parser("tiny", help=TINY_HELP, description=TINY_HELP)
    stand_ins.add_argument("--out", required=True, help="folder for the stand-ins")
    stand_ins.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    stand_ins.set_defaults(run=tiny)
