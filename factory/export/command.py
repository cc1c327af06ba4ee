"""`factory export`: its arguments and the call (the `factory` command's wiring, kept beside the
stage)."""


def _export(args) -> int:
    from factory.export.stage import export

    summary = export(args.images, args.generated, args.scores, args.out, parquet=args.parquet,
                     progress=True)
    counts = ", ".join(f"{key} {n}" for key, n in summary["images"].items())
    print(f"wrote {args.out} (Market-1501 layout): {counts}; pid map in export.json")
    return 0


def add_export_command(commands) -> None:
    what = "kept synthetic + real images as a Market-1501-style folder (torchreid, fast-reid)"
    export = commands.add_parser("export", help=what, description=what)
    export.add_argument("--images", required=True, help="`images` table of the real dataset")
    export.add_argument("--generated", required=True, help="`generated` table")
    export.add_argument("--scores", required=True, help="`scores` table (its `kept` decides)")
    export.add_argument("--out", required=True, help="folder to create (must not exist)")
    export.add_argument("--parquet", action="store_true",
                        help="also write out/images.parquet with the image bytes")
    export.set_defaults(run=_export)
