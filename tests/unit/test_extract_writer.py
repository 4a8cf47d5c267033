"""The extract's write pipeline: batches prepared on a second thread, row groups cut exactly."""

from __future__ import annotations

import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sdwh.projects.extract import _ahead, _coded, _exact_batches, _LastPeriod, _write_parquet


def test_items_prepared_ahead_arrive_in_order_from_another_thread():
    threads = set()

    def items():
        for i in range(50):
            threads.add(threading.current_thread().name)
            yield i

    with _ahead(items(), depth=2) as got:
        assert list(got) == list(range(50))
    assert threads == {"extract-prepare"}


def test_an_error_while_preparing_is_raised_to_the_writer():
    def items():
        yield 1
        raise ValueError("warehouse read failed")

    with pytest.raises(ValueError, match="warehouse read failed"), _ahead(items(), 2) as got:
        for _ in got:
            pass


def test_a_writer_that_stops_early_stops_the_preparing_thread():
    made = []

    def items():
        for i in range(1000):
            made.append(i)
            yield i

    started = time.perf_counter()
    with _ahead(items(), depth=2) as got:
        assert next(iter(got)) == 0
    assert len(made) <= 5 and time.perf_counter() - started < 5
    assert not [t for t in threading.enumerate() if t.name == "extract-prepare"]


def test_batches_are_recut_to_exact_row_groups_whatever_the_input_chunks():
    table = pa.table({"n": list(range(2500)), "s": [str(i % 7) for i in range(2500)]})
    layouts = [table.to_batches(max_chunksize=size) for size in (7, 333, 1000, 2500)]
    outputs = []
    for batches in layouts:
        reader = pa.RecordBatchReader.from_batches(table.schema, batches)
        cut = list(_exact_batches(reader, 1000))
        assert [b.num_rows for b in cut] == [1000, 1000, 500]
        outputs.append(pa.Table.from_batches(cut))
    assert all(t.equals(table) for t in outputs)


def test_written_file_does_not_depend_on_how_the_rows_arrived(tmp_path):
    """Whatever the input chunks, and with the strings dictionary-coded on the preparing
    thread, the file is byte for byte what pyarrow writes from the plain rows."""
    table = pa.table({"person_id": [f"{i:032x}" for i in range(2500)],
                      "q": [f"2025Q{1 + i % 4}" for i in range(2500)],
                      "age": [i % 90 for i in range(2500)],
                      "ref": [None if i % 11 == 0 else str(10000 + i % 300) for i in range(2500)]})
    plain = tmp_path / "plain.parquet"
    pq.write_table(table, plain, row_group_size=1000, compression="zstd")
    for i, size in enumerate((7, 1000, 2500)):
        reader = pa.RecordBatchReader.from_batches(table.schema,
                                                   table.to_batches(max_chunksize=size))
        target = tmp_path / f"{i}.parquet"
        batches = (_coded(b) for b in _exact_batches(reader, 1000))
        assert _write_parquet(batches, table.schema, target) == 2500
        assert target.read_bytes() == plain.read_bytes()
    back = pq.read_table(tmp_path / "0.parquet")
    assert back.schema == table.schema and back.equals(table)
    assert pq.ParquetFile(tmp_path / "0.parquet").metadata.num_row_groups == 3


def test_last_period_keeps_only_the_latest_periods_rows_in_order():
    last = _LastPeriod("q", ["age"])
    last.add(pa.record_batch({"q": ["2025Q1", "2025Q2", "2025Q1"], "age": [1, 2, 3]}))
    last.add(pa.record_batch({"q": ["2025Q3", "2025Q2", "2025Q3"], "age": [4, 5, 6]}))
    last.add(pa.record_batch({"q": ["2025Q1", "2025Q3"], "age": [7, 8]}))
    assert last.at == "2025Q3"
    assert list(last.frame()["age"]) == [4, 6, 8]
