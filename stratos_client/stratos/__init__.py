"""StratOS: run unmodified command-line programs over many files and get their stdout back.

``from stratos import Processor`` is the entry point (see the seed's usage guide). The
package is a thin client: jobs, tasks and results live in the ``stratosd`` daemon, which
a local job starts in the background when it is not running.

``import stratos`` (and ``stratos.errors``) loads no gRPC and no protobuf: the names below
other than the errors are imported on first use (PEP 562), so a script that only catches
errors, or a tool that imports the package to read its version, starts in milliseconds.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stratos_wire import VERSION as __version__

from .errors import (
    BackendUnavailable,
    DaemonStopped,
    DaemonUnavailable,
    HandleDetached,
    InsufficientResources,
    InvalidJobSpec,
    InvalidSubmission,
    JobIdInUse,
    JobNotEnded,
    JobNotFound,
    MissingDependency,
    PermissionDenied,
    ProtocolMismatch,
    StratosError,
    TaskAlreadyEnded,
    TaskNotFound,
    UnknownDependency,
)

if TYPE_CHECKING:
    from .processor import Processor
    from .records import (
        AttemptReport,
        BatchSummary,
        JobReport,
        Progress,
        StoryLine,
        TaskDetails,
        TaskReport,
        TaskResult,
        TaskStory,
    )
    from .settings import Settings
    from .stream import Stream

#: the public names loaded on first use, by the submodule that defines each.
_LAZY = {
    "Processor": "processor",
    **dict.fromkeys(("AttemptReport", "BatchSummary", "JobReport", "Progress", "StoryLine", "TaskDetails",
                     "TaskReport", "TaskResult", "TaskStory"), "records"),
    "Settings": "settings",
    "Stream": "stream",
}

__all__ = [
    "AttemptReport",
    "BackendUnavailable",
    "BatchSummary",
    "DaemonStopped",
    "DaemonUnavailable",
    "HandleDetached",
    "InsufficientResources",
    "InvalidJobSpec",
    "InvalidSubmission",
    "JobIdInUse",
    "JobNotEnded",
    "JobNotFound",
    "JobReport",
    "MissingDependency",
    "PermissionDenied",
    "Processor",
    "Progress",
    "ProtocolMismatch",
    "Settings",
    "StoryLine",
    "StratosError",
    "Stream",
    "TaskAlreadyEnded",
    "TaskDetails",
    "TaskNotFound",
    "TaskReport",
    "TaskResult",
    "TaskStory",
    "UnknownDependency",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """Import a public class on first use (it pulls in gRPC and protobuf)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
