BEGIN TRANSACTION;
CREATE TABLE calls (
    job_key INTEGER NOT NULL, call_id INTEGER NOT NULL, mode TEXT NOT NULL, cwd TEXT NOT NULL,
    env TEXT NOT NULL, PRIMARY KEY (job_key, call_id)) WITHOUT ROWID;
INSERT INTO "calls" VALUES(1,0,'stream','@CWD@','{"STRATOS_SOCKET": "@STATE_DIR@/s.sock", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "STRATOS_STATE_DIR": "@STATE_DIR@"}');
CREATE TABLE cursors (
    job_key INTEGER NOT NULL, consumer TEXT NOT NULL, position INTEGER NOT NULL,
    PRIMARY KEY (job_key, consumer)) WITHOUT ROWID;
CREATE TABLE job_meta (
    job_key INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (job_key, key)) WITHOUT ROWID;
CREATE TABLE jobs (
    key INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, spec TEXT NOT NULL, pool TEXT NOT NULL,
    created REAL NOT NULL, finished_at REAL NOT NULL, cancelled INTEGER NOT NULL,
    stream_opened INTEGER NOT NULL, stream_closed INTEGER NOT NULL, token TEXT NOT NULL);
INSERT INTO "jobs" VALUES(1,'before-upgrade','{"master": "local", "role": "*", "cpus": 1.0, "mem": 256.0, "disk": 256.0, "monitor": null, "relauncher": null, "update_interval": 10.0, "output": "scheduler", "log_directory": "@LOG_DIRECTORY@", "task_timeout": 0.0, "timeout_retries": 0, "max_retries": 3, "locality_wait": 3.0, "hdfs": "", "hdfs_mount": "/dfs", "slurm_account": "", "slurm_qos": "", "slurm_time_limit": "", "pilot_cpus": 0.0, "pilot_mem": 0.0, "max_pilots": 4, "sbatch_options": "", "pilot_idle_timeout": 60.0}','local',1.7966128110024895668e+09,0.0,0,1,0,'sTxaThwtV7Z6uFQsVLsQvk__ea1iRRfOm2QiwhZekJg');
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO "meta" VALUES('schema_version','1');
CREATE TABLE outcomes (
    job_key INTEGER NOT NULL, task_id INTEGER NOT NULL, seq INTEGER, stdout BLOB, stdout_path TEXT,
    truncated INTEGER NOT NULL, stderr_tail BLOB NOT NULL, peak_rss_kb INTEGER NOT NULL,
    cpu_seconds REAL NOT NULL, monitor_output TEXT NOT NULL, notes TEXT NOT NULL,
    PRIMARY KEY (job_key, task_id)) WITHOUT ROWID;
INSERT INTO "outcomes" VALUES(1,0,1,X'736C6570742D610A',NULL,0,X'',65492,2.42899999999999973571e-03,'','[]');
INSERT INTO "outcomes" VALUES(1,1,2,X'736C6570742D620A',NULL,0,X'',65492,0.00208,'','[]');
INSERT INTO "outcomes" VALUES(1,2,4,X'736C6570742D630A',NULL,0,X'',65492,0.001862,'','[]');
INSERT INTO "outcomes" VALUES(1,3,3,X'736C6570742D640A',NULL,0,X'',65492,0.001966,'','[]');
CREATE TABLE tasks (
    job_key INTEGER NOT NULL, task_id INTEGER NOT NULL, call_id INTEGER NOT NULL, command TEXT NOT NULL,
    status TEXT NOT NULL, attempt INTEGER NOT NULL, host TEXT NOT NULL, parent INTEGER,
    children TEXT NOT NULL, kill_requested INTEGER NOT NULL, exit_code INTEGER, signal INTEGER,
    reason TEXT NOT NULL, started REAL NOT NULL, ended REAL NOT NULL, locality TEXT NOT NULL,
    PRIMARY KEY (job_key, task_id)) WITHOUT ROWID;
INSERT INTO "tasks" VALUES(1,0,0,'sleep 0; echo slept-a','finished',1,'vm',NULL,'',0,0,NULL,'',1.7966128110180516243e+09,1.79661281102664327621e+09,'');
INSERT INTO "tasks" VALUES(1,1,0,'sleep 0; echo slept-b','finished',1,'vm',NULL,'',0,0,NULL,'',1.79661281102601385123e+09,1.79661281103511571879e+09,'');
INSERT INTO "tasks" VALUES(1,2,0,'sleep 0; echo slept-c','finished',1,'vm',NULL,'',0,0,NULL,'',1.79661281103486251834e+09,1.79661281103934073453e+09,'');
INSERT INTO "tasks" VALUES(1,3,0,'sleep 0; echo slept-d','finished',1,'vm',NULL,'',0,0,NULL,'',1.79661281103586244582e+09,1.7966128110382974148e+09,'');
INSERT INTO "tasks" VALUES(1,4,0,'sleep 8; echo slept-e','running',1,'vm',NULL,'',0,NULL,NULL,'',0.0,0.0,'');
INSERT INTO "tasks" VALUES(1,5,0,'sleep 8; echo slept-f','running',1,'vm',NULL,'',0,NULL,NULL,'',0.0,0.0,'');
CREATE UNIQUE INDEX outcomes_by_seq ON outcomes (job_key, seq) WHERE seq IS NOT NULL;
COMMIT;
