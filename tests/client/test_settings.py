"""Settings: defaults, TOML and environment layering, validation messages, the JobSpec."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stratos import InvalidJobSpec, Settings
from stratos.settings import backend_of
from stratos_wire import stratos_pb2 as pb


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _executable(path: Path) -> Path:
    _write(path, "#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_defaults_are_the_documented_ones() -> None:
    s = Settings.load()
    assert (s.master, s.role, s.threads_per_task, s.mem_per_task, s.disk_per_task) == (
        "local", "*", 1, 256.0, 256.0)
    assert (s.monitor, s.relauncher, s.update_interval, s.output, s.log_directory) == (
        None, None, 10.0, "scheduler", "stratos-logs")
    assert (s.job_id, s.task_timeout, s.timeout_retries, s.max_retries) == (None, 0.0, 0, 3)
    assert (s.socket, s.state_dir) == (None, None)
    assert (s.after, s.run_after_failure) == (None, False)
    assert s.validate() is s


def test_after_and_run_after_failure_travel_in_the_spec_and_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = Settings(after="map", run_after_failure=True).to_proto()
    assert (spec.after, spec.run_after_failure) == ("map", True)
    back = Settings.from_proto(spec)
    assert (back.after, back.run_after_failure) == ("map", True)
    with pytest.raises(InvalidJobSpec, match=r"after '\.\./x' is not a safe name"):
        Settings(after="../x").validate()
    with pytest.raises(InvalidJobSpec, match="run_after_failure must be true or false"):
        Settings(run_after_failure="yes").validate()  # type: ignore[arg-type]
    monkeypatch.setenv("STRATOS_RUN_AFTER_FAILURE", "yes")
    assert Settings.load().run_after_failure is True
    monkeypatch.setenv("STRATOS_RUN_AFTER_FAILURE", "auto")
    with pytest.raises(InvalidJobSpec, match="STRATOS_RUN_AFTER_FAILURE"):
        Settings.load().validate()


def test_toml_top_level_and_stratos_table(tmp_path: Path) -> None:
    top = _write(tmp_path / "a.toml", 'master = "slurm"\nmem_per_task = 512\n')
    assert Settings.load(top).master == "slurm"
    assert Settings.load(top).mem_per_task == 512.0
    table = _write(tmp_path / "b.toml", '[stratos]\nthreads_per_task = 4\noutput = "disk"\n')
    loaded = Settings.load(table)
    assert (loaded.threads_per_task, loaded.output) == (4, "disk")


def test_config_file_from_env_then_default_location(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "home" / ".config" / "stratos" / "config.toml", 'role = "default"\n')
    assert Settings.load().role == "default"
    monkeypatch.setenv("STRATOS_CONFIG", str(_write(tmp_path / "env.toml", 'role = "env"\n')))
    assert Settings.load().role == "env"
    assert Settings.load(_write(tmp_path / "arg.toml", 'role = "arg"\n')).role == "arg"


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidJobSpec, match="does not exist"):
        Settings.load(tmp_path / "nope.toml")


def test_broken_toml_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidJobSpec, match="cannot read settings file"):
        Settings.load(_write(tmp_path / "bad.toml", "master = \n"))


def test_env_overrides_toml_with_typed_conversion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _write(tmp_path / "c.toml", 'threads_per_task = 2\nmaster = "slurm"\n')
    monkeypatch.setenv("STRATOS_THREADS_PER_TASK", "8")
    monkeypatch.setenv("STRATOS_UPDATE_INTERVAL", "2.5")
    monkeypatch.setenv("STRATOS_MASTER", " foam:5050 ")
    loaded = Settings.load(config)
    assert loaded.threads_per_task == 8
    assert loaded.update_interval == 2.5
    assert loaded.master == "foam:5050"
    loaded.validate()


def test_empty_env_clears_optional_and_ignores_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _write(tmp_path / "c.toml", 'job_id = "demo"\n')
    monkeypatch.setenv("STRATOS_JOB_ID", "")
    monkeypatch.setenv("STRATOS_MASTER", "")
    loaded = Settings.load(config)
    assert loaded.job_id is None
    assert loaded.master == "local"


def test_bad_env_value_is_reported_by_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOS_MAX_RETRIES", "many")
    loaded = Settings.load()  # loading never stops on a bad value...
    assert loaded.max_retries == 3
    with pytest.raises(InvalidJobSpec, match="STRATOS_MAX_RETRIES='many' is not a whole number"):
        loaded.validate()  # ...validation does


def test_unknown_toml_key_is_reported_with_a_suggestion(tmp_path: Path) -> None:
    config = _write(tmp_path / "c.toml", "thread_per_task = 2\n")
    loaded = Settings.load(config)
    with pytest.raises(InvalidJobSpec, match=r"'thread_per_task' is not a StratOS setting; "
                       r"did you mean 'threads_per_task'\?") as info:
        loaded.validate()
    assert str(config) in str(info.value)


def test_wrong_toml_type_is_reported(tmp_path: Path) -> None:
    loaded = Settings.load(_write(tmp_path / "c.toml", 'mem_per_task = "lots"\n'))
    with pytest.raises(InvalidJobSpec, match="mem_per_task must be a number, got 'lots'"):
        loaded.validate()


def test_problems_survive_replace(tmp_path: Path) -> None:
    loaded = Settings.load(_write(tmp_path / "c.toml", "bogus = 1\n")).replace(role="x")
    with pytest.raises(InvalidJobSpec, match="bogus"):
        loaded.validate()


def test_replace_ignores_none_and_rejects_unknown_names() -> None:
    base = Settings(master="slurm")
    assert base.replace(master=None, role="r") == Settings(master="slurm", role="r")
    with pytest.raises(InvalidJobSpec, match="did you mean 'mem_per_task'"):
        base.replace(mem_per_tsk=5)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"output": "stdout"}, "output 'stdout' is not one of scheduler, disk, mesos, none"),
        ({"threads_per_task": 0}, "threads_per_task=0 must be a positive number"),
        ({"mem_per_task": -1.0}, "mem_per_task=-1.0 MB must be a positive number"),
        ({"disk_per_task": 0.0}, "disk_per_task=0.0 MB must be a positive number"),
        ({"update_interval": 0}, "update_interval=0 s must be a positive number"),
        ({"update_interval": float("nan")}, "update_interval=nan s must be a positive number"),
        ({"task_timeout": -1.0}, "task_timeout=-1.0 must be 0"),
        ({"timeout_retries": -1}, "timeout_retries=-1 must be 0 or more"),
        ({"max_retries": -2}, "max_retries=-2 must be 0 or more"),
        ({"threads_per_task": 1.5}, "threads_per_task must be a whole number, got 1.5"),
        ({"mem_per_task": "512"}, "mem_per_task must be a number, got '512'"),
        ({"monitor": "/no/such/monitor"}, "monitor '/no/such/monitor' is not an executable file"),
        ({"relauncher": "/etc/passwd"}, "relauncher '/etc/passwd' is not an executable file"),
        ({"master": "foam"}, "master 'foam' is not understood: use \"local\""),
        ({"job_id": "../etc"}, "job_id '../etc' is not a safe name"),
        ({"role": ""}, "role must not be empty"),
    ],
)
def test_validate_names_the_bad_value(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidJobSpec) as info:
        Settings().replace(**changes).validate()
    assert message in str(info.value)


def test_validate_accepts_executable_monitor(tmp_path: Path) -> None:
    monitor = _executable(tmp_path / "monitor.sh")
    Settings(monitor=str(monitor), relauncher=monitor).validate()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("master", "backend"),
    [
        ("local", "local"),
        ("foam:5050", "mesos"),
        ("10.0.0.1:5050", "mesos"),
        ("[::1]:5050", "mesos"),
        ("http://foam:5050", "mesos"),
        ("https://mesos.example.org", "mesos"),
        ("zk://h1:2181,h2:2181/mesos", "mesos"),
        ("slurm", "slurm"),
        ("slurm://gpu", "slurm"),
    ],
)
def test_master_forms(master: str, backend: str) -> None:
    assert backend_of(master) == backend
    Settings(master=master).validate()


@pytest.mark.parametrize(
    "master",
    ["", "foam", "foam:0", "foam:99999", "ftp://foam:21", "zk://h1/mesos", "zk://h1:2181",
     "slurm://", "slurm://a b", "Local"],
)
def test_bad_masters(master: str) -> None:
    with pytest.raises(InvalidJobSpec, match="is not understood"):
        backend_of(master)


@pytest.mark.parametrize("job_id", ["demo", "a", "map.1", "A-b_c.d", "x" * 128])
def test_safe_job_ids(job_id: str) -> None:
    Settings(job_id=job_id).validate()


@pytest.mark.parametrize("job_id", ["", ".hidden", "-x", "a/b", "a..b", "x" * 129, "a b"])
def test_unsafe_job_ids(job_id: str) -> None:
    with pytest.raises(InvalidJobSpec, match="not a safe name"):
        Settings(job_id=job_id).validate()


def test_to_proto_resolves_paths_against_cwd(tmp_path: Path) -> None:
    monitor = _executable(tmp_path / "mon")
    spec = Settings(
        threads_per_task=2, monitor="mon", log_directory="logs", task_timeout=5.0
    ).to_proto(cwd=str(tmp_path))
    assert spec.log_directory == str(tmp_path / "logs")
    assert spec.monitor == str(monitor)
    assert spec.relauncher == ""
    assert spec.threads_per_task == 2.0
    assert spec.task_timeout == 5.0
    assert Settings(log_directory="/abs").to_proto(cwd="/x").log_directory == "/abs"


def test_to_proto_uses_process_cwd_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings().to_proto().log_directory == os.path.join(tmp_path, "stratos-logs")


def test_from_proto_round_trip() -> None:
    original = Settings(master="slurm", threads_per_task=3, mem_per_task=100.0, output="none",
                        log_directory="/l", max_retries=0, task_timeout=9.0)
    assert Settings.from_proto(original.to_proto()) == original
    assert Settings.from_proto(pb.JobSpec()) == Settings(max_retries=0)


def test_path_objects_are_accepted(tmp_path: Path) -> None:
    settings = Settings(log_directory=tmp_path, socket=tmp_path / "s")  # type: ignore[arg-type]
    assert settings.log_directory == str(tmp_path)
    assert settings.socket == str(tmp_path / "s")
