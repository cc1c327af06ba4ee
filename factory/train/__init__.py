"""ReID training on Ray Train and sweeps on Ray Tune (ARCHITECTURE.md)."""
