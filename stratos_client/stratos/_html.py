"""Jupyter's HTML view of a Processor or Stream (``_repr_html_``), as Dask's ``Client`` has.

Every text in it comes from the user or the daemon (job ids, master addresses), so each is
escaped: a job named ``<b>`` shows as ``<b>``, never as markup.
"""

from __future__ import annotations

from html import escape

from stratos_wire import stratos_pb2 as pb

from .records import STATUS_WORDS, counts_to_dict
from .settings import backend_of

__all__ = ["job_html"]

_COLOURS = {"finished": "#4caf50", "failed": "#e53935", "lost": "#8e24aa", "killed": "#757575",
            "relaunched": "#fb8c00", "running": "#1e88e5"}


def job_html(kind: str, status: pb.JobStatus) -> str:
    """A small table (job, backend, state, counts by state) over a bar split by state."""
    counts = counts_to_dict(status.counts)
    total = status.total
    ended = total - counts["pending"] - counts["running"]
    backend: str
    try:
        backend = backend_of(status.master or "local")
    except ValueError:
        backend = "unknown"
    master = status.master or "local"
    rows = [("job", status.job_id), ("backend", backend if backend == master else f"{backend} ({master})"),
            ("state", status.state), ("tasks", f"{ended}/{total} ended")]
    rows += [(word, str(counts[word])) for word in STATUS_WORDS if counts[word]]
    cells = "".join(
        f'<tr><th style="text-align:left;padding-right:1em">{escape(key)}</th>'
        f'<td style="text-align:left">{escape(value)}</td></tr>'
        for key, value in rows
    )
    segments = "".join(
        f'<div title="{escape(word)} {counts[word]}" style="width:{100 * counts[word] / total:.2f}%;'
        f'background:{_COLOURS[word]}"></div>'
        for word in STATUS_WORDS if total and word in _COLOURS and counts[word]
    )
    bar = (f'<div class="stratos-progress" role="progressbar" aria-valuemin="0" aria-valuemax="{total}" '
           f'aria-valuenow="{ended}" style="display:flex;width:24em;height:0.8em;background:#e0e0e0;'
           f'margin-top:0.3em">{segments}</div>')
    return (f'<div class="stratos-{escape(kind.lower())}"><strong>StratOS {escape(kind)}</strong>'
            f'<table style="margin:0">{cells}</table>{bar}</div>')
