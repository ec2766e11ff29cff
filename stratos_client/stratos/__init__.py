"""StratOS: run unmodified command-line programs over many files and get their stdout back.

``from stratos import Processor`` is the entry point (see the seed's usage guide). The
package is a thin client: jobs, tasks and results live in the ``stratosd`` daemon, which
a local job starts in the background when it is not running.
"""

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
