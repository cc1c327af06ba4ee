"""Generation jobs on the toy world for the generation tests (the helpers live in the library,
where the bench scripts use them too)."""

from factory.laptop.toy_jobs import TINY_RECIPE, toy_job

__all__ = ["TINY_RECIPE", "toy_job"]
