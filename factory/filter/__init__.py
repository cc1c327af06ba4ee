"""The filter stage: every generated image scored by a ReID checkpoint trained on the real images
(confidence of its intended pid, similarity to the identity's real-image centroid), kept when the
thresholds pass (`stage.run_filter`); written to the `scores` table.
"""
