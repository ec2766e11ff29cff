"""The seed's examples, one test each, through a real daemon and real processes.

Adapted to this host: two cores, the sample snapshots in examples/data, and small
stand-in programs (gsnap, galaxy_view, mapper, reducer) written by the tests.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from stratos import Processor
from tests.daemon import Daemon

ROOT = Path(__file__).resolve().parents[2]
GSNAP = ROOT / "examples" / "bin" / "gsnap"
SNAPSHOTS = ROOT / "examples" / "data" / "snapshots"


def expected_gsnap(pattern: str) -> list[str]:
    """What gsnap prints for each matching snapshot, computed here without StratOS."""
    import subprocess

    return [
        subprocess.run([str(GSNAP), "-nt", "01111", str(p)], capture_output=True, text=True, check=True).stdout
        for p in sorted(SNAPSHOTS.glob(pattern))
    ]


def test_batch_glob_then_velocity_dispersion_analysis(daemon: Daemon) -> None:
    job = Processor(master="local", threads_per_task=1, job_id="demo")
    counts = job.glob_batch(f"{GSNAP} -nt 01111 %f%", f"{SNAPSHOTS}/*_2*")
    assert counts["finished"] == 20 and sum(counts.values()) == 20
    results = job.get_results()
    assert results == expected_gsnap("*_2*")  # in submission (sorted) order

    vel_disp = np.array([float(res.split("\t")[1]) for res in results])
    assert vel_disp.size == 20
    assert 80 < vel_disp.min() <= np.median(vel_disp) <= vel_disp.max() < 110
    assert math.isfinite(stats.kurtosis(vel_disp)) and math.isfinite(stats.skew(vel_disp))
    assert math.isfinite(float(stats.mode(vel_disp).mode)) and math.isfinite(stats.moment(vel_disp, 5))
    assert job.get_results() == []  # everything was already returned


def seed_stream_incremental(**opts: Any) -> None:
    """Streaming with incremental results (``opts``: the master and sizes of the Processor)."""
    job = Processor(threads_per_task=1, job_id="demo-stream", **opts)
    # a slow first file keeps the job busy while the second call arrives
    s = job.glob_stream(f"sleep 0.3; {GSNAP} -nt 01111 %f%", f"{SNAPSHOTS}/*_2*")
    s2 = job.glob_stream(f"{GSNAP} -nt 01111 %f%", f"{SNAPSHOTS}/*_4*")
    assert s is s2 is job.stream
    first = job.get_results()
    assert len(first) < 30  # the stream did not block
    results = list(first)
    deadline = time.monotonic() + 120
    while len(results) < 30 and time.monotonic() < deadline:
        results += job.get_results()
        time.sleep(0.05)
    assert sorted(results) == sorted(expected_gsnap("*_2*") + expected_gsnap("*_4*"))
    assert job.get_results() == []


def test_stream_two_globs_and_incremental_results(daemon: Daemon) -> None:
    seed_stream_incremental(master="local")


def seed_stream_object(slots: int | None = None, **opts: Any) -> None:
    """The stream object's methods and wait(); ``slots``: tasks that run at once, when known."""
    job = Processor(threads_per_task=1, job_id="demo-object", **opts)
    job.glob_stream("sleep 1; cat %f% > /dev/null", f"{SNAPSHOTS}/*_1*")
    s = job.stream
    assert s.count_total_tasks() == 10
    want = min(slots, 10) if slots else 1
    deadline = time.monotonic() + 60
    while s.count_running_tasks() < want and time.monotonic() < deadline:
        time.sleep(0.02)
    running = s.list_running_tasks()
    if slots:
        assert s.count_running_tasks() == want  # e.g. two advertised cores, one thread per task
        assert len(running) == want
        assert 8 <= s.count_unfinished_tasks() <= 10  # each task takes a second: few can have ended
        assert s.get_status(9) == "pending"
    else:
        assert running and s.count_unfinished_tasks() >= len(running)
    assert all(s.get_status(i) in ("running", "finished") for i in running)
    assert s.get_command(3) == f"sleep 1; cat {SNAPSHOTS}/snapshot_103 > /dev/null"
    assert not s.closed()
    assert job.wait() is True
    assert s.closed()
    assert s.count_unfinished_tasks() == 0 and s.count_running_tasks() == 0
    assert all(s.get_status(i) == "finished" for i in range(10))
    job.stream("echo again")  # a later submission reopens the stream
    assert not s.closed()
    assert s.wait() is True


def test_stream_status_methods_and_wait(daemon: Daemon) -> None:
    seed_stream_object(slots=2, master="local")


def test_wait_without_a_stream_returns_false(daemon: Daemon) -> None:
    job = Processor(job_id="batchonly")
    job.batch("true")
    assert job.wait() is False


def seed_templates(form: str, **opts: Any) -> None:
    """template_batch with both params forms: comma-delimited strings, or lists."""
    rows = [("0.3 1.1 0.67", "file1"), ("0.2 0.9 0.7", "file1"), ("0.3 1.1 0.67", "file2"), ("0.5 1.5 0.47", "file2")]
    params: list[str] | list[list[str]]
    params = [f"{a}, {b}" for a, b in rows] if form == "strings" else [[a, b] for a, b in rows]
    job = Processor(job_id=f"tmpl-{form}", **opts)
    counts = job.template_batch("echo program -direction %c% %c%", params)
    assert counts["finished"] == 4
    assert job.get_results() == [f"program -direction {a} {b}\n" for a, b in rows]


@pytest.mark.parametrize("form", ["strings", "lists"])
def test_template_both_params_forms(daemon: Daemon, form: str) -> None:
    seed_templates(form)


def test_galaxy_view_template_example(daemon: Daemon, tmp_path: Path) -> None:
    viewer = tmp_path / "galaxy_view"
    viewer.write_text('#!/bin/sh\n# config distance theta phi alpha model frame\necho "frame $7 phi $4 args $#"\n')
    viewer.chmod(0o755)
    number_of_frames = 24
    twopi = 2 * math.pi
    alphas = np.arange(0, twopi, twopi / number_of_frames)
    params = [[str(alphas[i]), str(i)] for i in range(alphas.size)]
    job = Processor(master="local", threads_per_task=2, job_id="galaxy")
    s = job.template_stream(f"{viewer} config.txt 150 0 %c% 0 model.h5 %c%", params)
    assert job.wait() is True
    results = job.get_results()
    assert sorted(results) == sorted(f"frame {i} phi {alphas[i]} args 7\n" for i in range(number_of_frames))
    assert s.count_total_tasks() == number_of_frames


def seed_plain(**opts: Any) -> None:
    """Plain commands: a batch as one string or a list, then a stream."""
    job = Processor(job_id="plain", **opts)
    assert job.batch("echo one; echo two\necho three")["finished"] == 3
    assert job.get_results() == ["one\n", "two\n", "three\n"]
    job.batch(["echo 'a;b'", "printf 'c\\n'"])  # a list keeps semicolons inside a command
    assert job.get_results() == ["a;b\n", "c\n"]
    s = job.stream("echo four; echo five")
    s.add("echo six")
    assert job.wait()
    assert sorted(job.get_results()) == ["five\n", "four\n", "six\n"]


def test_plain_batch_and_stream(daemon: Daemon) -> None:
    seed_plain()


def seed_map_reduce(tmp_path: Path, **opts: Any) -> None:
    """The README's map/reduce example as written, with a temporary directory for /dfs: the reducer
    job is started before any map result exists, follows the results directory, runs after the
    map job and reduces every map result exactly once."""
    raw = tmp_path / "raw_data"
    raw.mkdir()
    for i in range(6):
        (raw / f"part{i}").write_text(" ".join(["w"] * (i + 1)) + "\n")
    results_dir = tmp_path / "map_results"
    results_dir.mkdir()
    mapper = tmp_path / "mapper"  # slow enough that the reducer is started long before the maps end
    mapper.write_text('#!/bin/sh\nsleep 0.5; wc -w < "$1" > "$2/$(basename "$1").count"\n')
    mapper.chmod(0o755)
    reducer = tmp_path / "reducer"
    reducer.write_text('#!/bin/sh\necho "$(basename "$1") $(cat "$1")"\n')
    reducer.chmod(0o755)
    dfs = str(tmp_path)
    # -- as in the README, /dfs being this test's directory --
    map = Processor(job_id="map", **opts)
    reduce = Processor(job_id="red", after="map", **opts)  # red's tasks wait until "map" has ended
    map.glob_stream(f"{mapper} %f% {dfs}/map_results", f"{dfs}/raw_data/*")
    reduce.glob_stream(f"{reducer} %f%", f"{dfs}/map_results/*", follow=True)  # each map result, once
    assert map.status().unfinished > 0 and reduce.status().hold == "waiting"  # started before the maps end
    map.wait()  # the map job has ended: red's tasks run, after one last scan of map_results
    assert reduce.wait()  # True once every reducer has ended
    results = reduce.get_results()
    # -- end of the README's example --
    assert sorted(results) == sorted(f"part{i}.count {i + 1}\n" for i in range(6))
    assert map.get_results() == [""] * 6  # the mappers print nothing; each exit is still a result
    report = reduce.status()
    assert report.hold == "released" and report.hold_reason == "job map ended"
    assert [(f.state, f.files) for f in report.follows] == [("ended", 6)]
    last_map_end = max(t.started + t.duration for t in map.stream.tasks())
    assert all(t.started >= last_map_end - 0.05 for t in reduce.stream.tasks())  # none ran before map ended


def test_map_and_reduce_jobs_at_once(daemon: Daemon, tmp_path: Path) -> None:
    seed_map_reduce(tmp_path, master="local")


def test_output_disk_writes_stdout_and_stderr_files(daemon: Daemon, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    job = Processor(job_id="disky", output="disk", log_directory=str(logs))
    counts = job.batch(["echo out0; echo err0 >&2", "echo out1"])
    assert counts["finished"] == 2
    assert job.get_results() == []  # stdout went to disk, not to the scheduler
    assert (logs / "disky" / "0.stdout").read_text() == "out0\n"
    assert (logs / "disky" / "0.stderr").read_text() == "err0\n"
    assert (logs / "disky" / "1.stdout").read_text() == "out1\n"


def test_relative_log_directory_is_the_callers(daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    job = Processor(job_id="reldisk", output="disk", log_directory="mylogs")
    job.batch("echo hi")
    assert (tmp_path / "mylogs" / "reldisk" / "0.stdout").read_text() == "hi\n"
    assert os.path.isdir(tmp_path / "mylogs")
