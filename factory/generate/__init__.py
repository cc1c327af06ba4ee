"""The generate stage: the pending tasks through a method's Ray Data actor pool (`stage`), one file
per method (`dlcr`, `dive`, `diffusion_reid`) sharing `task_batch`; images and per-block manifests
written by `manifest`, checked by `audit`. Importing this package loads no heavy library.
"""
