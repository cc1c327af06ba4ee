"""Crash-and-resume torture: kill the generate stage, a ReID training run and a Tune sweep at
seeded random moments, re-run, repeat; one last uninterrupted run must then leave exactly-once
results (ARCHITECTURE.md: "killing any worker or the job at any moment and re-running must end
with exactly one committed image per task").

    python -m bench.torture --what all --rounds 10 --seed 0 --out bench/results/torture.json

Kill moments: a quarter of the rounds kill during start-up (a random time after the launch); the
rest a random time after an event: the round's first new commit (a block's manifest, a
checkpoint) or, for generate, a generator actor being alive; so rounds are cut mid-run however
fast the machine is (see WINDOWS).

generate: a planned DiVE job (96 tasks, 64 steps, blocks of 2, two actors) on a toy SYSU-MM01
  world with the smoke toy SD. Each round runs the generate stage in a driver subprocess attached
  to a local Ray this script started, then SIGKILLs either the driver or one generator actor (its
  pid from `ray.util.state.list_actors`); after an actor kill the driver is left to commit one
  more block (Ray Data replaces the actor), then killed too, so each round leaves work for the
  next. A final run, and `audit_run` must find nothing wrong.
train: `factory train --smoke` with more epochs, in its own Ray (`RAY_ADDRESS=local`), SIGKILLed
  each round with every process of its session (Ray's too); the final run must end with a
  history of epochs 1..N, each once.
sweep: `factory tune` (`Tuner.restore` on re-run) the same way; the final run must list every
  trial without error, each trial's history running 1..k once each, k its epochs in the table.

Writes JSON (per round: what was killed, when, progress before and after) and prints a table.
Modules: `kills` (killing, waiting, the report), `generate`, `training` (train and sweep);
`python -m bench.torture` runs `__main__`.
"""

from bench.torture.generate import torture_generate
from bench.torture.training import torture_sweep, torture_train

PARTS = {"generate": torture_generate, "train": torture_train, "sweep": torture_sweep}
__all__ = ["PARTS", "torture_generate", "torture_sweep", "torture_train"]
