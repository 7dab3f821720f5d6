"""riskwall.logfile: the optional log file carries the same JSON lines as stdout and rotates by whole lines at
its size limit, keeping `backups` old files."""

from __future__ import annotations

import io
import json
import stat
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from riskwall import logfile, logs

LINE_BYTES = 100  # 99 characters and the newline


def line(n: int) -> str:
    return f"{n:05d}".ljust(LINE_BYTES - 1, "x")


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_write_when_next_line_would_pass_size_limit_then_file_rotated_before_it(tmp_path: Path) -> None:
    path = tmp_path / "riskwall.jsonl"
    sink = logfile.configure_file(path, max_bytes=10 * LINE_BYTES, backups=3)

    for n in range(11):
        sink.write_line(line(n))
    sink.close()

    backup = path.with_name("riskwall.jsonl.1")
    assert backup.stat().st_size == 10 * LINE_BYTES  # exactly at the limit: the 10th line still fitted
    assert read_lines(backup) == [line(n) for n in range(10)]
    assert read_lines(path) == [line(10)]


def test_write_when_backups_exhausted_then_oldest_dropped_and_order_kept(tmp_path: Path) -> None:
    path = tmp_path / "riskwall.jsonl"
    sink = logfile.configure_file(path, max_bytes=10 * LINE_BYTES, backups=2)

    for n in range(35):
        sink.write_line(line(n))
    sink.close()

    assert read_lines(path.with_name("riskwall.jsonl.2")) == [line(n) for n in range(10, 20)]
    assert read_lines(path.with_name("riskwall.jsonl.1")) == [line(n) for n in range(20, 30)]
    assert read_lines(path) == [line(n) for n in range(30, 35)]
    assert not path.with_name("riskwall.jsonl.3").exists()
    for file in (path, path.with_name("riskwall.jsonl.1"), path.with_name("riskwall.jsonl.2")):
        assert file.stat().st_size <= 10 * LINE_BYTES


def test_write_when_backups_zero_then_file_restarted_and_no_backup_kept(tmp_path: Path) -> None:
    path = tmp_path / "riskwall.jsonl"
    sink = logfile.configure_file(path, max_bytes=3 * LINE_BYTES, backups=0)

    for n in range(7):
        sink.write_line(line(n))
    sink.close()

    assert read_lines(path) == [line(6)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["riskwall.jsonl"]


def test_write_when_line_longer_than_limit_then_it_gets_a_file_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "riskwall.jsonl"
    sink = logfile.configure_file(path, max_bytes=2 * LINE_BYTES, backups=5)
    long_line = "L" * (5 * LINE_BYTES)

    sink.write_line(line(0))
    sink.write_line(long_line)
    sink.write_line(line(1))
    sink.close()

    assert read_lines(path.with_name("riskwall.jsonl.2")) == [line(0)]
    assert read_lines(path.with_name("riskwall.jsonl.1")) == [long_line]
    assert read_lines(path) == [line(1)]


def test_configure_file_when_folder_missing_and_file_exists_then_created_appended_and_size_counted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "logs" / "deep" / "riskwall.jsonl"
    first = logfile.configure_file(path, max_bytes=4 * LINE_BYTES, backups=1)
    for n in range(3):
        first.write_line(line(n))
    first.close()

    second = logfile.configure_file(path, max_bytes=4 * LINE_BYTES, backups=1)  # a restart
    second.write_line(line(3))
    second.write_line(line(4))
    second.close()

    assert read_lines(path.with_name("riskwall.jsonl.1")) == [line(n) for n in range(4)]
    assert read_lines(path) == [line(4)]
    assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0  # not world-readable


@pytest.mark.parametrize(("max_bytes", "backups"), [(0, 1), (-5, 1), (100, -1)])
def test_configure_file_when_limits_invalid_then_value_error(tmp_path: Path, max_bytes: int, backups: int) -> None:
    with pytest.raises(ValueError):
        logfile.configure_file(tmp_path / "x.jsonl", max_bytes=max_bytes, backups=backups)


def test_logs_when_teed_to_file_then_file_lines_are_the_same_json_as_stdout(
    tmp_path: Path, restore_logging: None
) -> None:
    path = tmp_path / "riskwall.jsonl"
    stdout = io.StringIO()
    sink = logfile.configure_file(path, max_bytes=1024 * 1024, backups=1)
    logs.configure(logfile.tee(stdout, sink))
    log = logs.get_logger("riskwall.test")

    log.info("decision", verdict="block", rule_id="order-qty", qty=Decimal("5"), context={"max_qty": "0.5"},
             headers={"X-MBX-APIKEY": "vmPUZE6mv9SD5VNH"})
    log.warning("state_store_down", store="redis://***@redis:6379/0", failures=3)
    log.info("policy_loaded", revision="5f7d0969a702", rules=8)
    sink.close()

    stdout_lines = stdout.getvalue().splitlines()
    assert len(stdout_lines) == 3
    assert read_lines(path) == stdout_lines
    parsed = [json.loads(raw) for raw in read_lines(path)]
    assert [p["event"] for p in parsed] == ["decision", "state_store_down", "policy_loaded"]
    assert parsed[0]["qty"] == "5" and parsed[0]["headers"] == {"X-MBX-APIKEY": "[redacted]"}
    assert "vmPUZE6mv9SD5VNH" not in path.read_text()


def test_tee_when_line_arrives_in_pieces_then_file_gets_it_whole_once_complete(tmp_path: Path) -> None:
    path = tmp_path / "riskwall.jsonl"
    stdout = io.StringIO()
    sink = logfile.configure_file(path, max_bytes=1024, backups=1)
    stream = logfile.tee(stdout, sink)

    stream.write('{"event":')
    assert read_lines(path) == []
    stream.write('"a"}')
    stream.write('\n{"event":"b"}\n')
    sink.close()

    assert read_lines(path) == ['{"event":"a"}', '{"event":"b"}']
    assert stdout.getvalue() == '{"event":"a"}\n{"event":"b"}\n'


def test_write_when_file_cannot_be_written_then_stdout_keeps_lines_error_reported_once_and_writing_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "riskwall.jsonl"
    stdout = io.StringIO()
    sink = logfile.configure_file(path, max_bytes=1024, backups=1)
    stream = logfile.tee(stdout, sink)
    real_open = logfile.RotatingFileSink._open

    def disk_full(self: logfile.RotatingFileSink, mode: str) -> io.BufferedWriter:
        raise OSError(28, "No space left on device")

    class FullDisk(io.BytesIO):
        def write(self, data: object) -> int:
            raise OSError(28, "No space left on device")

    stream.write("one\n")
    sink._file.close()  # type: ignore[union-attr]
    sink._file = FullDisk()  # type: ignore[assignment]  # the next write fails, and so does reopening
    monkeypatch.setattr(logfile.RotatingFileSink, "_open", disk_full)
    stream.write("two\n")
    stream.write("three\n")
    monkeypatch.setattr(logfile.RotatingFileSink, "_open", real_open)
    stream.write("four\n")
    sink.close()

    assert stdout.getvalue() == "one\ntwo\nthree\nfour\n"
    assert read_lines(path) == ["one", "four"]
    assert capsys.readouterr().err.count("cannot write log file") == 1


def test_write_when_threads_write_concurrently_then_every_line_lands_whole(tmp_path: Path) -> None:
    path = tmp_path / "riskwall.jsonl"
    sink = logfile.configure_file(path, max_bytes=20 * LINE_BYTES, backups=100)

    def writer(worker: int) -> None:
        for n in range(200):
            sink.write_line(json.dumps({"worker": worker, "n": n}))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    sink.close()

    files = [path, *tmp_path.glob("riskwall.jsonl.*")]
    records = [json.loads(raw) for file in files for raw in read_lines(file)]
    assert len(records) == 800
    assert {(r["worker"], r["n"]) for r in records} == {(w, n) for w in range(4) for n in range(200)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("52428800", 52428800), ("512k", 512 * 1024), ("50M", 50 * 1024**2), ("50MiB", 50 * 1024**2),
     ("1G", 1024**3), ("1gb", 1024**3), ("100b", 100)],
)
def test_parse_size_when_units_given_then_bytes(text: str, expected: int) -> None:
    assert logfile.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "M", "-1", "1.5M", "50 MB of logs", "1T"])
def test_parse_size_when_text_is_no_size_then_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        logfile.parse_size(text)
