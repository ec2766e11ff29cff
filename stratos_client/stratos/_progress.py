"""The live progress line of blocking calls (``*_batch``, ``wait()``, ``wait_for_tasks``).

In a terminal it is one rich line on stderr, redrawn four times a second and left showing the
final counts; in Jupyter a notebook progress widget (tqdm's, when tqdm and ipywidgets are
importable). The ``progress`` setting decides: "auto" shows it when stderr is a terminal or in a
notebook, so logs and CI stay clean; True and False force it on and off.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from .records import Progress

if TYPE_CHECKING:  # rich is imported when a line is drawn: most scripts never draw one
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.live import Live

__all__ = ["PROGRESS_INTERVAL", "ProgressLine", "display_kind", "eta_text", "progress_text"]

#: seconds between the progress messages the daemon sends while a progress line is shown.
PROGRESS_INTERVAL = 0.25
#: width of the bar in the terminal line, so the whole line fits 80 columns.
BAR_WIDTH = 16
#: the job id is cut (with an ellipsis) beyond this many columns.
LABEL_WIDTH = 20

Display = Literal["off", "terminal", "notebook"]


def _in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython is never imported here for the question)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def display_kind(setting: bool | str) -> Display:
    """Where a progress line goes for a ``progress`` setting: nowhere, a terminal, or a notebook."""
    if setting is False:
        return "off"
    if _in_notebook():
        return "notebook"
    if setting is True:
        return "terminal"
    try:
        return "terminal" if sys.stderr is not None and sys.stderr.isatty() else "off"
    except (AttributeError, ValueError):  # a replaced or closed stderr
        return "off"


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def eta_text(progress: Progress, rate: float | None) -> str:
    """ "ETA 0:42", "ETA --" (no rate yet), or "done" once nothing is pending or running."""
    if progress.done:
        return "done"
    remaining = progress.total - progress.ended
    return f"ETA {_clock(remaining / rate)}" if rate else "ETA --"


def progress_text(progress: Progress, rate: float | None, elapsed: float) -> str:
    """ "1200/2000 · 3 failed · 2 running · 850 tasks/s · ETA 0:01": the figures of the line."""
    parts = [f"{progress.ended}/{progress.total}"]
    failed = progress.counts.get("failed", 0) + progress.counts.get("lost", 0)
    if failed:
        parts.append(f"{failed} failed")
    if not progress.done:
        parts.append(f"{progress.counts.get('running', 0)} running")
    if rate is not None:
        parts.append(f"{rate:.3g} tasks/s" if rate < 1000 else f"{rate:.0f} tasks/s")
    parts.append(eta_text(progress, rate) if not progress.done else f"done in {_clock(elapsed)}")
    return " · ".join(parts)


class _Rate:
    """Tasks ended per second since the line appeared (a wait on a half-done job counts from then)."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.first: int | None = None

    def __call__(self, progress: Progress, now: float) -> float | None:
        if self.first is None:
            self.first = progress.ended if not progress.done or progress.total == 0 else 0
        elapsed = now - self.start
        ended = progress.ended - self.first
        return ended / elapsed if elapsed > 0.2 and ended > 0 else None


class _Line:
    """The renderable: read at each refresh, so elapsed time and ETA move between messages."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.progress: Progress | None = None
        self.rate = _Rate()
        self.final_rate: float | None = None
        self.final_elapsed = 0.0

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        progress = self.progress
        grid = Table.grid(padding=(0, 1))
        grid.add_column(max_width=LABEL_WIDTH, no_wrap=True, overflow="ellipsis")
        grid.add_column(width=BAR_WIDTH)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        grid.add_row(
            Text(self.label, no_wrap=True, overflow="ellipsis"),
            ProgressBar(total=float(progress.total) if progress else None,
                        completed=float(progress.ended) if progress else 0, width=BAR_WIDTH),
            Text(self.text(), no_wrap=True, overflow="ellipsis"),
        )
        yield grid

    def text(self) -> str:
        if self.progress is None:
            return "starting"
        if self.progress.done:
            return progress_text(self.progress, self.final_rate, self.final_elapsed)
        now = time.monotonic()
        return progress_text(self.progress, self.rate(self.progress, now), now - self.rate.start)


class ProgressLine:
    """A context manager showing a job's progress while a blocking call runs.

    ``update(progress)`` takes every message of the Wait stream. Off, it does nothing at all.
    """

    def __init__(self, label: str, setting: bool | str) -> None:
        self.kind = display_kind(setting)
        self._line = _Line(label)
        self._live: Live | None = None
        self._bar: Any = None

    @property
    def on(self) -> bool:
        return self.kind != "off"

    def __enter__(self) -> ProgressLine:
        if self.kind == "notebook" and _widgets_available():
            tqdm = importlib.import_module("tqdm.auto").tqdm
            self._bar = tqdm(total=0, desc=self._line.label, unit="task", leave=True)
        elif self.on:
            from rich.console import Console
            from rich.live import Live

            console = Console(stderr=True, highlight=False, markup=False, emoji=False)
            self._live = Live(self._line, console=console, refresh_per_second=4, transient=False,
                              redirect_stdout=False, redirect_stderr=False)
            self._live.start()
        return self

    def update(self, progress: Progress) -> None:
        if not self.on:
            return
        line = self._line
        if progress.done and not (line.progress is not None and line.progress.done):
            now = time.monotonic()
            line.final_elapsed = now - line.rate.start
            line.final_rate = line.rate(progress, now) if line.progress is not None else None
            if line.final_rate is None and line.final_elapsed > 0 and progress.ended:
                line.final_rate = progress.ended / line.final_elapsed
        line.progress = progress
        if self._bar is not None:
            self._bar.total = progress.total
            self._bar.n = progress.ended
            self._bar.set_postfix_str(line.text().split(" · ", 1)[-1], refresh=True)

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()  # one last redraw with the final figures; the line stays
            self._live = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _widgets_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("tqdm", "ipywidgets"))
