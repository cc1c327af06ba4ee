"""`factory demo`: the whole factory on the toy world, from nothing, on a local Ray and CPU.

Renders the toy world in every real layout and reads it back, builds (or reuses) the toy Stable
Diffusion, then runs DLCR, DiVE and Diffusion-ReID (describe -> plan -> generate -> filter),
trains ReID models with and without each method's synthetic data, scores them with each method's
own protocol, and writes `report.md` (results table, image grids, filter-score histograms, CMC
points, timings) and `metrics.json`. Sizes: `factory.demo.settings`.
"""

import time
from pathlib import Path

import polars as pl

from factory.demo.experiments import EXPERIMENTS, Experiment, Lab
from factory.demo.figures import cmc_points, method_grid, score_histograms
from factory.demo.report import write_report
from factory.demo.settings import FULL, QUICK
from factory.demo.worlds import render_worlds, world_summary
from factory.laptop.toyworld.contact_sheet import contact_sheet
from factory.report.markdown import markdown_table
from schemas.configs import DemoConfig

GRID_LEGEND = ("Each row: a real image (grey frame), then images generated from it or for its "
               "identity, framed green when the filter kept them and red when it rejected them.")


def _method_section(lab: Lab, experiment: Experiment, world_images: Path) -> list[str]:
    from factory.filter.stage import keep_rates

    grid = method_grid(experiment.job, world_images,
                       lab.out / "figures" / f"{experiment.job.name}_grid.png")
    rates = keep_rates(experiment.job)
    lines = [f"### {experiment.method} ({experiment.protocol})", "",
             f"![{experiment.method} samples]({grid.relative_to(lab.out)})", "", GRID_LEGEND, ""]
    for method, rate in rates.items():
        lines.append(f"- {method}: {rate['kept']} of {rate['scored']} generated images kept "
                     f"({rate['keep_rate']:.0%})")
    return [*lines, ""]


def run_demo(config: DemoConfig) -> Path:
    """Run the demo into `config.out`; returns the path of its Markdown report."""
    from factory.laptop.toy_sd.build import build_toy_sd
    from factory.local_ray import init_ray

    started = time.perf_counter()
    out = Path(config.out).resolve()
    sizes = QUICK if config.quick else FULL
    source_seed = config.seed + sizes.source_world_seed_offset
    lab = Lab(out, config.seed, sizes, {}, out / "models" / "toy-sd")
    with lab.timed("render + read back the toy worlds"):
        lab.worlds.update(render_worlds(out, config.seed, sizes.world, sizes.layouts, source_seed))
    with lab.timed(f"toy Stable Diffusion ({sizes.toy_sd}; cached after the first run)"):
        build_toy_sd(lab.toy_sd, size=sizes.toy_sd, seed=config.seed)
    # Ray starts after the build, which does not need it, and before training seeds start in
    # threads (so that they do not race to start it).
    init_ray()
    experiments = [EXPERIMENTS[method](lab) for method in config.methods]
    results = pl.DataFrame([row for experiment in experiments for row in experiment.rows])
    jobs = {experiment.method: experiment.job for experiment in experiments}
    worlds = {"DLCR": "ltcc", "DiVE": "llcm", "Diffusion-ReID": "market1501_source"}
    sections = ["## Generated images", ""]
    for experiment in experiments:
        sections += _method_section(lab, experiment, lab.worlds[worlds[experiment.method]].images)
    histograms = score_histograms(jobs, out / "figures" / "filter_scores.png")
    cmc = cmc_points(results, out / "figures" / "cmc.png")
    sheet = contact_sheet(config.seed, out / "figures" / "contact_sheet.png")
    lab.timings["whole demo"] = time.perf_counter() - started
    timings = pl.DataFrame({"stage": list(lab.timings),
                            "minutes": [round(s / 60, 2) for s in lab.timings.values()]})
    sections += [
        "## Filter scores", "", f"![filter scores]({histograms.relative_to(out)})", "",
        "## CMC (rank-1, 5, 10; mean over seeds)", "", f"![CMC]({cmc.relative_to(out)})", "",
        "## The toy world", "", f"![identities x outfits by cameras]({sheet.relative_to(out)})",
        "", markdown_table(world_summary(lab.worlds)), "",
        "## Timings", "", markdown_table(timings), ""]
    quick = " (quick: tiny sizes, the numbers are noise)" if config.quick else ""
    header = ["# reid-factory demo", "",
              f"Toy world, seed {config.seed}{quick}; {sizes.seeds} training seed(s) per side of "
              "each comparison; local Ray on CPU.", ""]
    metrics = {"config": config.model_dump(mode="json"), "runs": results.to_dicts(),
               "timings_seconds": lab.timings}
    return write_report(out, header=header, results=results, sections=sections, metrics=metrics)
