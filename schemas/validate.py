"""Check a table against its contract before a stage commits it.

Errors name the table, the column and the first bad row, so a person can find the fault.
"""

import pyarrow as pa
import pyarrow.compute as pc

from schemas.tables import VERSION_KEY, allowed_values, minimum_value, row_key, schema_for


class SchemaError(ValueError):
    """A table that breaks its contract: which table, column and first bad row."""

    def __init__(self, table: str, column: str | None, row: int | None, problem: str, source=None):
        self.table, self.column, self.row, self.problem = table, column, row, problem
        where = f"table {table!r}"
        if source is not None:
            where += f" ({source})"
        if column is not None:
            where += f", column {column!r}"
        if row is not None:
            where += f", row {row}"
        super().__init__(f"{where}: {problem}")


def _first_index(mask: pa.ChunkedArray) -> int:
    return pc.index(mask, True).as_py()


def _first_uncastable_row(column: pa.ChunkedArray, type_: pa.DataType) -> tuple[int, object]:
    for row, value in enumerate(column.to_pylist()):
        try:
            pa.array([value], type=column.type).cast(type_, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return row, value
    return 0, None


def validate(table: pa.Table, name: str, *, source=None) -> pa.Table:
    """Return `table` cast to the schema of table `name`, or raise SchemaError.

    Columns may come in any order and in any type that casts safely (e.g. int64 -> int32 without
    overflow); missing or unknown columns, nulls in non-nullable columns, values outside a
    column's allowed set or below its minimum, and two rows with one key (what joins rely on)
    are errors. `source` (a file path) is named in the error.
    """
    schema = schema_for(name)
    table = _upgraded(table, schema)
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise SchemaError(name, missing[0], None, f"missing column(s) {missing}", source)
    extra = [c for c in table.column_names if c not in schema.names]
    if extra:
        raise SchemaError(name, extra[0], None, f"unknown column(s) {extra}", source)
    columns = []
    for field in schema:
        column = table.column(field.name)
        if not column.type.equals(field.type):
            try:
                column = column.cast(field.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                row, value = _first_uncastable_row(column, field.type)
                raise SchemaError(
                    name, field.name, row,
                    f"value {value!r} is not {field.type} (column type {column.type}): {exc}",
                    source,
                ) from None
        if not field.nullable and column.null_count:
            row = _first_index(column.is_null())
            raise SchemaError(name, field.name, row, "null value", source)
        allowed = allowed_values(field)
        if allowed is not None:
            bad = pc.invert(pc.fill_null(pc.is_in(column, pa.array(allowed)), True))
            if pc.any(bad).as_py():
                row = _first_index(bad)
                raise SchemaError(
                    name, field.name, row,
                    f"value {column[row].as_py()!r} not in {list(allowed)}", source,
                )
        _check_minimum(column, field, name, source)
        columns.append(column)
    checked = pa.Table.from_arrays(columns, schema=schema)
    _check_key(checked, name, source)
    return checked


def _upgraded(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A table written under an older version of its schema (its metadata says which) with the
    nullable columns added since filled with nulls; any other table as it is."""
    written = (table.schema.metadata or {}).get(VERSION_KEY, b"")
    if not written.isdigit() or int(written) >= int(schema.metadata[VERSION_KEY]):
        return table
    for field in schema:
        if field.nullable and field.name not in table.column_names:
            table = table.append_column(field.name, pa.nulls(table.num_rows, field.type))
    return table


def _check_minimum(column: pa.ChunkedArray, field: pa.Field, name: str, source) -> None:
    minimum = minimum_value(field)
    if minimum is None:
        return
    below = pc.fill_null(pc.less(column, minimum), False)
    if pc.any(below).as_py():
        row = _first_index(below)
        raise SchemaError(name, field.name, row,
                          f"value {column[row].as_py()!r} is below {minimum}", source)


def _check_key(table: pa.Table, name: str, source) -> None:
    """Each key must name one row: the tables other stages join on it."""
    key = row_key(table.schema)
    if not key or table.num_rows < 2:
        return
    rows = table.select(list(key)).append_column("_row", pa.array(range(table.num_rows)))
    counts = rows.group_by(list(key)).aggregate([("_row", "count"), ("_row", "min")])
    repeated = counts.filter(pc.greater(counts["_row_count"], 1))
    if repeated.num_rows:
        first = pc.min(repeated["_row_min"]).as_py()
        same = [pc.equal(table[column], table[column][first]) for column in key]
        mask = same[0]
        for more in same[1:]:
            mask = pc.and_(mask, more)
        rows_with_it = pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist()
        values = ", ".join(f"{column} {table[column][first].as_py()!r}" for column in key)
        raise SchemaError(name, key[0], rows_with_it[1],
                          f"{values} is also in row {first}: the key must be unique "
                          f"({repeated.num_rows} key(s) repeated)", source)
