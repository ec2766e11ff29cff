from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBMIT_KIND_UNSPECIFIED: _ClassVar[SubmitKind]
    PLAIN: _ClassVar[SubmitKind]
    GLOB: _ClassVar[SubmitKind]
    TEMPLATE: _ClassVar[SubmitKind]

class SubmitMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBMIT_MODE_UNSPECIFIED: _ClassVar[SubmitMode]
    BATCH: _ClassVar[SubmitMode]
    STREAM: _ClassVar[SubmitMode]
SUBMIT_KIND_UNSPECIFIED: SubmitKind
PLAIN: SubmitKind
GLOB: SubmitKind
TEMPLATE: SubmitKind
SUBMIT_MODE_UNSPECIFIED: SubmitMode
BATCH: SubmitMode
STREAM: SubmitMode

class ProbeRequest(_message.Message):
    __slots__ = ("probe_id", "version", "python", "host")
    PROBE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PYTHON_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    probe_id: str
    version: str
    python: str
    host: str
    def __init__(self, probe_id: _Optional[str] = ..., version: _Optional[str] = ..., python: _Optional[str] = ..., host: _Optional[str] = ...) -> None: ...

class ProbeReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DoctorRequest(_message.Message):
    __slots__ = ("master", "timeout")
    MASTER_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    master: str
    timeout: float
    def __init__(self, master: _Optional[str] = ..., timeout: _Optional[float] = ...) -> None: ...

class NodeCheck(_message.Message):
    __slots__ = ("node", "ok", "problem", "detail", "version", "where")
    NODE_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WHERE_FIELD_NUMBER: _ClassVar[int]
    node: str
    ok: bool
    problem: str
    detail: str
    version: str
    where: str
    def __init__(self, node: _Optional[str] = ..., ok: _Optional[bool] = ..., problem: _Optional[str] = ..., detail: _Optional[str] = ..., version: _Optional[str] = ..., where: _Optional[str] = ...) -> None: ...

class DoctorReply(_message.Message):
    __slots__ = ("master", "reached", "executor_command", "listener", "daemon_version", "nodes")
    MASTER_FIELD_NUMBER: _ClassVar[int]
    REACHED_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_COMMAND_FIELD_NUMBER: _ClassVar[int]
    LISTENER_FIELD_NUMBER: _ClassVar[int]
    DAEMON_VERSION_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    master: str
    reached: str
    executor_command: str
    listener: str
    daemon_version: str
    nodes: _containers.RepeatedCompositeFieldContainer[NodeCheck]
    def __init__(self, master: _Optional[str] = ..., reached: _Optional[str] = ..., executor_command: _Optional[str] = ..., listener: _Optional[str] = ..., daemon_version: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[NodeCheck, _Mapping]]] = ...) -> None: ...

class EnrollRequest(_message.Message):
    __slots__ = ("job_id", "executor_id", "pool")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    executor_id: str
    pool: str
    def __init__(self, job_id: _Optional[str] = ..., executor_id: _Optional[str] = ..., pool: _Optional[str] = ...) -> None: ...

class PoolCredentialRequest(_message.Message):
    __slots__ = ("pool",)
    POOL_FIELD_NUMBER: _ClassVar[int]
    pool: str
    def __init__(self, pool: _Optional[str] = ...) -> None: ...

class PoolCredential(_message.Message):
    __slots__ = ("pool", "credential")
    POOL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    pool: str
    credential: str
    def __init__(self, pool: _Optional[str] = ..., credential: _Optional[str] = ...) -> None: ...

class EnrollReply(_message.Message):
    __slots__ = ("credential",)
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: str
    def __init__(self, credential: _Optional[str] = ...) -> None: ...

class JobToken(_message.Message):
    __slots__ = ("job_id", "token")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    token: str
    def __init__(self, job_id: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("job_id", "executor_id", "host", "cpus", "mem", "holding", "pool")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    CPUS_FIELD_NUMBER: _ClassVar[int]
    MEM_FIELD_NUMBER: _ClassVar[int]
    HOLDING_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    executor_id: str
    host: str
    cpus: float
    mem: float
    holding: _containers.RepeatedCompositeFieldContainer[AttemptRef]
    pool: str
    def __init__(self, job_id: _Optional[str] = ..., executor_id: _Optional[str] = ..., host: _Optional[str] = ..., cpus: _Optional[float] = ..., mem: _Optional[float] = ..., holding: _Optional[_Iterable[_Union[AttemptRef, _Mapping]]] = ..., pool: _Optional[str] = ...) -> None: ...

class RegisterReply(_message.Message):
    __slots__ = ("fetch_wait", "lost_after")
    FETCH_WAIT_FIELD_NUMBER: _ClassVar[int]
    LOST_AFTER_FIELD_NUMBER: _ClassVar[int]
    fetch_wait: float
    lost_after: float
    def __init__(self, fetch_wait: _Optional[float] = ..., lost_after: _Optional[float] = ...) -> None: ...

class FetchRequest(_message.Message):
    __slots__ = ("job_id", "executor_id", "wait", "pool")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    executor_id: str
    wait: float
    pool: str
    def __init__(self, job_id: _Optional[str] = ..., executor_id: _Optional[str] = ..., wait: _Optional[float] = ..., pool: _Optional[str] = ...) -> None: ...

class TaskAssignment(_message.Message):
    __slots__ = ("task_id", "attempt", "command", "cwd", "env", "threads", "output", "stdout_file", "stderr_file", "monitor", "relauncher", "update_interval", "timeout", "mem_limit", "disk_limit", "job_key", "job_id")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    CWD_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FILE_FIELD_NUMBER: _ClassVar[int]
    STDERR_FILE_FIELD_NUMBER: _ClassVar[int]
    MONITOR_FIELD_NUMBER: _ClassVar[int]
    RELAUNCHER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MEM_LIMIT_FIELD_NUMBER: _ClassVar[int]
    DISK_LIMIT_FIELD_NUMBER: _ClassVar[int]
    JOB_KEY_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: int
    attempt: int
    command: str
    cwd: str
    env: _containers.ScalarMap[str, str]
    threads: int
    output: str
    stdout_file: str
    stderr_file: str
    monitor: str
    relauncher: str
    update_interval: float
    timeout: float
    mem_limit: float
    disk_limit: float
    job_key: int
    job_id: str
    def __init__(self, task_id: _Optional[int] = ..., attempt: _Optional[int] = ..., command: _Optional[str] = ..., cwd: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., threads: _Optional[int] = ..., output: _Optional[str] = ..., stdout_file: _Optional[str] = ..., stderr_file: _Optional[str] = ..., monitor: _Optional[str] = ..., relauncher: _Optional[str] = ..., update_interval: _Optional[float] = ..., timeout: _Optional[float] = ..., mem_limit: _Optional[float] = ..., disk_limit: _Optional[float] = ..., job_key: _Optional[int] = ..., job_id: _Optional[str] = ...) -> None: ...

class AttemptRef(_message.Message):
    __slots__ = ("task_id", "attempt", "job_key")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    JOB_KEY_FIELD_NUMBER: _ClassVar[int]
    task_id: int
    attempt: int
    job_key: int
    def __init__(self, task_id: _Optional[int] = ..., attempt: _Optional[int] = ..., job_key: _Optional[int] = ...) -> None: ...

class FetchReply(_message.Message):
    __slots__ = ("tasks", "kills", "stop")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    KILLS_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[TaskAssignment]
    kills: _containers.RepeatedCompositeFieldContainer[AttemptRef]
    stop: bool
    def __init__(self, tasks: _Optional[_Iterable[_Union[TaskAssignment, _Mapping]]] = ..., kills: _Optional[_Iterable[_Union[AttemptRef, _Mapping]]] = ..., stop: _Optional[bool] = ...) -> None: ...

class TaskStartedReport(_message.Message):
    __slots__ = ("pid", "started")
    PID_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    pid: int
    started: float
    def __init__(self, pid: _Optional[int] = ..., started: _Optional[float] = ...) -> None: ...

class TaskOutputReport(_message.Message):
    __slots__ = ("offset", "data")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    offset: int
    data: bytes
    def __init__(self, offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class TaskEndedReport(_message.Message):
    __slots__ = ("has_exit_code", "exit_code", "signal", "reason", "started", "ended", "stdout_inline", "stdout", "stdout_size", "stdout_truncated", "stderr_tail", "peak_rss_kb", "cpu_seconds", "monitor_output", "notes", "replacements", "pid", "peak_rss_sum_kb", "disk_kb", "limit_kb", "relaunch", "relaunch_error", "sandbox", "host")
    HAS_EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    STDOUT_INLINE_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDOUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    STDOUT_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    STDERR_TAIL_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSS_KB_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MONITOR_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    REPLACEMENTS_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSS_SUM_KB_FIELD_NUMBER: _ClassVar[int]
    DISK_KB_FIELD_NUMBER: _ClassVar[int]
    LIMIT_KB_FIELD_NUMBER: _ClassVar[int]
    RELAUNCH_FIELD_NUMBER: _ClassVar[int]
    RELAUNCH_ERROR_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    has_exit_code: bool
    exit_code: int
    signal: int
    reason: str
    started: float
    ended: float
    stdout_inline: bool
    stdout: bytes
    stdout_size: int
    stdout_truncated: bool
    stderr_tail: bytes
    peak_rss_kb: int
    cpu_seconds: float
    monitor_output: str
    notes: _containers.RepeatedScalarFieldContainer[str]
    replacements: _containers.RepeatedScalarFieldContainer[str]
    pid: int
    peak_rss_sum_kb: int
    disk_kb: int
    limit_kb: int
    relaunch: str
    relaunch_error: str
    sandbox: str
    host: str
    def __init__(self, has_exit_code: _Optional[bool] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., reason: _Optional[str] = ..., started: _Optional[float] = ..., ended: _Optional[float] = ..., stdout_inline: _Optional[bool] = ..., stdout: _Optional[bytes] = ..., stdout_size: _Optional[int] = ..., stdout_truncated: _Optional[bool] = ..., stderr_tail: _Optional[bytes] = ..., peak_rss_kb: _Optional[int] = ..., cpu_seconds: _Optional[float] = ..., monitor_output: _Optional[str] = ..., notes: _Optional[_Iterable[str]] = ..., replacements: _Optional[_Iterable[str]] = ..., pid: _Optional[int] = ..., peak_rss_sum_kb: _Optional[int] = ..., disk_kb: _Optional[int] = ..., limit_kb: _Optional[int] = ..., relaunch: _Optional[str] = ..., relaunch_error: _Optional[str] = ..., sandbox: _Optional[str] = ..., host: _Optional[str] = ...) -> None: ...

class ReportRequest(_message.Message):
    __slots__ = ("job_id", "executor_id", "report_id", "task_id", "attempt", "started", "output", "ended", "pool", "job_key")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    JOB_KEY_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    executor_id: str
    report_id: str
    task_id: int
    attempt: int
    started: TaskStartedReport
    output: TaskOutputReport
    ended: TaskEndedReport
    pool: str
    job_key: int
    def __init__(self, job_id: _Optional[str] = ..., executor_id: _Optional[str] = ..., report_id: _Optional[str] = ..., task_id: _Optional[int] = ..., attempt: _Optional[int] = ..., started: _Optional[_Union[TaskStartedReport, _Mapping]] = ..., output: _Optional[_Union[TaskOutputReport, _Mapping]] = ..., ended: _Optional[_Union[TaskEndedReport, _Mapping]] = ..., pool: _Optional[str] = ..., job_key: _Optional[int] = ...) -> None: ...

class ReportReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HelloRequest(_message.Message):
    __slots__ = ("protocol_version", "client_version")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CLIENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    client_version: str
    def __init__(self, protocol_version: _Optional[int] = ..., client_version: _Optional[str] = ...) -> None: ...

class HelloReply(_message.Message):
    __slots__ = ("protocol_version", "daemon_version", "pid", "state_dir", "backends")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    DAEMON_VERSION_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    STATE_DIR_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    daemon_version: str
    pid: int
    state_dir: str
    backends: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, protocol_version: _Optional[int] = ..., daemon_version: _Optional[str] = ..., pid: _Optional[int] = ..., state_dir: _Optional[str] = ..., backends: _Optional[_Iterable[str]] = ...) -> None: ...

class JobSpec(_message.Message):
    __slots__ = ("master", "role", "threads_per_task", "mem_per_task", "disk_per_task", "monitor", "relauncher", "update_interval", "output", "log_directory", "task_timeout", "timeout_retries", "max_retries", "hdfs", "hdfs_mount", "has_locality_wait", "locality_wait", "slurm_account", "slurm_qos", "slurm_time_limit", "pilot_cpus", "pilot_mem", "max_pilots", "sbatch_options", "pilot_idle_timeout", "mem_per_task_set", "disk_per_task_set", "retries", "retry_on_exit", "after", "run_after_failure", "mesos_mode", "mesos_idle_timeout")
    MASTER_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    THREADS_PER_TASK_FIELD_NUMBER: _ClassVar[int]
    MEM_PER_TASK_FIELD_NUMBER: _ClassVar[int]
    DISK_PER_TASK_FIELD_NUMBER: _ClassVar[int]
    MONITOR_FIELD_NUMBER: _ClassVar[int]
    RELAUNCHER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    LOG_DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    TASK_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_RETRIES_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    HDFS_FIELD_NUMBER: _ClassVar[int]
    HDFS_MOUNT_FIELD_NUMBER: _ClassVar[int]
    HAS_LOCALITY_WAIT_FIELD_NUMBER: _ClassVar[int]
    LOCALITY_WAIT_FIELD_NUMBER: _ClassVar[int]
    SLURM_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    SLURM_QOS_FIELD_NUMBER: _ClassVar[int]
    SLURM_TIME_LIMIT_FIELD_NUMBER: _ClassVar[int]
    PILOT_CPUS_FIELD_NUMBER: _ClassVar[int]
    PILOT_MEM_FIELD_NUMBER: _ClassVar[int]
    MAX_PILOTS_FIELD_NUMBER: _ClassVar[int]
    SBATCH_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    PILOT_IDLE_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MEM_PER_TASK_SET_FIELD_NUMBER: _ClassVar[int]
    DISK_PER_TASK_SET_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    RETRY_ON_EXIT_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    RUN_AFTER_FAILURE_FIELD_NUMBER: _ClassVar[int]
    MESOS_MODE_FIELD_NUMBER: _ClassVar[int]
    MESOS_IDLE_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    master: str
    role: str
    threads_per_task: float
    mem_per_task: float
    disk_per_task: float
    monitor: str
    relauncher: str
    update_interval: float
    output: str
    log_directory: str
    task_timeout: float
    timeout_retries: int
    max_retries: int
    hdfs: str
    hdfs_mount: str
    has_locality_wait: bool
    locality_wait: float
    slurm_account: str
    slurm_qos: str
    slurm_time_limit: str
    pilot_cpus: float
    pilot_mem: float
    max_pilots: int
    sbatch_options: str
    pilot_idle_timeout: float
    mem_per_task_set: bool
    disk_per_task_set: bool
    retries: int
    retry_on_exit: _containers.RepeatedScalarFieldContainer[int]
    after: str
    run_after_failure: bool
    mesos_mode: str
    mesos_idle_timeout: float
    def __init__(self, master: _Optional[str] = ..., role: _Optional[str] = ..., threads_per_task: _Optional[float] = ..., mem_per_task: _Optional[float] = ..., disk_per_task: _Optional[float] = ..., monitor: _Optional[str] = ..., relauncher: _Optional[str] = ..., update_interval: _Optional[float] = ..., output: _Optional[str] = ..., log_directory: _Optional[str] = ..., task_timeout: _Optional[float] = ..., timeout_retries: _Optional[int] = ..., max_retries: _Optional[int] = ..., hdfs: _Optional[str] = ..., hdfs_mount: _Optional[str] = ..., has_locality_wait: _Optional[bool] = ..., locality_wait: _Optional[float] = ..., slurm_account: _Optional[str] = ..., slurm_qos: _Optional[str] = ..., slurm_time_limit: _Optional[str] = ..., pilot_cpus: _Optional[float] = ..., pilot_mem: _Optional[float] = ..., max_pilots: _Optional[int] = ..., sbatch_options: _Optional[str] = ..., pilot_idle_timeout: _Optional[float] = ..., mem_per_task_set: _Optional[bool] = ..., disk_per_task_set: _Optional[bool] = ..., retries: _Optional[int] = ..., retry_on_exit: _Optional[_Iterable[int]] = ..., after: _Optional[str] = ..., run_after_failure: _Optional[bool] = ..., mesos_mode: _Optional[str] = ..., mesos_idle_timeout: _Optional[float] = ...) -> None: ...

class CreateJobRequest(_message.Message):
    __slots__ = ("job_id", "spec", "request_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    spec: JobSpec
    request_id: str
    def __init__(self, job_id: _Optional[str] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class JobRef(_message.Message):
    __slots__ = ("job_id", "request_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    request_id: str
    def __init__(self, job_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class JobInfo(_message.Message):
    __slots__ = ("job_id", "spec", "state", "created", "stream_opened", "stream_closed", "renamed_previous")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    STREAM_OPENED_FIELD_NUMBER: _ClassVar[int]
    STREAM_CLOSED_FIELD_NUMBER: _ClassVar[int]
    RENAMED_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    spec: JobSpec
    state: str
    created: float
    stream_opened: bool
    stream_closed: bool
    renamed_previous: str
    def __init__(self, job_id: _Optional[str] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ..., state: _Optional[str] = ..., created: _Optional[float] = ..., stream_opened: _Optional[bool] = ..., stream_closed: _Optional[bool] = ..., renamed_previous: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListJobsReply(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[JobStatus]
    def __init__(self, jobs: _Optional[_Iterable[_Union[JobStatus, _Mapping]]] = ...) -> None: ...

class SubmitHeader(_message.Message):
    __slots__ = ("job_id", "kind", "mode", "template", "cwd", "env", "request_id", "follow")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    CWD_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    kind: SubmitKind
    mode: SubmitMode
    template: str
    cwd: str
    env: _containers.ScalarMap[str, str]
    request_id: str
    follow: bool
    def __init__(self, job_id: _Optional[str] = ..., kind: _Optional[_Union[SubmitKind, str]] = ..., mode: _Optional[_Union[SubmitMode, str]] = ..., template: _Optional[str] = ..., cwd: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., request_id: _Optional[str] = ..., follow: _Optional[bool] = ...) -> None: ...

class ParamRow(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class SubmitChunk(_message.Message):
    __slots__ = ("header", "items", "rows")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    header: SubmitHeader
    items: _containers.RepeatedScalarFieldContainer[str]
    rows: _containers.RepeatedCompositeFieldContainer[ParamRow]
    def __init__(self, header: _Optional[_Union[SubmitHeader, _Mapping]] = ..., items: _Optional[_Iterable[str]] = ..., rows: _Optional[_Iterable[_Union[ParamRow, _Mapping]]] = ...) -> None: ...

class SubmitReply(_message.Message):
    __slots__ = ("call_id", "first_task_id", "count", "warnings", "following", "follow_id", "ranges")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_TASK_ID_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    FOLLOWING_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_ID_FIELD_NUMBER: _ClassVar[int]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    first_task_id: int
    count: int
    warnings: _containers.RepeatedScalarFieldContainer[str]
    following: bool
    follow_id: int
    ranges: _containers.RepeatedCompositeFieldContainer[TaskRange]
    def __init__(self, call_id: _Optional[int] = ..., first_task_id: _Optional[int] = ..., count: _Optional[int] = ..., warnings: _Optional[_Iterable[str]] = ..., following: _Optional[bool] = ..., follow_id: _Optional[int] = ..., ranges: _Optional[_Iterable[_Union[TaskRange, _Mapping]]] = ...) -> None: ...

class TaskRange(_message.Message):
    __slots__ = ("first", "count")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    first: int
    count: int
    def __init__(self, first: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class FollowInfo(_message.Message):
    __slots__ = ("follow_id", "patterns", "state", "files", "reason", "call_id")
    FOLLOW_ID_FIELD_NUMBER: _ClassVar[int]
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    follow_id: int
    patterns: _containers.RepeatedScalarFieldContainer[str]
    state: str
    files: int
    reason: str
    call_id: int
    def __init__(self, follow_id: _Optional[int] = ..., patterns: _Optional[_Iterable[str]] = ..., state: _Optional[str] = ..., files: _Optional[int] = ..., reason: _Optional[str] = ..., call_id: _Optional[int] = ...) -> None: ...

class StopFollowingRequest(_message.Message):
    __slots__ = ("job_id", "has_follow", "follow_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    HAS_FOLLOW_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    has_follow: bool
    follow_id: int
    def __init__(self, job_id: _Optional[str] = ..., has_follow: _Optional[bool] = ..., follow_id: _Optional[int] = ...) -> None: ...

class StopFollowingReply(_message.Message):
    __slots__ = ("stopped",)
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    stopped: int
    def __init__(self, stopped: _Optional[int] = ...) -> None: ...

class WaitRequest(_message.Message):
    __slots__ = ("job_id", "has_call", "call_id", "progress_interval")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    HAS_CALL_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    has_call: bool
    call_id: int
    progress_interval: float
    def __init__(self, job_id: _Optional[str] = ..., has_call: _Optional[bool] = ..., call_id: _Optional[int] = ..., progress_interval: _Optional[float] = ...) -> None: ...

class StatusCounts(_message.Message):
    __slots__ = ("pending", "running", "finished", "failed", "killed", "relaunched", "lost")
    PENDING_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    KILLED_FIELD_NUMBER: _ClassVar[int]
    RELAUNCHED_FIELD_NUMBER: _ClassVar[int]
    LOST_FIELD_NUMBER: _ClassVar[int]
    pending: int
    running: int
    finished: int
    failed: int
    killed: int
    relaunched: int
    lost: int
    def __init__(self, pending: _Optional[int] = ..., running: _Optional[int] = ..., finished: _Optional[int] = ..., failed: _Optional[int] = ..., killed: _Optional[int] = ..., relaunched: _Optional[int] = ..., lost: _Optional[int] = ...) -> None: ...

class WaitProgress(_message.Message):
    __slots__ = ("done", "total", "counts", "failed_task_ids", "failures", "unreplaced_task_ids")
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    FAILED_TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    UNREPLACED_TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    done: bool
    total: int
    counts: StatusCounts
    failed_task_ids: _containers.RepeatedScalarFieldContainer[int]
    failures: _containers.RepeatedCompositeFieldContainer[FailedTask]
    unreplaced_task_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, done: _Optional[bool] = ..., total: _Optional[int] = ..., counts: _Optional[_Union[StatusCounts, _Mapping]] = ..., failed_task_ids: _Optional[_Iterable[int]] = ..., failures: _Optional[_Iterable[_Union[FailedTask, _Mapping]]] = ..., unreplaced_task_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class FailedTask(_message.Message):
    __slots__ = ("task_id", "has_exit_code", "exit_code", "signal", "reason", "missing_file")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    HAS_EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MISSING_FILE_FIELD_NUMBER: _ClassVar[int]
    task_id: int
    has_exit_code: bool
    exit_code: int
    signal: int
    reason: str
    missing_file: bool
    def __init__(self, task_id: _Optional[int] = ..., has_exit_code: _Optional[bool] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., reason: _Optional[str] = ..., missing_file: _Optional[bool] = ...) -> None: ...

class ResultsOpen(_message.Message):
    __slots__ = ("job_id", "consumer", "consume", "from_seq", "details", "follow")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    CONSUME_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    consumer: str
    consume: bool
    from_seq: int
    details: bool
    follow: bool
    def __init__(self, job_id: _Optional[str] = ..., consumer: _Optional[str] = ..., consume: _Optional[bool] = ..., from_seq: _Optional[int] = ..., details: _Optional[bool] = ..., follow: _Optional[bool] = ...) -> None: ...

class ResultsAck(_message.Message):
    __slots__ = ("upto_seq",)
    UPTO_SEQ_FIELD_NUMBER: _ClassVar[int]
    upto_seq: int
    def __init__(self, upto_seq: _Optional[int] = ...) -> None: ...

class ResultsClientMessage(_message.Message):
    __slots__ = ("open", "ack")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    open: ResultsOpen
    ack: ResultsAck
    def __init__(self, open: _Optional[_Union[ResultsOpen, _Mapping]] = ..., ack: _Optional[_Union[ResultsAck, _Mapping]] = ...) -> None: ...

class ResultRecord(_message.Message):
    __slots__ = ("seq", "task_id", "stdout", "more", "command", "status", "has_exit_code", "exit_code", "signal", "host", "duration", "truncated", "stdout_path", "stderr_path", "call_id", "input_file", "input_params")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HAS_EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    STDOUT_PATH_FIELD_NUMBER: _ClassVar[int]
    STDERR_PATH_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_FILE_FIELD_NUMBER: _ClassVar[int]
    INPUT_PARAMS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    task_id: int
    stdout: bytes
    more: bool
    command: str
    status: str
    has_exit_code: bool
    exit_code: int
    signal: int
    host: str
    duration: float
    truncated: bool
    stdout_path: str
    stderr_path: str
    call_id: int
    input_file: str
    input_params: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, seq: _Optional[int] = ..., task_id: _Optional[int] = ..., stdout: _Optional[bytes] = ..., more: _Optional[bool] = ..., command: _Optional[str] = ..., status: _Optional[str] = ..., has_exit_code: _Optional[bool] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., host: _Optional[str] = ..., duration: _Optional[float] = ..., truncated: _Optional[bool] = ..., stdout_path: _Optional[str] = ..., stderr_path: _Optional[str] = ..., call_id: _Optional[int] = ..., input_file: _Optional[str] = ..., input_params: _Optional[_Iterable[str]] = ...) -> None: ...

class ResultBatch(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[ResultRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[ResultRecord, _Mapping]]] = ...) -> None: ...

class ResultsEnd(_message.Message):
    __slots__ = ("upto_seq",)
    UPTO_SEQ_FIELD_NUMBER: _ClassVar[int]
    upto_seq: int
    def __init__(self, upto_seq: _Optional[int] = ...) -> None: ...

class ResultsCommitted(_message.Message):
    __slots__ = ("cursor",)
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    cursor: int
    def __init__(self, cursor: _Optional[int] = ...) -> None: ...

class ResultsServerMessage(_message.Message):
    __slots__ = ("batch", "end", "committed")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    batch: ResultBatch
    end: ResultsEnd
    committed: ResultsCommitted
    def __init__(self, batch: _Optional[_Union[ResultBatch, _Mapping]] = ..., end: _Optional[_Union[ResultsEnd, _Mapping]] = ..., committed: _Optional[_Union[ResultsCommitted, _Mapping]] = ...) -> None: ...

class JobStatus(_message.Message):
    __slots__ = ("job_id", "state", "master", "total", "counts", "results_available", "cursor", "created", "finished_at", "warnings", "stream_opened", "stream_closed", "locality_tasks", "locality_tasks_local", "locality_bytes", "locality_bytes_local", "pilots_queued", "pilots_running", "after_job", "hold", "hold_reason", "follows", "pool")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MASTER_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    RESULTS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    STREAM_OPENED_FIELD_NUMBER: _ClassVar[int]
    STREAM_CLOSED_FIELD_NUMBER: _ClassVar[int]
    LOCALITY_TASKS_FIELD_NUMBER: _ClassVar[int]
    LOCALITY_TASKS_LOCAL_FIELD_NUMBER: _ClassVar[int]
    LOCALITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    LOCALITY_BYTES_LOCAL_FIELD_NUMBER: _ClassVar[int]
    PILOTS_QUEUED_FIELD_NUMBER: _ClassVar[int]
    PILOTS_RUNNING_FIELD_NUMBER: _ClassVar[int]
    AFTER_JOB_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    HOLD_REASON_FIELD_NUMBER: _ClassVar[int]
    FOLLOWS_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: str
    master: str
    total: int
    counts: StatusCounts
    results_available: int
    cursor: int
    created: float
    finished_at: float
    warnings: _containers.RepeatedScalarFieldContainer[str]
    stream_opened: bool
    stream_closed: bool
    locality_tasks: int
    locality_tasks_local: int
    locality_bytes: int
    locality_bytes_local: int
    pilots_queued: int
    pilots_running: int
    after_job: str
    hold: str
    hold_reason: str
    follows: _containers.RepeatedCompositeFieldContainer[FollowInfo]
    pool: str
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[str] = ..., master: _Optional[str] = ..., total: _Optional[int] = ..., counts: _Optional[_Union[StatusCounts, _Mapping]] = ..., results_available: _Optional[int] = ..., cursor: _Optional[int] = ..., created: _Optional[float] = ..., finished_at: _Optional[float] = ..., warnings: _Optional[_Iterable[str]] = ..., stream_opened: _Optional[bool] = ..., stream_closed: _Optional[bool] = ..., locality_tasks: _Optional[int] = ..., locality_tasks_local: _Optional[int] = ..., locality_bytes: _Optional[int] = ..., locality_bytes_local: _Optional[int] = ..., pilots_queued: _Optional[int] = ..., pilots_running: _Optional[int] = ..., after_job: _Optional[str] = ..., hold: _Optional[str] = ..., hold_reason: _Optional[str] = ..., follows: _Optional[_Iterable[_Union[FollowInfo, _Mapping]]] = ..., pool: _Optional[str] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ("job_id", "state")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: str
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[str] = ...) -> None: ...

class TaskSummary(_message.Message):
    __slots__ = ("task_id", "status", "command", "host", "attempts", "has_exit_code", "exit_code", "signal", "duration", "started", "call_id")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    HAS_EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: int
    status: str
    command: str
    host: str
    attempts: int
    has_exit_code: bool
    exit_code: int
    signal: int
    duration: float
    started: float
    call_id: int
    def __init__(self, task_id: _Optional[int] = ..., status: _Optional[str] = ..., command: _Optional[str] = ..., host: _Optional[str] = ..., attempts: _Optional[int] = ..., has_exit_code: _Optional[bool] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., duration: _Optional[float] = ..., started: _Optional[float] = ..., call_id: _Optional[int] = ...) -> None: ...

class TaskPage(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[TaskSummary]
    def __init__(self, tasks: _Optional[_Iterable[_Union[TaskSummary, _Mapping]]] = ...) -> None: ...

class TaskRef(_message.Message):
    __slots__ = ("job_id", "task_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    task_id: int
    def __init__(self, job_id: _Optional[str] = ..., task_id: _Optional[int] = ...) -> None: ...

class TaskDetail(_message.Message):
    __slots__ = ("summary", "call_id", "started", "ended", "reason", "stderr_tail", "sandbox", "has_parent", "relaunched_from", "relaunched_as", "peak_rss_kb", "cpu_seconds", "monitor_output", "notes", "cwd", "peak_rss_sum_kb", "disk_kb", "stdout_path", "stderr_path", "files_host", "attempts")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STDERR_TAIL_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_FIELD_NUMBER: _ClassVar[int]
    HAS_PARENT_FIELD_NUMBER: _ClassVar[int]
    RELAUNCHED_FROM_FIELD_NUMBER: _ClassVar[int]
    RELAUNCHED_AS_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSS_KB_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MONITOR_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    CWD_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSS_SUM_KB_FIELD_NUMBER: _ClassVar[int]
    DISK_KB_FIELD_NUMBER: _ClassVar[int]
    STDOUT_PATH_FIELD_NUMBER: _ClassVar[int]
    STDERR_PATH_FIELD_NUMBER: _ClassVar[int]
    FILES_HOST_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    summary: TaskSummary
    call_id: int
    started: float
    ended: float
    reason: str
    stderr_tail: str
    sandbox: str
    has_parent: bool
    relaunched_from: int
    relaunched_as: _containers.RepeatedScalarFieldContainer[int]
    peak_rss_kb: int
    cpu_seconds: float
    monitor_output: str
    notes: _containers.RepeatedScalarFieldContainer[str]
    cwd: str
    peak_rss_sum_kb: int
    disk_kb: int
    stdout_path: str
    stderr_path: str
    files_host: str
    attempts: _containers.RepeatedCompositeFieldContainer[AttemptInfo]
    def __init__(self, summary: _Optional[_Union[TaskSummary, _Mapping]] = ..., call_id: _Optional[int] = ..., started: _Optional[float] = ..., ended: _Optional[float] = ..., reason: _Optional[str] = ..., stderr_tail: _Optional[str] = ..., sandbox: _Optional[str] = ..., has_parent: _Optional[bool] = ..., relaunched_from: _Optional[int] = ..., relaunched_as: _Optional[_Iterable[int]] = ..., peak_rss_kb: _Optional[int] = ..., cpu_seconds: _Optional[float] = ..., monitor_output: _Optional[str] = ..., notes: _Optional[_Iterable[str]] = ..., cwd: _Optional[str] = ..., peak_rss_sum_kb: _Optional[int] = ..., disk_kb: _Optional[int] = ..., stdout_path: _Optional[str] = ..., stderr_path: _Optional[str] = ..., files_host: _Optional[str] = ..., attempts: _Optional[_Iterable[_Union[AttemptInfo, _Mapping]]] = ...) -> None: ...

class AttemptInfo(_message.Message):
    __slots__ = ("attempt", "host", "started", "ended", "has_exit_code", "exit_code", "has_signal", "signal", "reason", "stderr_tail")
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    HAS_EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    HAS_SIGNAL_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STDERR_TAIL_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    host: str
    started: float
    ended: float
    has_exit_code: bool
    exit_code: int
    has_signal: bool
    signal: int
    reason: str
    stderr_tail: str
    def __init__(self, attempt: _Optional[int] = ..., host: _Optional[str] = ..., started: _Optional[float] = ..., ended: _Optional[float] = ..., has_exit_code: _Optional[bool] = ..., exit_code: _Optional[int] = ..., has_signal: _Optional[bool] = ..., signal: _Optional[int] = ..., reason: _Optional[str] = ..., stderr_tail: _Optional[str] = ...) -> None: ...

class KillRequest(_message.Message):
    __slots__ = ("job_id", "task_ids", "request_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    task_ids: _containers.RepeatedScalarFieldContainer[int]
    request_id: str
    def __init__(self, job_id: _Optional[str] = ..., task_ids: _Optional[_Iterable[int]] = ..., request_id: _Optional[str] = ...) -> None: ...

class KillReply(_message.Message):
    __slots__ = ("killed",)
    KILLED_FIELD_NUMBER: _ClassVar[int]
    killed: int
    def __init__(self, killed: _Optional[int] = ...) -> None: ...

class RetryRequest(_message.Message):
    __slots__ = ("job_id", "task_ids", "request_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    task_ids: _containers.RepeatedScalarFieldContainer[int]
    request_id: str
    def __init__(self, job_id: _Optional[str] = ..., task_ids: _Optional[_Iterable[int]] = ..., request_id: _Optional[str] = ...) -> None: ...

class RetryReply(_message.Message):
    __slots__ = ("task_ids",)
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    task_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, task_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ("job_id", "has_call", "call_id", "request_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    HAS_CALL_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    has_call: bool
    call_id: int
    request_id: str
    def __init__(self, job_id: _Optional[str] = ..., has_call: _Optional[bool] = ..., call_id: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class RemoveReply(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: bool
    def __init__(self, removed: _Optional[bool] = ...) -> None: ...

class ShutdownRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShutdownReply(_message.Message):
    __slots__ = ("pid",)
    PID_FIELD_NUMBER: _ClassVar[int]
    pid: int
    def __init__(self, pid: _Optional[int] = ...) -> None: ...

class RemoveJobsRequest(_message.Message):
    __slots__ = ("job_ids", "has_finished_before", "finished_before", "expired", "has_older_than", "older_than", "delete_outputs", "dry_run", "request_id")
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    HAS_FINISHED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    FINISHED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_FIELD_NUMBER: _ClassVar[int]
    HAS_OLDER_THAN_FIELD_NUMBER: _ClassVar[int]
    OLDER_THAN_FIELD_NUMBER: _ClassVar[int]
    DELETE_OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    job_ids: _containers.RepeatedScalarFieldContainer[str]
    has_finished_before: bool
    finished_before: float
    expired: bool
    has_older_than: bool
    older_than: float
    delete_outputs: bool
    dry_run: bool
    request_id: str
    def __init__(self, job_ids: _Optional[_Iterable[str]] = ..., has_finished_before: _Optional[bool] = ..., finished_before: _Optional[float] = ..., expired: _Optional[bool] = ..., has_older_than: _Optional[bool] = ..., older_than: _Optional[float] = ..., delete_outputs: _Optional[bool] = ..., dry_run: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class RemovedJob(_message.Message):
    __slots__ = ("job_id", "finished_at", "tasks", "results", "journal_bytes", "sandbox_directory", "sandbox_bytes", "output_directory", "output_files", "output_bytes", "outputs_deleted", "output_directory_removed", "other_files")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    JOURNAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_BYTES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FILES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIRECTORY_REMOVED_FIELD_NUMBER: _ClassVar[int]
    OTHER_FILES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    finished_at: float
    tasks: int
    results: int
    journal_bytes: int
    sandbox_directory: str
    sandbox_bytes: int
    output_directory: str
    output_files: int
    output_bytes: int
    outputs_deleted: bool
    output_directory_removed: bool
    other_files: int
    def __init__(self, job_id: _Optional[str] = ..., finished_at: _Optional[float] = ..., tasks: _Optional[int] = ..., results: _Optional[int] = ..., journal_bytes: _Optional[int] = ..., sandbox_directory: _Optional[str] = ..., sandbox_bytes: _Optional[int] = ..., output_directory: _Optional[str] = ..., output_files: _Optional[int] = ..., output_bytes: _Optional[int] = ..., outputs_deleted: _Optional[bool] = ..., output_directory_removed: _Optional[bool] = ..., other_files: _Optional[int] = ...) -> None: ...

class RemoveJobsReply(_message.Message):
    __slots__ = ("jobs", "dry_run", "bytes_freed", "journal_bytes_before", "journal_bytes_after", "orphan_sandboxes", "state_dir", "retention_days")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    BYTES_FREED_FIELD_NUMBER: _ClassVar[int]
    JOURNAL_BYTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    JOURNAL_BYTES_AFTER_FIELD_NUMBER: _ClassVar[int]
    ORPHAN_SANDBOXES_FIELD_NUMBER: _ClassVar[int]
    STATE_DIR_FIELD_NUMBER: _ClassVar[int]
    RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[RemovedJob]
    dry_run: bool
    bytes_freed: int
    journal_bytes_before: int
    journal_bytes_after: int
    orphan_sandboxes: int
    state_dir: str
    retention_days: float
    def __init__(self, jobs: _Optional[_Iterable[_Union[RemovedJob, _Mapping]]] = ..., dry_run: _Optional[bool] = ..., bytes_freed: _Optional[int] = ..., journal_bytes_before: _Optional[int] = ..., journal_bytes_after: _Optional[int] = ..., orphan_sandboxes: _Optional[int] = ..., state_dir: _Optional[str] = ..., retention_days: _Optional[float] = ...) -> None: ...

class StateUsageRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StateUsage(_message.Message):
    __slots__ = ("state_dir", "total_bytes", "journal_bytes", "journal_free_bytes", "sandbox_bytes", "pilot_log_bytes", "other_bytes", "retention_days")
    STATE_DIR_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    JOURNAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    JOURNAL_FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_BYTES_FIELD_NUMBER: _ClassVar[int]
    PILOT_LOG_BYTES_FIELD_NUMBER: _ClassVar[int]
    OTHER_BYTES_FIELD_NUMBER: _ClassVar[int]
    RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    state_dir: str
    total_bytes: int
    journal_bytes: int
    journal_free_bytes: int
    sandbox_bytes: int
    pilot_log_bytes: int
    other_bytes: int
    retention_days: float
    def __init__(self, state_dir: _Optional[str] = ..., total_bytes: _Optional[int] = ..., journal_bytes: _Optional[int] = ..., journal_free_bytes: _Optional[int] = ..., sandbox_bytes: _Optional[int] = ..., pilot_log_bytes: _Optional[int] = ..., other_bytes: _Optional[int] = ..., retention_days: _Optional[float] = ...) -> None: ...

class StoryLine(_message.Message):
    __slots__ = ("time", "attempt", "from_status", "to_status", "event", "stimulus_id", "reason", "host", "detail")
    TIME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    FROM_STATUS_FIELD_NUMBER: _ClassVar[int]
    TO_STATUS_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    STIMULUS_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    time: float
    attempt: int
    from_status: str
    to_status: str
    event: str
    stimulus_id: str
    reason: str
    host: str
    detail: str
    def __init__(self, time: _Optional[float] = ..., attempt: _Optional[int] = ..., from_status: _Optional[str] = ..., to_status: _Optional[str] = ..., event: _Optional[str] = ..., stimulus_id: _Optional[str] = ..., reason: _Optional[str] = ..., host: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class TaskStory(_message.Message):
    __slots__ = ("job_id", "task_id", "lines", "truncated", "kept_since")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    KEPT_SINCE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    task_id: int
    lines: _containers.RepeatedCompositeFieldContainer[StoryLine]
    truncated: bool
    kept_since: float
    def __init__(self, job_id: _Optional[str] = ..., task_id: _Optional[int] = ..., lines: _Optional[_Iterable[_Union[StoryLine, _Mapping]]] = ..., truncated: _Optional[bool] = ..., kept_since: _Optional[float] = ...) -> None: ...
