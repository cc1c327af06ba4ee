"""The ingest stage: a dataset's own on-disk layout -> the `images` table (`stage.ingest`), one
reader per dataset in `datasets` with its explicit registry.
"""
