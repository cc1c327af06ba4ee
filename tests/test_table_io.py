import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from factory.table_io import read_table, write_table
from schemas import SchemaError
from schemas.tables import SCORES


def scores(n=4, confidence=0.5):
    return pa.table({"image_id": [f"i{k}" for k in range(n)], "scorer": ["s"] * n,
                     "confidence": [confidence] * n, "rank": [1] * n, "kept": [True] * n,
                     "method": ["dlcr"] * n, "pid": [1] * n, "similarity": [0.5] * n,
                     "error": pa.nulls(n, pa.string())})


def test_round_trip_keeps_schema_and_metadata(tmp_path):
    path = tmp_path / "scores.parquet"
    write_table(scores(), path, "scores")
    assert pq.read_schema(path).equals(SCORES, check_metadata=True)
    assert read_table(path, "scores").num_rows == 4
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]


def test_bad_table_leaves_the_old_file_untouched(tmp_path):
    path = tmp_path / "scores.parquet"
    write_table(scores(), path, "scores")
    before = path.read_bytes()
    bad = scores().set_column(4, "kept", pa.array([True, None, True, True]))
    with pytest.raises(SchemaError, match="kept.*row 1"):
        write_table(bad, path, "scores")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]


def test_reading_a_file_of_another_table_names_the_file(tmp_path):
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"image_id": ["a"]}), path)
    with pytest.raises(SchemaError, match=f"{path}.*missing column"):
        read_table(path, "scores")
    with pytest.raises(FileNotFoundError, match="nothing.parquet"):
        read_table(tmp_path / "nothing.parquet", "scores")
