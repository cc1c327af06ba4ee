"""ReID training on Ray Train and sweeps on Ray Tune (DESIGN sections 2 and 4)."""
