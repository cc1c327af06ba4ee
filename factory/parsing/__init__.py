"""Human parsing: clothes masks for DLCR, from a segmentation model or from a dataset's own
ground-truth `parsing_masks` table (`parser`), and the label vocabularies they use (`labels`).
"""
