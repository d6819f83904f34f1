"""Reading the input: which files, their digests and columns, and the rows in fixed-size chunks.

Chunks hold exactly ``chunk_rows`` rows (the last chunk of each file may hold fewer) and
never span two files, so chunk ``i`` names the same rows on every run over the same input
with the same ``chunk_rows``; that is what lets an interrupted job resume by chunk index.

Parquet is read batch by batch (``ParquetFile.iter_batches``), CSV block by block with
pyarrow's streaming reader, so at most about one chunk of input is held per chunk in
flight. CSV columns are read as text; each chunk is later cast to the types pyarrow infers
from the file's first block (see :func:`cast_csv_columns`), so a value of the wrong type in
row 5,000,000 fails only the rows around it instead of the whole read.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from shipyard.batch.schemas import InputFileInfo, InputFormat, InputInfo
from shipyard.errors import InvalidArgument, NotFound

SUFFIXES: dict[str, InputFormat] = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
CSV_BLOCK_BYTES = 4 * 1024 * 1024
# pyarrow.csv's default spellings of a missing value; text columns keep them as text.
CSV_NULLS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
             "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null"]  # fmt: skip
HASH_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class InputFile:
    path: Path
    name: str  # relative to the input directory, or the file's own name
    format: InputFormat
    size: int


@dataclass(frozen=True)
class FileSchema:
    """The columns of one input file, and for CSV the types its first block suggests."""

    schema: Any  # pa.Schema
    rows: int | None
    csv_types: dict[str, Any] | None = None  # column -> pa.DataType

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)


@dataclass(frozen=True)
class Chunk:
    index: int
    first_row: int
    table: Any  # pa.Table
    csv_types: dict[str, Any] | None = field(default=None, repr=False)


def discover(path: str | os.PathLike[str]) -> list[InputFile]:
    """The input files: ``path`` itself, or every .parquet/.csv under a directory, sorted
    by relative path (hidden files and names starting with ``_``, such as ``_SUCCESS``, skipped)."""
    root = Path(path)
    if root.is_file():
        fmt = SUFFIXES.get(root.suffix.lower())
        if fmt is None:
            raise InvalidArgument(
                f"'{root}' is neither .parquet nor .csv", {"field": "input", "supported": sorted(SUFFIXES)}
            )
        return [InputFile(root, root.name, fmt, root.stat().st_size)]
    if not root.is_dir():
        raise NotFound(f"no input file or directory at '{root}'", {"field": "input", "path": str(root)})
    found: list[InputFile] = []
    for candidate in root.rglob("*"):
        rel = candidate.relative_to(root)
        if any(part.startswith((".", "_")) for part in rel.parts) or not candidate.is_file():
            continue
        fmt = SUFFIXES.get(candidate.suffix.lower())
        if fmt is not None:
            found.append(InputFile(candidate, rel.as_posix(), fmt, candidate.stat().st_size))
    if not found:
        raise InvalidArgument(f"'{root}' holds no .parquet or .csv files", {"field": "input", "path": str(root)})
    return sorted(found, key=lambda f: f.name)


def digest(root: str | os.PathLike[str], files: Sequence[InputFile], schemas: Sequence[FileSchema]) -> InputInfo:
    """sha256 of each file and of all their bytes in order, in one pass over the bytes."""
    total = hashlib.sha256()
    infos = []
    for item, schema in zip(files, schemas, strict=True):
        own = hashlib.sha256()
        size = 0
        with item.path.open("rb") as fh:
            while block := fh.read(HASH_BLOCK):
                own.update(block)
                total.update(block)
                size += len(block)
        infos.append(
            InputFileInfo(path=item.name, format=item.format, bytes=size, sha256=own.hexdigest(), rows=schema.rows)
        )
    return InputInfo(path=str(root), bytes=sum(i.bytes for i in infos), sha256=total.hexdigest(), files=infos)


def read_schema(item: InputFile) -> FileSchema:
    try:
        if item.format == "parquet":
            meta = pq.ParquetFile(item.path)
            return FileSchema(meta.schema_arrow, meta.metadata.num_rows)
        with pacsv.open_csv(item.path, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES)) as reader:
            schema = reader.schema
        return FileSchema(schema, None, {name: schema.field(name).type for name in schema.names})
    except (pa.ArrowException, OSError) as exc:
        raise InvalidArgument(
            f"cannot read input file '{item.name}' as {item.format}: {exc}", {"field": "input", "path": item.name}
        ) from exc


def _batches(item: InputFile, schema: FileSchema, columns: Sequence[str] | None, chunk_rows: int) -> Iterator[Any]:
    wanted = list(columns) if columns is not None else schema.columns
    if item.format == "parquet":
        # pre_buffer would read every row group of the file ahead: the whole file in memory.
        with pq.ParquetFile(item.path, pre_buffer=False) as parquet:
            yield from parquet.iter_batches(batch_size=chunk_rows, columns=wanted, use_threads=True)
        return
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in wanted}, include_columns=wanted, strings_can_be_null=False
    )
    with pacsv.open_csv(
        item.path, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES), convert_options=convert
    ) as reader:
        yield from reader


def rechunk(batches: Iterable[Any], rows: int) -> Iterator[Any]:
    """Tables of exactly ``rows`` rows (the last may be shorter) from batches of any size."""
    buffer: list[Any] = []
    buffered = 0
    for batch in batches:
        rest = batch
        while rest.num_rows:
            take = min(rows - buffered, rest.num_rows)
            buffer.append(rest.slice(0, take))
            buffered += take
            rest = rest.slice(take)
            if buffered == rows:
                yield pa.Table.from_batches(buffer)
                buffer, buffered = [], 0
    if buffered:
        yield pa.Table.from_batches(buffer)


def iter_chunks(
    files: Sequence[InputFile],
    schemas: Sequence[FileSchema],
    chunk_rows: int,
    columns: Mapping[int, Sequence[str] | None],
) -> Iterator[Chunk]:
    """Every chunk of every file, in order, with its global index and first row offset.

    ``columns[i]`` limits what is read from file ``i`` (None: everything)."""
    index = 0
    first_row = 0
    for position, (item, schema) in enumerate(zip(files, schemas, strict=True)):
        try:
            for table in rechunk(_batches(item, schema, columns[position], chunk_rows), chunk_rows):
                yield Chunk(index, first_row, table, schema.csv_types)
                index += 1
                first_row += table.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise InvalidArgument(
                f"cannot read input file '{item.name}' near row {first_row}: {exc}",
                {"field": "input", "path": item.name, "row": first_row},
            ) from exc


def chunk_count(schemas: Sequence[FileSchema], chunk_rows: int) -> int | None:
    """How many chunks the input makes, when every file's row count is known (Parquet)."""
    if any(s.rows is None for s in schemas):
        return None
    return sum(-(-(s.rows or 0) // chunk_rows) for s in schemas)


def _nulls_to_null(values: Any) -> Any:
    missing = pc.is_in(values, value_set=pa.array(CSV_NULLS, pa.string()))
    return pc.if_else(missing, pa.scalar(None, pa.string()), values)


def _cast_column(values: Any, target: Any) -> Any:
    """Text to ``target``; integers that turn out to have fractions become float64. A
    column that does not convert stays text, for the model (and its signature) to judge."""
    if pa.types.is_string(target) or pa.types.is_large_string(target):
        return values
    cleaned = _nulls_to_null(values)
    if pa.types.is_null(target):
        return cleaned
    ladder = [target, pa.float64()] if pa.types.is_integer(target) else [target]
    for candidate in ladder:
        try:
            return pc.cast(cleaned, candidate)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return values


def cast_csv_columns(table: Any, types: Mapping[str, Any]) -> Any:
    """Cast the text columns of a CSV chunk (or a slice of one) to the inferred ``types``."""
    columns = []
    for name in table.column_names:
        column = table.column(name)
        target = types.get(name)
        columns.append(column if target is None else _cast_column(column, target))
    return pa.table(columns, names=table.column_names)
