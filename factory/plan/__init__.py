"""The plan stage: the deterministic `tasks` table of a generation job (polars, vectorised), one
planner per method; `hashing` makes the task ids and seeds. Importing it loads no heavy library.
"""
