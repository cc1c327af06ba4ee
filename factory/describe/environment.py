"""The describe stage's own Python environment (ARCHITECTURE.md).

vLLM's CPU build pins its own torch, so on a laptop the LLM backends run in a second virtual
environment (`make describe-env` makes `.venv-describe`). The tables are the interface: the
stage re-runs itself there as `python -m factory.describe` on the same input and output files.
On a cluster the job's image or runtime env carries vLLM, and the stage runs in-process.
"""

import importlib.util
import os
import subprocess
from pathlib import Path

from schemas.describe_config import DescribeConfig

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PYTHON = REPO / ".venv-describe" / "bin" / "python"


def has_vllm() -> bool:
    return importlib.util.find_spec("vllm") is not None


def describe_python(config: DescribeConfig) -> Path:
    """The describe environment's Python: the config's, `$DESCRIBE_PYTHON`, or .venv-describe."""
    python = Path(config.python or os.environ.get("DESCRIBE_PYTHON") or DEFAULT_PYTHON)
    if not python.exists():
        raise FileNotFoundError(
            f"backend {config.backend!r} needs vLLM, which this Python lacks, and the describe "
            f"environment's Python {python} does not exist: run `make describe-env` (or set "
            "`python` / $DESCRIBE_PYTHON to a Python with vLLM and ray[data])")
    return python


def run_in_describe_env(config: DescribeConfig, images: Path, out: Path, *,
                        ask_vlm: bool = True) -> None:
    """Run the stage in the describe environment, on its own local Ray; raises if it fails.
    `ask_vlm` off: the VLM step ran here, the LLM step runs there on its answers table."""
    python = describe_python(config)
    answers = config.answers and Path(config.answers).resolve()  # the child runs in REPO
    command = [str(python), "-m", "factory.describe", "--images", str(images.resolve()),
               "--out", str(out.resolve()),
               "--config-json", config.model_copy(update={"answers": answers}).model_dump_json(),
               *([] if ask_vlm else ["--skip-vlm"])]
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    result = subprocess.run(command, env=env, cwd=REPO, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the describe stage failed in {python} (exit {result.returncode}); "
                           "its output is above")
