"""Other projects' compiled rank evaluators, built in a throwaway folder for `bench.evaluate_rank`.

fast-reid 1.4.0's wheel on PyPI carries its Cython source (`fastreid/evaluation/rank_cylib/
rank_cy.pyx`, derived from torchreid's): it is downloaded (no dependencies), cythonised with a
Cython installed into the same folder, and compiled with the system C compiler against this
Python and numpy. torchreid 0.2.5 on PyPI ships neither that source nor a binary (it falls back to
Python), so it has no column here. Any step that fails (no network, no compiler) leaves the
column out with the reason; nothing is installed into the project's environment.
"""

import importlib.util
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np

FASTREID = "fastreid==1.4.0"
FASTREID_SOURCE = "fastreid/evaluation/rank_cylib/rank_cy.pyx"
TIMEOUT_S = 300


def build_fastreid(workdir: Path):
    """(evaluate, None) or (None, why): evaluate(distmat, q_pids, g_pids, q_camids, g_camids,
    max_rank) -> (cmc, mAP, mINP), fast-reid's `evaluate_cy` with its averages taken."""
    workdir.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    include = [sysconfig.get_paths()["include"], np.get_include()]
    module = workdir / f"rank_cy{sysconfig.get_config_var('EXT_SUFFIX')}"
    steps = [
        pip + ["download", FASTREID, "--no-deps", "-d", str(workdir)],
        pip + ["install", "--target", str(workdir / "cython"), "cython"],
        ["extract"],
        [sys.executable, "-m", "cython", "-3", str(workdir / "rank_cy.pyx")],
        ["cc", "-O3", "-shared", "-fPIC", *(f"-I{path}" for path in include),
         str(workdir / "rank_cy.c"), "-o", str(module)],
    ]
    for command in steps:
        if command == ["extract"]:
            wheel = next(workdir.glob("fastreid-*.whl"))
            with zipfile.ZipFile(wheel) as archive:
                (workdir / "rank_cy.pyx").write_bytes(archive.read(FASTREID_SOURCE))
            continue
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S,
                              env={"PYTHONPATH": str(workdir / "cython"), "PATH": "/usr/bin:/bin"})
        if done.returncode != 0:
            return None, (f"fast-reid's evaluator could not be built: `{' '.join(command[:4])}` "
                          f"failed: {(done.stderr or done.stdout).strip()[-300:]}")
    spec = importlib.util.spec_from_file_location("rank_cy", module)
    rank_cy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rank_cy)

    def evaluate(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 50):
        cmc, all_ap, all_inp = rank_cy.evaluate_cy(distmat, q_pids, g_pids, q_camids, g_camids,
                                                   max_rank)
        return cmc, float(np.mean(all_ap)), float(np.mean(all_inp))

    return evaluate, None
