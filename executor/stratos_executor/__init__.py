"""stratos_executor: supervises one task's process where it runs.

The local backend uses it in-process (``stratos_executor.supervisor.TaskRunner``); on a cluster
node it runs as the ``stratos-executor`` program. This package's own import loads nothing, so
the daemon's core can use ``stratos_executor.spec`` (what a task is and how it ended) without
the supervisor's processes and event loop.
"""
