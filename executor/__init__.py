"""stratos_executor: supervises one task's process where it runs.

The local backend uses it in-process; on a cluster node it runs as the
``stratos-executor`` program. Both go through :class:`TaskRunner`.
"""

from .spec import OutputMode, TaskRecord, TaskSpec
from .supervisor import TaskRunner

__all__ = ["OutputMode", "TaskRecord", "TaskRunner", "TaskSpec"]
