"""`python -m factory.describe`: the stage as its own process, in the describe environment.

The main environment starts it (`environment.run_in_describe_env`) when it lacks vLLM; the
config travels as JSON, the data as the input and output tables.
"""

import argparse
import sys

from schemas.config_base import make_config
from schemas.describe_config import DescribeConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m factory.describe", description=__doc__)
    parser.add_argument("--images", required=True, help="`images` table (Parquet)")
    parser.add_argument("--out", required=True, help="`prompts` table to write (Parquet)")
    parser.add_argument("--config-json", required=True, help="DescribeConfig as JSON")
    parser.add_argument("--skip-vlm", action="store_true",
                        help="the VLM step ran in the caller: use its answers table as it is")
    args = parser.parse_args(argv)
    import json

    import ray

    from factory.describe.stage import run_describe
    from factory.local_ray import init_ray

    config = make_config(DescribeConfig, json.loads(args.config_json), source="--config-json")
    # A Ray of its own: the caller's workers run the caller's Python, which has no vLLM.
    init_ray(address="local", include_dashboard=False, log_to_driver=True)
    try:
        table = run_describe(config, args.images, args.out, ask_vlm=not args.skip_vlm)
    except (ValueError, FileNotFoundError) as exc:
        print(f"describe: error: {exc}", file=sys.stderr)
        return 2
    finally:
        ray.shutdown()
    print(f"describe: {table.num_rows} prompts in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
