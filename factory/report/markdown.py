"""Markdown pieces shared by the reports."""

import polars as pl


def markdown_table(frame, *, digits: int = 4) -> str:
    """A Markdown table of a polars (or pandas) data frame; floats to `digits` significant
    digits, missing values blank."""
    if not isinstance(frame, pl.DataFrame):
        frame = pl.from_pandas(frame)

    def cell(value) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return ""
        return f"{value:.{digits}g}" if isinstance(value, float) else str(value)

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(value) for value in row) + " |" for row in frame.iter_rows()]
    return "\n".join([header, rule, *rows])
