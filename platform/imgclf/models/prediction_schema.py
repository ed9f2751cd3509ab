"""The Parquet schema of predictions: one row per image, stable column names (the batch output and the request log)."""

from __future__ import annotations

import pyarrow as pa

TOP_K_TYPE = pa.list_(pa.struct([("label", pa.string()), ("score", pa.float32())]))

COLUMNS: tuple[pa.Field, ...] = (
    pa.field("path", pa.string(), nullable=False),  # the input file: an absolute path, or a URI for URI inputs
    pa.field("label", pa.string()),  # the most probable class; null when error is set
    pa.field("label_index", pa.int32()),  # its index in the model's labels
    pa.field("score", pa.float32()),  # its probability
    pa.field("top_k", TOP_K_TYPE),  # the k most probable classes, best first
    pa.field("model", pa.string(), nullable=False),  # the model's registry name
    pa.field("model_version", pa.string(), nullable=False),  # its concrete version
    pa.field("error", pa.string()),  # null when the file was classified; else the cause
)
EMBEDDING = pa.field("embedding", pa.list_(pa.float32()))  # only with --embeddings


def output_schema(*, embeddings: bool) -> pa.Schema:
    return pa.schema([*COLUMNS, *([EMBEDDING] if embeddings else [])])
