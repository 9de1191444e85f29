"""Reading CSV and Parquet files for ``otel-mlmon profile build``: one type per column, decided once and said.

A CSV file has no types, and pandas guesses them chunk by chunk: one stray ``"unknown"`` turns a numeric column
into strings (a categorical reference that production's numbers are never compared with), zip codes lose their
leading zeros, and dates stay strings. This module decides each CSV column's type once, from the first
:data:`SAMPLE_ROWS` rows, applies it to every batch, and reports every decision a user may want to change as
one line naming the column, what was decided and the option that changes it:

* a column declared as strings (``--categorical``, ``--text``, ``--ids``) is read as strings, verbatim;
* a column declared ``--numeric``, or one whose sample has at most :data:`STRAY_SHARE` values that are not
  numbers, is numeric: those values count as missing (noted with their number and an example); a numeric column
  whose values have leading zeros (``06000``) is noted too;
* a column whose sample is mostly ISO 8601 dates (``2024-05-01``, ``2024-05-01 12:30:00+02:00``) becomes a
  datetime column (summarised as seconds since the epoch, like a datetime column in production), values that are
  not dates counting as missing;
* any other column is strings, noted when most of its values are numbers (``--numeric`` reads them as such).

A Parquet file keeps its types (``--numeric`` still reads a string column as numbers). The pandas index a file
may hold (``__index_level_0__`` in Parquet, the unnamed first column ``df.to_csv()`` writes) is not a feature:
it is skipped, and noted, unless ``keep_index``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from typing import Any

# STRAY_SHARE: the largest share of a column's non-missing sample values that may fail to parse for it to stay
# numeric (or datetime); the share the SDK applies to numbers with stray strings, so both read such columns alike.
from otel_mlmon.adapters._convert import STRAY_SHARE

__all__ = ["SAMPLE_ROWS", "STRAY_SHARE", "MissingColumns", "TabularFile"]

#: Rows of a CSV file each column's type is decided from.
SAMPLE_ROWS = 10_000
# ISO 8601 dates and date-times as pandas' format="ISO8601" reads them.
_ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
_LEADING_ZERO = r"[+-]?0\d"
_CSV_INDEX = re.compile(r"Unnamed: 0")


class MissingColumns(ValueError):
    """Columns named on the command line that the file does not have."""

    def __init__(self, path: str, missing: list[str], columns: list[str]) -> None:
        super().__init__(f"no column {', '.join(map(repr, missing))} in {path}; it has {columns}")


class TabularFile:
    """One CSV or Parquet file, read in batches of bounded size with one type per column.

    Args:
        path: ``.parquet`` or ``.pq``; else a CSV file (``.csv``, compressed as pandas infers from the suffix:
            ``.csv.gz``; tab-separated when named ``.tsv``).
        batch_rows: Rows per batch (memory stays bounded whatever the file size).
        strings: Columns read as strings whatever their values (the declared categorical, text and id columns).
        numeric: Columns read as numbers; values that are not numbers count as missing.
        skip: Columns not read at all (``--exclude``).
        keep_index: Read the pandas index columns a file holds as ordinary columns.
        missing_ok: Ignore the columns named in ``strings``, ``numeric`` or ``skip`` that the file does not have
            (``otel-mlmon drift``: a reference's categorical columns need not all be in every current file).
        row_groups: Parquet only: read just these row groups (one part of a distributed build).

    Raises:
        MissingColumns: A column named in ``strings``, ``numeric`` or ``skip`` is not in the file (unless
            ``missing_ok``).
        ImportError: pandas (CSV) or pyarrow (Parquet) is not installed.

    Attributes:
        columns: The columns each batch holds, in file order.
        total_rows: Rows in the file when its metadata says so (Parquet), else None.
    """

    def __init__(
        self,
        path: str,
        batch_rows: int = 100_000,
        *,
        strings: Collection[str] = (),
        numeric: Collection[str] = (),
        skip: Collection[str] = (),
        keep_index: bool = False,
        missing_ok: bool = False,
        row_groups: Sequence[int] | None = None,
    ) -> None:
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
        self.path = path
        self.batch_rows = batch_rows
        self.strings = frozenset(strings)
        self.numeric = frozenset(numeric)
        self.skip = frozenset(skip)
        self.keep_index = keep_index
        self.row_groups = None if row_groups is None else list(row_groups)
        name = path.lower()
        self.parquet = name.endswith((".parquet", ".pq"))
        self._sep = "\t" if name.endswith((".tsv", ".tsv.gz")) else ","
        self.total_rows: int | None = None
        self._notes: dict[str, list[str]] = {}
        self._options: dict[str, str] = {}
        # CSV: the type decided per column ("numeric", "datetime", "string", or None: left to pandas, bools).
        self._types: dict[str, str | None] = {}
        # Per numeric/datetime column: [values that failed to parse, non-missing values, first such value].
        self._strays: dict[str, list[Any]] = {}
        header = self._open_parquet() if self.parquet else self._open_csv()
        self._header = header
        missing = [c for c in sorted(self.strings | self.numeric | self.skip) if c not in header]
        if missing and not missing_ok:
            raise MissingColumns(path, missing, header)
        present = frozenset(header)
        self.strings, self.numeric, self.skip = (
            self.strings & present,
            self.numeric & present,
            self.skip & present,
        )
        self.columns = [c for c in self.columns if c not in self.skip]
        if not self.parquet:
            self._decide_csv_types()

    # -- reading --------------------------------------------------------------------------------------------------

    def batches(self) -> Iterator[Any]:
        """The file's rows in batches: pandas DataFrames (CSV) or pyarrow RecordBatches (Parquet)."""
        return self._parquet_batches() if self.parquet else self._csv_batches()

    def notes(self) -> list[str]:
        """One line per column whose reading a user may want to change, in file order: what was decided and the
        option that changes it (complete once every batch was read)."""
        lines = []
        for column in sorted(self._notes.keys() | self._strays.keys(), key=self._header.index):
            facts = list(self._notes.get(column, ()))
            strays, seen, example = self._strays.get(column, (0, 0, None))
            if strays:
                kind = "dates" if self._types.get(column) == "datetime" else "numbers"
                facts.append(
                    f"{strays:,} of {seen:,} values are not {kind} (e.g. {example!r}), counted as missing"
                )
            if not facts:
                continue
            if column in self._options:
                option = self._options[column]
            elif column in self.numeric:
                option = "as --numeric asks"
            else:
                option = f"pass --categorical {column} to keep its values as strings"
            lines.append(f"column {column!r}: {'; '.join(facts)}; {option}")
        return lines

    # -- Parquet --------------------------------------------------------------------------------------------------

    def _open_parquet(self) -> list[str]:
        import pyarrow.parquet as pq

        self._file = pq.ParquetFile(self.path)
        meta = self._file.metadata
        self.total_rows = (
            meta.num_rows
            if self.row_groups is None
            else sum(meta.row_group(i).num_rows for i in self.row_groups)
        )
        schema = self._file.schema_arrow
        header = list(schema.names)
        index = [c for c in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)]
        self.columns = self._drop_index(header, [c for c in index if c in header])
        return header

    def _parquet_batches(self) -> Iterator[Any]:
        batches = self._file.iter_batches(
            batch_size=self.batch_rows, row_groups=self.row_groups, columns=self.columns
        )
        for batch in batches:
            for name in self.numeric:
                batch = self._parquet_numeric(batch, name)
            yield batch

    def _parquet_numeric(self, batch: Any, name: str) -> Any:
        import pandas as pd
        import pyarrow as pa

        i = batch.schema.get_field_index(name)
        column = batch.column(i)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            return batch  # numbers already, or a type whose values are no text to parse
        values = column.to_pandas()
        numbers = self._to_numbers(name, values, pd)
        return batch.set_column(i, name, pa.array(numbers.to_numpy(dtype="float64", na_value=float("nan"))))

    # -- CSV ------------------------------------------------------------------------------------------------------

    def _open_csv(self) -> list[str]:
        import pandas as pd

        # Raw text of the first rows: what every type decision is made on (missing values as pandas reads them).
        self._sample = pd.read_csv(self.path, sep=self._sep, nrows=SAMPLE_ROWS, dtype=str)
        header = [str(c) for c in self._sample.columns]
        # `df.to_csv()` writes the index as a first column with an empty name, which pandas calls "Unnamed: 0".
        index = header[:1] if header and _CSV_INDEX.fullmatch(header[0]) else []
        self.columns = self._drop_index(header, index)
        return header

    def _drop_index(self, header: list[str], index: list[str]) -> list[str]:
        if self.keep_index:
            return header
        for name in index:
            if name in self.skip:
                continue
            self._note(
                name,
                "the pandas index stored in the file, not a column of the data: skipped",
                "pass --keep-index to profile it as a feature",
            )
        return [c for c in header if c not in index]

    def _decide_csv_types(self) -> None:
        import pandas as pd

        for name in self.columns:
            if name in self.strings:
                self._types[name] = "string"
                continue
            raw = self._sample[name].dropna().astype(str)
            if name in self.numeric:
                self._types[name] = "numeric"
                self._strays[name] = [0, 0, None]
                continue
            numbers = pd.to_numeric(raw, errors="coerce")
            parsed = int(numbers.notna().sum())
            failed = len(raw) - parsed
            if not len(raw) or (parsed and failed <= STRAY_SHARE * len(raw)):
                self._types[name] = "numeric"
                self._strays[name] = [0, 0, None]
                zeros = raw[raw.str.match(_LEADING_ZERO) & numbers.notna()]
                if len(zeros):
                    example = zeros.iloc[0]
                    self._note(
                        name,
                        f"values with leading zeros (e.g. {example!r}) read as numbers ({example!r} -> "
                        f"{numbers[zeros.index[0]]:g})",
                    )
                continue
            if _bools(raw):
                self._types[name] = (
                    None  # pandas reads True/False columns as bool: categorical, like production
                )
                continue
            dates = int(raw.str.fullmatch(_ISO_DATE).sum())
            if dates and len(raw) - dates <= STRAY_SHARE * len(raw):
                self._types[name] = "datetime"
                self._strays[name] = [0, 0, None]
                self._note(
                    name,
                    f"ISO dates (e.g. {raw.iloc[0]!r}) read as datetimes, summarised as seconds since the epoch "
                    "like a datetime column in production",
                    f"pass --categorical {name} (or --ids {name}) to keep them as strings",
                )
                continue
            self._types[name] = "string"
            if parsed >= 0.5 * len(raw):
                example = raw[numbers.isna()].iloc[0]
                self._note(
                    name,
                    f"{parsed:,} of {len(raw):,} sampled values are numbers but the rest are not (e.g. "
                    f"{example!r}): read as strings, so production's numbers are not compared with it",
                    f"pass --numeric {name} to read it as numbers with the rest counted as missing",
                )
        del self._sample

    def _csv_batches(self) -> Iterator[Any]:
        import pandas as pd

        # Strings and dates are read as text; numbers are left to pandas' fast parser and only a batch in which a
        # stray value made pandas fall back to text is converted value by value.
        dtype = {n: str for n, t in self._types.items() if t in ("string", "datetime")}
        reader = pd.read_csv(
            self.path, sep=self._sep, chunksize=self.batch_rows, dtype=dtype, usecols=self.columns
        )
        with reader:
            for frame in reader:
                for name, kind in self._types.items():
                    if kind == "numeric":
                        values = frame[name]
                        if pd.api.types.is_numeric_dtype(values.dtype) and values.dtype != bool:
                            self._strays[name][1] += int(values.notna().sum())
                        else:
                            frame[name] = self._to_numbers(name, values, pd)
                    elif kind == "datetime":
                        frame[name] = self._to_dates(name, frame[name], pd)
                yield frame

    # -- conversions ----------------------------------------------------------------------------------------------

    def _to_numbers(self, name: str, values: Any, pd: Any) -> Any:
        numbers = pd.to_numeric(values.astype(object), errors="coerce")
        self._count(name, values, numbers)
        return numbers.astype("float64")

    def _to_dates(self, name: str, values: Any, pd: Any) -> Any:
        dates = pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")
        self._count(name, values, dates)
        return dates

    def _count(self, name: str, raw: Any, parsed: Any) -> None:
        counts = self._strays.setdefault(name, [0, 0, None])
        present = raw.notna()
        failed = present & parsed.isna()
        counts[0] += int(failed.sum())
        counts[1] += int(present.sum())
        if counts[2] is None and counts[0]:
            counts[2] = str(raw[failed].iloc[0])

    def _note(self, column: str, fact: str, option: str | None = None) -> None:
        self._notes.setdefault(column, []).append(fact)
        if option is not None:
            self._options[column] = option


def _bools(raw: Any) -> bool:
    """Whether every value is one pandas reads as a bool (``True``/``false``/``TRUE``...)."""
    return bool(len(raw)) and bool(raw.str.lower().isin(("true", "false")).all())
