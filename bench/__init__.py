"""Benchmarks: each module (or package) writes `bench/results/<name>.json` when run as
`python -m bench.<name>`; `python bench/run_all.py` runs them all and writes the summary."""
