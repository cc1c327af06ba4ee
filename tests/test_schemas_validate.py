import pyarrow as pa
import pytest

from schemas import TABLES, SchemaError, validate
from schemas.tables import IMAGES, VERSION_KEY, allowed_values


def image_rows(changes=None, n=3):
    rows = [
        {"image_id": f"id{i}", "dataset": "toy", "split": "train", "role": "train", "pid": i,
         "camera": 1, "modality": "rgb", "outfit": None, "path": f"/x/{i}.jpg", "width": 64,
         "height": 128, "origin": "real"}
        for i in range(n)
    ]
    for (row, column), value in (changes or {}).items():
        rows[row][column] = value
    return rows


def test_every_table_is_versioned_and_named():
    for name, schema in TABLES.items():
        assert schema.metadata[b"reid_factory.table"] == name.encode()
        assert int(schema.metadata[VERSION_KEY]) >= 1


def test_valid_table_is_cast_to_the_contract():
    table = validate(pa.Table.from_pylist(image_rows()), "images")
    assert table.schema.equals(IMAGES, check_metadata=True)
    assert table.column("camera").type == pa.int32()


def test_columns_in_another_order_are_accepted():
    table = pa.Table.from_pylist(image_rows())
    reordered = table.select(list(reversed(table.column_names)))
    assert validate(reordered, "images").column_names == IMAGES.names


@pytest.mark.parametrize(
    ("rows", "column", "row", "words"),
    [
        (image_rows({(2, "role"): "probe"}),
         "role", 2, "'probe' not in"),
        (image_rows({(1, "pid"): None}), "pid", 1, "null value"),
        (image_rows({(1, "modality"): "thermal"}), "modality", 1, "'thermal'"),
        (image_rows({(2, "camera"): 2**40}), "camera", 2, "not int32"),
    ],
)
def test_errors_name_table_column_and_first_bad_row(rows, column, row, words):
    with pytest.raises(SchemaError) as caught:
        validate(pa.Table.from_pylist(rows), "images", source="images.parquet")
    error = caught.value
    assert (error.table, error.column, error.row) == ("images", column, row)
    message = str(error)
    assert "images.parquet" in message and f"column {column!r}" in message
    assert f"row {row}" in message and words in message


def test_missing_and_unknown_columns_are_named():
    table = pa.Table.from_pylist(image_rows()).drop_columns(["width"])
    with pytest.raises(SchemaError, match="missing column.*width"):
        validate(table, "images")
    table = pa.Table.from_pylist(image_rows()).append_column("colour", pa.array(["r"] * 3))
    with pytest.raises(SchemaError, match="unknown column.*colour"):
        validate(table, "images")


def test_nullable_outfit_accepts_nulls_and_unknown_table_lists_valid_ones():
    assert validate(pa.Table.from_pylist(image_rows()), "images").column("outfit").null_count == 3
    with pytest.raises(KeyError, match="valid tables: images"):
        validate(pa.table({"a": [1]}), "pictures")


def test_allowed_values_are_schema_data():
    assert allowed_values(IMAGES.field("modality")) == ("rgb", "ir")
    assert allowed_values(IMAGES.field("pid")) is None
