"""Arrow schemas of the tables the stages exchange (ARCHITECTURE.md).

Each schema carries its table name and version in its metadata, so a Parquet file says what it
holds, and the columns that key a row where joins rely on one row per key (`key`). A field's
`allowed` metadata lists the values a string column may take, its `minimum` the least value a
number column may hold; the validator (`schemas.validate`) enforces all three.
"""

import pyarrow as pa

from factory.methods import METHOD_NAMES

TABLE_KEY = b"reid_factory.table"
VERSION_KEY = b"reid_factory.version"
ALLOWED_KEY = b"allowed"
MINIMUM_KEY = b"minimum"
ROW_KEY = b"reid_factory.key"

SPLITS = ("train", "val", "test")
ROLES = ("train", "query", "gallery")
MODALITIES = ("rgb", "ir")
ORIGINS = ("real", "synthetic")
PROMPT_KINDS = ("clothing", "caption")


def _field(name: str, type_: pa.DataType, *, nullable: bool = False, allowed=None,
           minimum: int | None = None) -> pa.Field:
    metadata = {}
    if allowed:
        metadata[ALLOWED_KEY] = ",".join(allowed).encode()
    if minimum is not None:
        metadata[MINIMUM_KEY] = str(minimum).encode()
    return pa.field(name, type_, nullable=nullable, metadata=metadata or None)


def _schema(table: str, version: int, fields: list[pa.Field], *,
            key: tuple[str, ...] = ()) -> pa.Schema:
    metadata = {TABLE_KEY: table.encode(), VERSION_KEY: str(version).encode()}
    if key:
        metadata[ROW_KEY] = ",".join(key).encode()
    return pa.schema(fields, metadata=metadata)


IMAGES = _schema("images", 1, [
    _field("image_id", pa.string()),  # stable hash of dataset + path relative to the dataset root
    _field("dataset", pa.string()),
    _field("split", pa.string(), allowed=SPLITS),
    _field("role", pa.string(), allowed=ROLES),
    _field("pid", pa.int64()),
    _field("camera", pa.int32(), minimum=1),  # and within the dataset's cameras (its reader)
    _field("modality", pa.string(), allowed=MODALITIES),
    _field("outfit", pa.string(), nullable=True),  # clothes id, unique within the dataset
    _field("path", pa.string()),
    _field("width", pa.int32(), minimum=1),
    _field("height", pa.int32(), minimum=1),
    _field("origin", pa.string(), allowed=ORIGINS),
], key=("image_id",))

PROMPTS = _schema("prompts", 1, [
    _field("key", pa.string()),  # an outfit id (clothing) or a pid (caption)
    _field("kind", pa.string(), allowed=PROMPT_KINDS),
    _field("text", pa.string()),
    _field("items", pa.list_(pa.string())),
    _field("backend", pa.string()),
    _field("model", pa.string()),
    _field("error", pa.string(), nullable=True),  # why the reply was rejected; null when accepted
])

TASKS = _schema("tasks", 2, [
    _field("task_id", pa.string()),  # hash of every input that changes the output
    _field("method", pa.string(), allowed=METHOD_NAMES),
    _field("pid", pa.int64()),
    _field("source_image_id", pa.string(), nullable=True),  # null for text-to-image
    _field("source_path", pa.string(), nullable=True),  # the source image's file (lineage only)
    _field("target_modality", pa.string(), allowed=MODALITIES),
    _field("target_outfit", pa.string(), nullable=True),
    _field("prompt", pa.string()),
    _field("negative_prompt", pa.string()),
    _field("seed", pa.int64()),
    _field("params", pa.string()),  # JSON object of method parameters
    _field("model_fingerprint", pa.string()),
    _field("adapter_fingerprint", pa.string(), nullable=True),  # null: no identity adapters
], key=("task_id",))

GENERATED = _schema("generated", 2, [
    _field("task_id", pa.string()),
    _field("image_id", pa.string()),
    _field("path", pa.string(), nullable=True),  # null when the task failed (see `error`)
    _field("method", pa.string(), allowed=METHOD_NAMES),
    _field("pid", pa.int64()),
    _field("modality", pa.string(), allowed=MODALITIES),
    _field("outfit", pa.string(), nullable=True),
    _field("seed", pa.int64()),
    _field("prompt", pa.string()),
    _field("model_fingerprint", pa.string()),
    _field("adapter_fingerprint", pa.string(), nullable=True),
    _field("timings", pa.map_(pa.string(), pa.float64())),  # seconds per step of the method
    _field("parents", pa.list_(pa.string())),  # image ids the image was made from
    _field("error", pa.string(), nullable=True),  # why no image was written; null on success
])

SCORES = _schema("scores", 3, [
    _field("image_id", pa.string()),
    _field("method", pa.string(), allowed=METHOD_NAMES),
    _field("pid", pa.int64()),  # the identity the image is meant to show
    _field("scorer", pa.string()),  # fingerprint of the ReID checkpoint
    # softmax probability of the intended pid; null when the pid is not one of the scorer's classes
    _field("confidence", pa.float32(), nullable=True),
    _field("rank", pa.int32(), nullable=True),  # of the intended pid among the classes, 1 = best
    # cosine similarity to the mean feature of the pid's real images; null when it has none
    _field("similarity", pa.float32(), nullable=True),
    _field("kept", pa.bool_()),
    # why the image could not be scored (it does not decode; never kept); null when scored (v3)
    _field("error", pa.string(), nullable=True),
])

# Per-image contracts a dataset may provide beside its `images` table (the toy world writes both
# in `<root>/_toy/`). What people and clothes each image shows, in words: a dataset's own (the
# describe stage's `attributes` backend) or a VLM's answers (describe's per-image step), with the
# model that wrote them (null lineage: the dataset's own text).
DESCRIPTIONS = _schema("descriptions", 3, [
    _field("image_id", pa.string()),  # the id the dataset's reader gives the image
    # the person apart from their clothes; null: not asked of this image
    _field("identity_text", pa.string(), nullable=True),
    # the clothes (DLCR: "What clothes is the person wearing?"); null: a VLM's answer to it was
    # rejected every time while its identity_text was kept (v3; v2 required it)
    _field("outfit_text", pa.string(), nullable=True),
    _field("items", pa.list_(pa.string())),  # clothing items, one phrase each (a VLM gives none)
    _field("model", pa.string(), nullable=True),  # the VLM (folder, hub id or served name)
    _field("revision", pa.string(), nullable=True),  # its pinned revision; null: not pinned
    _field("prompt", pa.string(), nullable=True),  # the question(s) asked, one per line
    _field("seed", pa.int64(), nullable=True),  # describe seed each question's seed derives from
])
# Ground-truth human parsing (DLCR's clothes masks without a parser model).
PARSING_MASKS = _schema("parsing_masks", 1, [
    _field("image_id", pa.string()),
    _field("mask_png", pa.binary()),  # parsing mask, LIP label ids, PNG-encoded
], key=("image_id",))
# Laptop only: the toy world's own truth about each image, to check the readers against.
TOY_TRUTH = _schema("toy_truth", 1, [
    _field("image_id", pa.string()),
    _field("relative_path", pa.string()),
    _field("pid", pa.int64()),
    _field("outfit", pa.string()),  # "<pid>_<outfit index>"
    _field("camera", pa.int32()),
    _field("modality", pa.string(), allowed=MODALITIES),
    _field("attributes", pa.string()),  # JSON: identity and outfit attributes
], key=("image_id",))

TABLES: dict[str, pa.Schema] = {
    "images": IMAGES,
    "prompts": PROMPTS,
    "tasks": TASKS,
    "generated": GENERATED,
    "scores": SCORES,
    "descriptions": DESCRIPTIONS,
    "parsing_masks": PARSING_MASKS,
    "toy_truth": TOY_TRUTH,
}


def schema_for(table: str) -> pa.Schema:
    """The schema of a table by name; an unknown name lists the valid ones."""
    try:
        return TABLES[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r}; valid tables: {', '.join(TABLES)}") from None


def allowed_values(field: pa.Field) -> tuple[str, ...] | None:
    if not field.metadata or ALLOWED_KEY not in field.metadata:
        return None
    return tuple(field.metadata[ALLOWED_KEY].decode().split(","))


def minimum_value(field: pa.Field) -> int | None:
    if not field.metadata or MINIMUM_KEY not in field.metadata:
        return None
    return int(field.metadata[MINIMUM_KEY])


def row_key(schema: pa.Schema) -> tuple[str, ...]:
    """The columns that key one row of the table (empty: rows need not be unique)."""
    if not schema.metadata or ROW_KEY not in schema.metadata:
        return ()
    return tuple(schema.metadata[ROW_KEY].decode().split(","))
