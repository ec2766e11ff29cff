"""Bad input gets the right typed error, named clearly, and the daemon keeps serving.

All tests of this module share one real daemon: every bad input of the module hits
the same process, and after each one a small good job must still run to completion.
The last group bypasses the client's own checks and sends bad requests straight through
the raw gRPC stub: the daemon must validate on its own (INVALID_ARGUMENT) and survive.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from stratos import Processor, Settings
from stratos.errors import (
    ERROR_METADATA_KEY,
    BackendUnavailable,
    DaemonUnavailable,
    InsufficientResources,
    InvalidJobSpec,
    InvalidSubmission,
    JobNotFound,
)
from stratos_wire import stratos_pb2 as pb
from tests.daemon import Daemon
from tests.integration.ctl_helpers import no_traceback, run_ctl, unique_id
from tests.rpc import StratosApi, stratos_stub

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def shared_daemon() -> Iterator[Daemon]:
    d = Daemon().start()
    try:
        yield d
    finally:
        d.cleanup()


@pytest.fixture
def daemon(shared_daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    """The module's daemon, for the client in this process; checked to still serve afterwards."""
    for key, value in shared_daemon.env.items():
        monkeypatch.setenv(key, value)
    yield shared_daemon
    assert_serves(shared_daemon)


def assert_serves(daemon: Daemon) -> None:
    """The daemon process is alive and a small good job runs to completion."""
    assert daemon.proc is not None and daemon.proc.poll() is None, daemon.log()
    job = Processor(job_id=unique_id("good"), socket=str(daemon.socket))
    job.stream(["echo ok"])
    assert job.wait_for_tasks().counts["finished"] == 1
    assert job.get_results() == ["ok\n"]


def _no_job_named(job_id: str) -> bool:
    return all(report.job_id != job_id for report in Processor.list_jobs())


# -- submissions ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["batch", "stream"])
def test_glob_matching_nothing(daemon: Daemon, tmp_path: Path, mode: str) -> None:
    (tmp_path / "present.dat").write_text("x")
    pattern = str(tmp_path / "absent_*.dat")
    job = Processor(job_id=unique_id("glob"))
    with pytest.raises(InvalidSubmission) as info:
        if mode == "batch":
            job.glob_batch("cat %f%", pattern)
        else:
            job.glob_stream("cat %f%", pattern)
    assert pattern in str(info.value) and "matches no file" in str(info.value)
    assert job.status().total == 0


def test_glob_without_placeholder(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "a.dat").write_text("x")
    job = Processor(job_id=unique_id("glob"))
    with pytest.raises(InvalidSubmission, match="%f%"):
        job.glob_batch("cat", str(tmp_path / "*.dat"))
    assert job.status().total == 0


def test_template_row_with_the_wrong_number_of_values(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("tmpl"))
    with pytest.raises(InvalidSubmission) as info:
        job.template_batch("echo %c% %c%", ["a, b", "only-one", "c, d"])
    message = str(info.value)
    assert "row 1" in message and "only-one" in message and "2" in message
    with pytest.raises(InvalidSubmission, match="row 0 has 3"):
        job.template_stream("echo %c% %c%", [["a", "b", "c"]])
    assert job.status().total == 0  # a bad row makes no task at all, not even the good rows


def test_submission_without_commands(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("empty"))
    cases: list[str | list[str]] = ["", " ; \n ;", [], ["  "]]
    for commands in cases:
        with pytest.raises(InvalidSubmission, match="no command"):
            job.batch(commands)
    assert job.status().total == 0


def test_more_memory_than_the_host_is_refused_at_submission(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("huge"), mem_per_task=10**9)
    started = time.monotonic()
    with pytest.raises(InsufficientResources) as info:
        job.batch(["echo never"])
    assert "mem_per_task" in str(info.value) and "memory" in str(info.value)
    with pytest.raises(InsufficientResources):
        job.stream(["echo never"])
    assert time.monotonic() - started < 5, "refused at once, not after waiting for memory"
    assert job.status().total == 0


# -- jobs ------------------------------------------------------------------------------------


def test_attach_to_an_unknown_job(daemon: Daemon) -> None:
    with pytest.raises(JobNotFound) as info:
        Processor.attach("nobody-made-this")
    assert "nobody-made-this" in str(info.value)


@pytest.mark.parametrize(
    "job_id", ["../x", "a/b", "", ".hidden", "x" * 200, "-dash", "a b", "a..b"],
    ids=["parent", "slash", "empty", "hidden", "200-chars", "dash", "space", "dotdot"],
)
def test_unsafe_job_ids(daemon: Daemon, job_id: str) -> None:
    with pytest.raises(InvalidJobSpec) as info:
        Processor(job_id=job_id)
    assert "job_id" in str(info.value) and repr(job_id) in str(info.value)
    assert _no_job_named(job_id)


def test_unreachable_daemon(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(tempfile.mkdtemp(prefix="st-none-", dir="/tmp"))
    try:
        missing = root / "missing.sock"
        stale = root / "stale.sock"  # a socket file nobody listens on any more
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.bind(str(stale))
        for path in (missing, stale):
            monkeypatch.setenv("STRATOS_SOCKET", str(path))
            monkeypatch.setenv("STRATOS_NO_AUTOSTART", "1")
            started = time.monotonic()
            with pytest.raises(DaemonUnavailable) as info:
                Processor(job_id=unique_id("nodaemon"))
            assert str(path) in str(info.value) and "stratosd" in str(info.value)
            with pytest.raises(DaemonUnavailable):
                Processor.attach("anything")
            assert time.monotonic() - started < 10
            proc = run_ctl(daemon, "jobs", extra_env={"STRATOS_SOCKET": str(path)})
            assert proc.returncode == 1
            assert proc.stderr.startswith("stratosctl: ") and str(path) in proc.stderr
            assert no_traceback(proc.stderr), proc.stderr
        assert not missing.exists(), "nothing was started at the socket"
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("master", ["ftp://x", "foam", "local:5050:1", "zk://", "http://"])
def test_unknown_master(daemon: Daemon, master: str) -> None:
    with pytest.raises(InvalidJobSpec) as info:
        Processor(master=master, job_id=unique_id("master"))
    assert "master" in str(info.value) and repr(master) in str(info.value)


@pytest.mark.parametrize(("sinfo", "message"), [
    (None, "sinfo is not installed here"),
    ("#!/bin/sh\necho 'slurm_load_partitions: Unable to contact slurm controller' >&2\nexit 1\n",
     "Slurm does not answer"),
    ("#!/bin/sh\necho 'debug*'\n", "no partition 'batch'"),
])
def test_a_slurm_master_that_cannot_work_fails_at_creation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sinfo: str | None, message: str) -> None:
    # a daemon whose PATH has only our stand-in sinfo (or none): the real Slurm's answers are in tests/slurm
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if sinfo is not None:
        (bin_dir / "sinfo").write_text(sinfo)
        (bin_dir / "sinfo").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    d = Daemon().start()
    try:
        for key, value in d.env.items():
            monkeypatch.setenv(key, value)
        job_id = unique_id("slurm")
        with pytest.raises((BackendUnavailable, InvalidJobSpec)) as info:
            Processor(master="slurm://batch", job_id=job_id)
        assert message in str(info.value)
        assert _no_job_named(job_id)
    finally:
        d.cleanup()


@pytest.mark.parametrize("master", ["127.0.0.1:9", "http://127.0.0.1:9", "no-such-host.invalid:5050",
                                    "zk://127.0.0.1:9/mesos"])
def test_an_unreachable_mesos_master_fails_at_creation(daemon: Daemon, master: str) -> None:
    job_id = unique_id("nomaster")
    with pytest.raises(BackendUnavailable) as info:
        Processor(master=master, job_id=job_id)
    assert "cannot reach the Mesos master" in str(info.value) or "ZooKeeper" in str(info.value)
    assert _no_job_named(job_id)


def test_invalid_output_mode(daemon: Daemon) -> None:
    settings: dict[str, Any] = {"output": "stdout"}
    with pytest.raises(InvalidJobSpec) as info:
        Processor(job_id=unique_id("out"), **settings)
    assert "output 'stdout'" in str(info.value)
    assert all(mode in str(info.value) for mode in ("scheduler", "disk", "mesos", "none"))


@pytest.mark.parametrize("name", ["threads_per_task", "mem_per_task", "disk_per_task", "update_interval"])
@pytest.mark.parametrize("value", [0, -1, -0.5, math.nan, math.inf])
def test_non_positive_or_non_finite_numbers(daemon: Daemon, name: str, value: float) -> None:
    settings: dict[str, Any] = {name: value}
    with pytest.raises(InvalidJobSpec) as info:
        Processor(job_id=unique_id("num"), **settings)
    assert name in str(info.value)


@pytest.mark.parametrize("name", ["monitor", "relauncher"])
def test_program_that_is_not_executable(daemon: Daemon, tmp_path: Path, name: str) -> None:
    plain = tmp_path / "plain.sh"
    plain.write_text("#!/bin/sh\necho stratos_relaunch\n")
    plain.chmod(0o644)
    for path in (plain, tmp_path / "missing"):
        settings: dict[str, Any] = {name: str(path), "update_interval": 1}
        with pytest.raises(InvalidJobSpec) as info:
            Processor(job_id=unique_id("prog"), **settings)
        assert name in str(info.value) and str(path) in str(info.value)
        assert "executable" in str(info.value)


# -- the daemon validates on its own ------------------------------------------------------------


def _stub(daemon: Daemon) -> tuple[grpc.Channel, StratosApi]:
    channel = grpc.insecure_channel("unix:" + str(daemon.socket))
    return channel, stratos_stub(channel)


def _good_spec() -> pb.JobSpec:
    return Settings().to_proto(cwd="/tmp")


def _raw_create(daemon: Daemon, job_id: str, spec: pb.JobSpec) -> grpc.RpcError | pb.JobInfo:
    channel, stub = _stub(daemon)
    with channel:
        try:
            reply: pb.JobInfo = stub.CreateJob(pb.CreateJobRequest(job_id=job_id, spec=spec), timeout=10)
        except grpc.RpcError as err:
            return err
        return reply


def _error_class(err: grpc.Call) -> str:
    """The StratosError class the daemon named in the trailing metadata."""
    for key, value in err.trailing_metadata() or ():
        if key == ERROR_METADATA_KEY:
            return value if isinstance(value, str) else value.decode()
    return ""


def test_raw_create_job_control(daemon: Daemon) -> None:
    """The spec the raw tests start from is accepted: their failures are the change they make."""
    job_id = unique_id("raw-ok")
    reply = _raw_create(daemon, job_id, _good_spec())
    assert isinstance(reply, pb.JobInfo), reply
    assert reply.job_id == job_id


RAW_SPEC_CASES: list[tuple[str, Any]] = [
    ("output", "stdout"),
    ("mem_per_task", -5.0),
    ("threads_per_task", 0.0),
    ("disk_per_task", -1.0),
    ("update_interval", 0.0),
    ("task_timeout", -1.0),
    ("monitor", "/etc/passwd"),  # exists, not executable
    ("log_directory", "logs"),  # relative
    ("master", "ftp://x"),
]


@pytest.mark.parametrize(("field", "value"), RAW_SPEC_CASES, ids=[f"{f}={v}" for f, v in RAW_SPEC_CASES])
def test_raw_bad_spec_is_invalid_argument(daemon: Daemon, field: str, value: Any) -> None:
    spec = _good_spec()
    setattr(spec, field, value)
    job_id = unique_id("raw")
    err = _raw_create(daemon, job_id, spec)
    assert isinstance(err, grpc.Call), f"the daemon accepted {field}={value!r}: {err}"
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
    assert _error_class(err) == "InvalidJobSpec"
    assert field in (err.details() or ""), err.details()
    assert _no_job_named(job_id)


@pytest.mark.parametrize(
    "job_id", ["../../etc", "a/b", ".hidden", "x" * 200, "/abs"],
    ids=["parents", "slash", "hidden", "200-chars", "absolute"],
)
def test_raw_unsafe_job_id_is_invalid_argument(daemon: Daemon, job_id: str) -> None:
    err = _raw_create(daemon, job_id, _good_spec())
    assert isinstance(err, grpc.Call), f"the daemon accepted job id {job_id!r}"
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert _error_class(err) == "InvalidJobSpec"
    assert "job_id" in (err.details() or "")
    assert _no_job_named(job_id)
    state_dir = Path(daemon.env["STRATOS_STATE_DIR"])
    assert not (state_dir / "etc").exists() and not Path(os.path.normpath(state_dir / job_id)).exists()


@pytest.mark.parametrize("name", ["threads_per_task", "mem_per_task", "disk_per_task", "update_interval"])
def test_raw_nan_is_invalid_argument(daemon: Daemon, name: str) -> None:
    """NaN compares false with everything, so `value <= 0` lets it through unless checked.

    A job whose tasks ask for NaN cores or MB never fits a host: its tasks would stay
    pending forever. The client refuses NaN (Settings.validate); the daemon must too.
    """
    spec = _good_spec()
    setattr(spec, name, math.nan)
    job_id = unique_id("raw-nan")
    err = _raw_create(daemon, job_id, spec)
    assert isinstance(err, grpc.Call), f"the daemon accepted {name}=nan and created job {job_id}"
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert name in (err.details() or "")


def test_raw_submit_without_header_or_kind(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("raw-submit"))
    channel, stub = _stub(daemon)
    with channel:
        bad_streams = [
            [pb.SubmitChunk(items=["echo no header"])],
            [pb.SubmitChunk(header=pb.SubmitHeader(job_id=job.job_id, mode=pb.STREAM, cwd="/tmp")),
             pb.SubmitChunk(items=["echo no kind"])],
            [pb.SubmitChunk(header=pb.SubmitHeader(job_id=job.job_id, kind=pb.PLAIN, mode=pb.STREAM,
                                                   cwd="relative")),
             pb.SubmitChunk(items=["echo relative cwd"])],
        ]
        for chunks in bad_streams:
            with pytest.raises(grpc.RpcError) as info:
                stub.Submit(iter(chunks), timeout=10)
            assert isinstance(info.value, grpc.Call)
            assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    assert job.status().total == 0
