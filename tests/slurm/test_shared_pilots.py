"""Issue 18 on the real one-node Slurm: pilots belong to the daemon and serve every job of their pool.

Two jobs with their own settings and environments run on the same pilot, each task seeing its own
job's; no credential is readable by a task through /proc; a job's cancel leaves the other running on
the same pilot; `kill -9` of the daemon leaves the pilots' tasks of both jobs where they run, and none
runs twice (side effects counted). One node cannot be cut off from itself: a pilot's process stopped
(SIGSTOP) stands for a node cut off (the daemon hears nothing from it; its task runs on).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratos import Processor
from stratosd.enroll import Enrollment
from tests.daemon import Daemon, daemon_fixture, wait_for
from tests.slurm.cluster import pilots_under, scancel_orphans, slurm, wait_gone_from_queue

pytestmark = pytest.mark.slurm

daemon = daemon_fixture("--slurm-poll", "0.5", "--slurm-idle-release", "3", "--pilot-lost-after", "10")

#: prints the executor id of the pilot running the task (tasks do not inherit the pilot's environment:
#: the nearest ancestor whose environment names one, i.e. the pilot process).
PILOT = ('pilot=none; p=$$; while [ "$p" -gt 1 ]; do '
         'e=$(tr "\\0" "\\n" < /proc/$p/environ 2>/dev/null | grep "^STRATOS_EXECUTOR_ID="); '
         'if [ -n "$e" ]; then pilot=${e#*=}; break; fi; p=$(cut -d" " -f4 /proc/$p/stat); done; ')
#: what a probing task prints: its job's variable, its cwd, its pilot, the modes of its job's sandbox
#: directories under the pilots' work directories (temporary: /tmp/stratos-pilot-*/JOB), and it dumps
#: the environment of itself and of every ancestor it can read (the pilot among them) to $DUMP.
PROBE = (PILOT + 'm=$(stat -c %a /tmp/stratos-pilot-*/"$STRATOS_JOB_ID" | sort -u | tr "\\n" ,); '
         'p=$$; while [ "$p" -gt 1 ]; do cat /proc/$p/environ 2>/dev/null >> "$DUMP-$STRATOS_JOB_ID-$STRATOS_TASK_ID"; '
         'echo >> "$DUMP-$STRATOS_JOB_ID-$STRATOS_TASK_ID"; p=$(cut -d" " -f4 /proc/$p/stat); done; '
         'echo "$WHO $(pwd) $pilot $m"')


@pytest.fixture(autouse=True)
def no_pilots_left(slurm_cluster: str) -> Iterator[None]:
    """Set up before the daemon, so it runs after the daemon has stopped and removed its directory."""
    yield
    scancel_orphans()


def _job(master: str, name: str, where: Path, who: str, monkeypatch: pytest.MonkeyPatch, **settings: object
         ) -> Processor:
    """A job created and submitted from ``where`` with WHO=``who`` in the environment."""
    where.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(where)
    monkeypatch.setenv("WHO", who)
    return Processor(master=master, job_id=name, **settings)  # type: ignore[arg-type]


def test_two_jobs_with_their_own_settings_and_environments_share_one_pilot(
        daemon: Daemon, slurm_cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    master = f"slurm://{slurm_cluster}"
    monkeypatch.setenv("DUMP", str(tmp_path / "env"))
    a = _job(master, "sa", tmp_path / "a", "a", monkeypatch, pilot_cpus=2, max_pilots=1)
    a.stream([PROBE, "sleep 4; echo slow-a"])
    # b differs in a setting that is the job's own, not the pool's: its tasks time out after 2 s
    b = _job(master, "sb", tmp_path / "b", "b", monkeypatch, pilot_cpus=2, max_pilots=1, task_timeout=2,
             timeout_retries=0)
    b.stream([PROBE, "sleep 4; echo slow-b"])
    assert a.status().pool == b.status().pool and a.status().pool.startswith("slurm/")
    assert a.wait() and b.wait()
    results_a, results_b = a.get_results(), b.get_results()
    probe_a = next(r for r in results_a if r.startswith("a ")).split()
    probe_b = next(r for r in results_b if r.startswith("b ")).split()
    assert probe_a[:2] == ["a", str(tmp_path / "a")] and probe_b[:2] == ["b", str(tmp_path / "b")]
    assert probe_a[2] == probe_b[2] and probe_a[2].startswith("slurm-")  # the same pilot ran both jobs' tasks
    assert probe_a[3] == "700," and probe_b[3] == "700,"  # each job's sandboxes on the pilot: its user's alone
    assert "slow-a\n" in results_a and "slow-b\n" not in results_b and b.stream.task(1).task.status == "failed"
    assert "timeout" in b.stream.task(1).reason  # b's timeout, not a's: each task ran with its own job's
    # no credential in any environment a task could read: its own, the pilot's, their ancestors'
    pilot = probe_a[2]
    keys = Enrollment(daemon.state_dir)
    secrets = {keys.pool_credential(a.status().pool, pilot), keys.pool_credential(a.status().pool),
               a.token(), b.token()}
    dumps = [p.read_bytes() for p in tmp_path.glob("env-*")]
    assert len(dumps) == 2 and all(f"STRATOS_EXECUTOR_ID={pilot}".encode() in d for d in dumps)
    for dump in dumps:
        assert b"STRATOS_TOKEN=" not in dump
        assert not [s for s in secrets if s.encode() in dump]


def test_cancelling_one_job_leaves_the_other_running_on_the_same_pilot(
        daemon: Daemon, slurm_cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _job("slurm", "ca", tmp_path / "a", "a", monkeypatch, pilot_cpus=2, max_pilots=1)
    b = _job("slurm", "cb", tmp_path / "b", "b", monkeypatch, pilot_cpus=2, max_pilots=1)
    a.stream([PILOT + f'sleep 2; echo "a{i} $pilot"' for i in range(4)])
    b.stream(["sleep 120", "sleep 120"])
    wait_for(lambda: b.status().counts["running"] >= 1 and a.status().counts["running"] >= 1,
             "both jobs running on the pilot", timeout=60)
    (pilot,) = pilots_under(daemon.state_dir)
    b.cancel()
    assert a.wait()
    results = a.get_results()
    assert sorted(r.split()[0] for r in results) == ["a0", "a1", "a2", "a3"]
    assert {r.split()[1] for r in results} == {f"slurm-{pilot}"}  # every task of a on the pilot both shared
    assert all(t.attempts == 1 for t in a.stream.tasks())  # nothing of a was stopped by b's cancel
    assert b.status().counts["killed"] == 2
    assert pilot in pilots_under(daemon.state_dir) or a.status().counts["finished"] == 4


def test_a_daemon_killed_with_shared_pilots_running_keeps_both_jobs_tasks_where_they_run(
        daemon: Daemon, slurm_cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    side = tmp_path / "side"
    side.mkdir()
    command = f'echo run >> {side}/"$STRATOS_JOB_ID-$STRATOS_TASK_ID"; sleep 4; echo "$WHO $STRATOS_TASK_ID"'
    jobs = {}
    for name in ("ka", "kb"):  # the one node has 2 cores: one pilot of 2, running one task of each job
        jobs[name] = _job("slurm", name, tmp_path / name, name, monkeypatch, pilot_cpus=2, max_pilots=1)
        jobs[name].stream([command] * 3)
    wait_for(lambda: all(j.status().counts["running"] == 1 for j in jobs.values()),
             "a task of each job running on the shared pilot", timeout=90)
    before = set(pilots_under(daemon.state_dir))
    assert len(before) == 1
    daemon.kill9()
    time.sleep(1)
    daemon.start()
    for name in jobs:
        job = Processor.attach(name)
        assert job.wait()
        assert sorted(job.get_results()) == sorted(f"{name} {i}\n" for i in range(3))
        assert all(t.attempts == 1 for t in job.stream.tasks()), "a task ran again after the restart"
    runs = {p.name: p.read_text().count("run") for p in side.iterdir()}
    assert runs == {f"{name}-{i}": 1 for name in jobs for i in range(3)}  # each side effect exactly once
    assert set(pilots_under(daemon.state_dir)) <= before  # no new pilot was needed
    log = "".join(p.read_text() for p in (daemon.state_dir / "slurm-logs").iterdir())
    assert "registered again" in log and os.path.isdir(daemon.state_dir)


def _pilot_pid(slurm_id: str) -> int:
    """The pid of the pilot process of a Slurm pilot job (on this one node)."""
    for line in slurm("scontrol", "listpids", slurm_id).splitlines()[1:]:
        pid = line.split()[0]
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"stratos_executor" in argv and b"pilot" in argv:
            return int(pid)
    raise AssertionError(f"no pilot process in Slurm job {slurm_id}")


def test_a_pilot_cut_off_is_lost_its_task_runs_on_another_and_its_late_word_is_refused(
        daemon: Daemon, slurm_cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One node cannot be cut off from itself: the pilot's process is stopped instead (SIGSTOP), so the
    # daemon hears nothing from it, as from a node cut off; its task process runs on meanwhile.
    job = _job("slurm", "cut", tmp_path / "cut", "cut", monkeypatch, pilot_cpus=1, max_pilots=2, max_retries=3)
    job.stream([PILOT + f'sleep 6; echo "{i} $pilot"' for i in range(2)])
    wait_for(lambda: job.status().counts["running"] == 2, "a task on each of two pilots", timeout=90)
    victim = sorted(pilots_under(daemon.state_dir))[0]
    pid = _pilot_pid(victim)
    os.kill(pid, signal.SIGSTOP)
    try:
        assert job.wait()
        # counted lost, its Slurm job is scancelled: it would hold its allocation until its time limit
        wait_gone_from_queue(victim, timeout=90)
    finally:
        with contextlib.suppress(ProcessLookupError):  # Slurm ended it
            os.kill(pid, signal.SIGCONT)
    results = sorted(job.get_results())
    assert [r.split()[0] for r in results] == ["0", "1"]  # each result once
    assert f"slurm-{victim}" not in {r.split()[1] for r in results}  # the cut-off pilot's word never counted
    retried = [t for t in job.stream.tasks() if t.attempts == 2]
    assert len(retried) == 1 and "no word from it" in job.stream.task(retried[0].task_id).reason
    time.sleep(3)  # whatever the pilot said on its way out (SIGCONT, SIGTERM from Slurm): nothing changes
    assert sorted(job.get_results()) == [] and job.status().counts["finished"] == 2
