"""ReID models, losses, augmentations and batch samplers for the train / filter stages.

- `models`: BoT (ResNet-50/18/10, last stride 1, BNNeck), CAJ (per-modality stems, shared body),
  CAL (BoT + cosine clothes classifier); `build_model`, `save_checkpoint`, `load_checkpoint`.
- `losses`: label-smoothed cross-entropy, batch-hard triplet, CAJ's WRT/ADP, CAL's losses.
- `augment`: BoT train/test transforms, CAJ's channel augmentations.
- `sampler`: P x K identity batch samplers (visible-infrared variant), shardable across workers.
Import the submodules; this package itself stays light (no torch import here).
"""
