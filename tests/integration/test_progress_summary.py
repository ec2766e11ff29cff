"""Issue 19, items 1, 2 and 4: the live progress line of blocking calls, the batch summary,
Jupyter's HTML view and ``with Processor(...)``, all through a real daemon."""

from __future__ import annotations

import logging
import sys
import textwrap
from html.parser import HTMLParser

import pytest

from stratos import BatchSummary, HandleDetached, Processor
from stratos._html import job_html
from stratos_wire import stratos_pb2 as pb
from tests.daemon import Daemon, daemon_fixture, wait_for
from tests.integration.ctl_helpers import finish, start_python, unique_id
from tests.integration.pty_helpers import run_tty

pytestmark = pytest.mark.timeout(120)
daemon = daemon_fixture()

#: a batch of a couple of seconds on 2 slots, so the line is redrawn several times.
SCRIPT = """
import sys
from stratos import Processor
job = Processor(job_id=sys.argv[1])
summary = job.batch(["sleep 0.4"] * 8 + ["exit 3"])
print("SUMMARY", dict(summary))
"""


def _python(daemon: Daemon, job_id: str, tty: bool, progress: str | None = None) -> tuple[str, str]:
    """(screen or stdout, stderr) of SCRIPT run with stderr on a terminal or piped."""
    env = {} if progress is None else {"STRATOS_PROGRESS": progress}
    if tty:
        screen = run_tty(daemon, [sys.executable, "-c", textwrap.dedent(SCRIPT), job_id], stderr_on_tty=True,
                         extra_env=env, timeout=60)
        assert screen.status == 0, screen.text
        return screen.text, ""
    code = textwrap.dedent(SCRIPT)
    if progress is not None:
        code = f"import os; os.environ['STRATOS_PROGRESS'] = {progress!r}\n" + code
    status, out, err = finish(start_python(daemon, code, job_id), 60)
    assert status == 0, err
    return out, err


def test_progress_line_in_a_terminal(daemon: Daemon) -> None:
    text, _ = _python(daemon, unique_id("tty"), tty=True)
    assert "SUMMARY" in text
    # redrawn while the tasks ran (an ETA, running counts), then left with the final figures
    assert "ETA" in text and "running" in text
    final = [line for line in text.splitlines() if "done in" in line]
    assert final, text
    # the final figures fit 80 columns whole (the screen is 80 wide; rich would cut them with "…")
    assert "9/9 · 1 failed ·" in final[-1] and "tasks/s · done in 0:0" in final[-1]
    assert "…" not in final[-1].split("done in")[-1]


def test_no_progress_line_when_stderr_is_piped(daemon: Daemon) -> None:
    out, err = _python(daemon, unique_id("pipe"), tty=False)
    assert "SUMMARY" in out
    # only the summary's warning (a failed task): no progress line, no control sequences
    assert "ETA" not in err and "done in" not in err and "━" not in err and "\x1b" not in err
    assert len(err.splitlines()) == 1 and "9 tasks in" in err


def test_progress_setting_forces_it_on_and_off(daemon: Daemon) -> None:
    _, err = _python(daemon, unique_id("on"), tty=False, progress="1")
    assert "done in" in err and "9/9" in err
    text, _ = _python(daemon, unique_id("off"), tty=True, progress="0")
    assert "done in" not in text and "ETA" not in text


def test_batch_returns_a_summary_that_is_still_the_counts_dict(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    job = Processor(job_id=unique_id("sum"), progress=False)
    caplog.set_level(logging.INFO, logger="stratos")
    summary = job.batch(["true"] * 3 + [f"exit {n}" for n in range(1, 13)])
    assert isinstance(summary, BatchSummary) and isinstance(summary, dict)
    assert summary == {"pending": 0, "running": 0, "finished": 3, "failed": 12, "killed": 0,
                       "relaunched": 0, "lost": 0}
    assert summary["failed"] == 12 and summary.total == 15
    assert len(summary.failed_ids) == 12  # every one, not only the ten the log line names
    assert summary.elapsed > 0 and summary.tasks_per_second == pytest.approx(15 / summary.elapsed)
    records = [r for r in caplog.records if r.name == "stratos"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    message = records[0].getMessage()
    assert "15 tasks in" in message and "tasks/s" in message and "3 finished, 12 failed" in message
    assert "and 2 more" in message and "stratosctl task" in message

    caplog.clear()
    ok = job.batch("true; true")
    records = [r for r in caplog.records if r.name == "stratos"]
    assert len(records) == 1 and records[0].levelno == logging.INFO
    assert "2 tasks in" in records[0].getMessage() and "2 finished" in records[0].getMessage()
    assert ok.failed_ids == ()


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Html:
    parser = _Html()
    parser.feed(html)
    parser.close()
    return parser


def test_html_repr_of_processor_and_stream(daemon: Daemon) -> None:
    job_id = unique_id("html")
    job = Processor(job_id=job_id, progress=False)
    job.batch(["true", "true", "exit 1"])
    for html in (job._repr_html_(), job.stream._repr_html_()):
        page = _parse(html)
        text = " ".join(page.text)
        assert job_id in text and "local" in text and "2/3" not in text and "3/3 ended" in text
        assert "finished" in text and "failed" in text
        bars = [attrs for tag, attrs in page.tags if attrs.get("role") == "progressbar"]
        assert bars and bars[0]["aria-valuenow"] == "3" and bars[0]["aria-valuemax"] == "3"
    # user and daemon text is escaped: markup in a name shows as text, never as tags
    status = pb.JobStatus(job_id="<b>x</b>&<script>", master="local", state="active", total=1)
    page = _parse(job_html("Processor", status))
    assert "<b>x</b>&<script>" in "".join(page.text)
    assert not any(tag in ("b", "script") for tag, _ in page.tags)


def test_with_block_detaches_without_cancelling(daemon: Daemon) -> None:
    job_id = unique_id("with")
    with Processor(job_id=job_id, progress=False) as job:
        job.stream("sleep 1")
    with pytest.raises(HandleDetached, match=r"Processor\.attach"):
        job.status()
    again = Processor.attach(job_id)
    assert again.stream.count_unfinished_tasks() == 1  # still running: leaving never cancels
    again.wait()
    assert again.status().counts["finished"] == 1


def test_ctrl_c_in_a_with_block_cancels_its_tasks_and_says_so(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = unique_id("intr")
    with pytest.raises(KeyboardInterrupt), Processor(job_id=job_id, progress=False) as job:
        job.stream("sleep 30")
        raise KeyboardInterrupt
    assert "cancelled 1 unended tasks" in capsys.readouterr().err
    # a running task ends once its process is gone: the cancel does not wait for that
    again = Processor.attach(job_id)
    report = wait_for(lambda: (r := again.status()).unfinished == 0 and r, "the cancelled task's end")
    assert report.counts["killed"] == 1
