"""`factory export`: its arguments and the call (the `factory` command's wiring, kept beside the
stage)."""


def _export(args) -> int:
    from factory.export.stage import export

    summary = export(args.images, args.generated, args.scores, args.out, parquet=args.parquet,
                     shards=args.shards, jobs=tuple(args.job), seed=args.seed, progress=True)
    counts = ", ".join(f"{key} {n}" for key, n in summary["images"].items())
    shards = summary.get("shards")
    shards = f"; {shards['files']} WebDataset shards" if shards else ""
    print(f"wrote {args.out} (Market-1501 layout): {counts}{shards}; pid map in export.json, "
          f"data card in README.md")
    return 0


def add_export_command(commands) -> None:
    what = "kept synthetic + real images as a Market-1501-style folder (torchreid, fast-reid)"
    export = commands.add_parser("export", help=what, description=what)
    export.add_argument("--images", required=True, help="`images` table of the real dataset")
    export.add_argument("--generated", required=True, help="`generated` table")
    export.add_argument("--scores", required=True, help="`scores` table (its `kept` decides)")
    export.add_argument("--out", required=True,
                        help="folder or s3:// / gs:// prefix to create (must not exist)")
    export.add_argument("--parquet", action="store_true",
                        help="also write out/images.parquet with the image bytes")
    export.add_argument("--shards", type=int, metavar="N",
                        help="also write the training images as WebDataset tar shards of N "
                        "images (out/webdataset/)")
    export.add_argument("--seed", type=int, default=0,
                        help="seed of the shards' shuffle (default 0)")
    export.add_argument("--job", action="append", default=[], metavar="CONFIG",
                        help="a generation job config that made the synthetic images: its "
                        "models, revisions, licences and filter thresholds go in the data card "
                        "(repeat for several)")
    export.set_defaults(run=_export)
