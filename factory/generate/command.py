"""`factory audit`: its arguments and the call (the `factory` command's wiring, kept beside the
stage)."""

from pathlib import Path


def _audit(args) -> int:
    from factory.generate.audit import audit_run, repair_run

    if not Path(args.out).is_dir():
        raise FileNotFoundError(f"{args.out}: no such generation output folder")
    if args.repair:
        done = repair_run(Path(args.out))
        print(f"{args.out}: repaired: " + ", ".join(f"{n} {kind.replace('_', ' ')}"
                                                     for kind, n in done.items()))
    audit = audit_run(Path(args.out), decode=not args.no_decode)
    print(f"{args.out}: {audit.planned} planned, {audit.committed} committed ({audit.generated} "
          f"written, {audit.failed} failed rows), {audit.image_files} image files, "
          f"{audit.decoded} decoded")
    for problem in audit.problems:
        print(f"problem: {problem}")
    print("ok" if audit.ok else f"{len(audit.problems)} problem(s)")
    return 0 if audit.ok else 1


def add_audit_command(commands) -> None:
    what = "check a generation output folder: one row per task, whole images, no leftovers"
    audit = commands.add_parser("audit", help=what, description=what)
    audit.add_argument("out", help="the job's output folder (holds tasks.parquet)")
    audit.add_argument("--no-decode", action="store_true",
                       help="check that images exist without decoding them")
    audit.add_argument("--repair", action="store_true",
                       help="first remove leftovers, strays and orphans, and un-commit tasks "
                            "whose image is missing or does not decode (a re-run of generate "
                            "makes exactly those again)")
    audit.set_defaults(run=_audit)
