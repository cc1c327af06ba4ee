"""The export stage: real images plus the kept synthetic ones as a Market-1501-style folder that
torchreid and fast-reid read, optionally with a Parquet file of the image bytes (`stage.export`).
"""
