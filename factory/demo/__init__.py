"""`factory demo`: the whole factory on the toy world, from nothing, on a local Ray and CPU.

Renders the toy world in every real layout and reads it back, builds (or reuses) the toy Stable
Diffusion, then runs DLCR, DiVE and Diffusion-ReID (describe -> plan -> generate -> filter),
trains ReID models on real images alone, with each method's synthetic data and with the toy
world's oracle (the perfect version of that data), scores them with each method's own protocol,
and writes `report.md` (led by real only, + method and + oracle per method; results table, image
grids, filter-score histograms, CMC points, timings) and `metrics.json`. Sizes:
`factory.demo.settings`.
"""

import logging
import time
from pathlib import Path

import polars as pl

from factory.demo.experiments import EXPERIMENTS, Experiment, Lab
from factory.demo.figures import cmc_points, headline_bars, method_grid, score_histograms
from factory.demo.report import headline_table, summary_table, verdicts, write_report
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
    with lab.timed("render + read back the toy worlds", steps=len(sizes.layouts) + 1) as bar:
        lab.worlds.update(render_worlds(out, config.seed, sizes.world, sizes.layouts, source_seed,
                                        done=bar.update))
    with lab.timed(f"toy Stable Diffusion ({sizes.toy_sd}; cached after the first run)"):
        build_toy_sd(lab.toy_sd, size=sizes.toy_sd, seed=config.seed)
    # Ray starts after the build, which does not need it, and before training seeds start in
    # threads (so that they do not race to start it).
    init_ray(**_ray_output(config.verbose))
    experiments = [EXPERIMENTS[method](lab) for method in config.methods]
    results = pl.DataFrame([row for experiment in experiments for row in experiment.rows])
    missing = {experiment.method: experiment.missing for experiment in experiments}
    headlines = headline_table(results, missing)
    lead = headline_bars(headlines, out / "figures" / "headline.png")
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
              f"Toy world, seed {config.seed}{quick}; {sizes.seeds} training seed(s) per arm of "
              "each comparison; local Ray on CPU.", ""]
    metrics = {"config": config.model_dump(mode="json"), "runs": results.to_dicts(),
               "headlines": headlines.to_dicts(), "arms_without_runs": missing,
               "timings_seconds": lab.timings}
    report = write_report(out, header=header, lead=lead, headlines=headlines,
                          summary=summary_table(results, missing), sections=sections,
                          metrics=metrics)
    print("\n".join(["", *verdicts(headlines)]))
    return report


def _ray_output(verbose: bool) -> dict:
    """What the demo's log shows of Ray: its workers' output (Ray Train's per-epoch reports),
    its info lines and Ray Data's progress only when `verbose`; the demo's own progress bars and
    Ray's warnings always. Returns ray.init's options."""
    from ray.data import DataContext
    from transformers.utils import logging as transformers_logging

    context = DataContext.get_current()
    context.enable_progress_bars = context.enable_operator_progress_bars = verbose
    level = logging.INFO if verbose else logging.WARNING
    for name in ("ray", "ray.train", "ray.tune"):
        logging.getLogger(name).setLevel(level)
    # Ray Data warns at every dataset that its progress bars are off.
    logging.getLogger("ray.data").setLevel(level if verbose else logging.ERROR)
    if not verbose:  # "Writing model shards" bars of every saved model
        transformers_logging.disable_progress_bar()
    return {"log_to_driver": verbose, "logging_level": level}
