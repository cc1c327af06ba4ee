"""reid-factory: synthetic person re-identification data with diffusion models, on Ray.

Sub-packages by stage: `datasets` (readers -> `images` table), `toyworld` (the procedural toy
world), `evaluate` (ranking and protocols), `reid` (models, losses, samplers), `train` (Ray Train
and Ray Tune). Importing `factory` loads no heavy library; each command imports what it needs.
"""
