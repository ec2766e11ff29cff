BEGIN TRANSACTION;
CREATE TABLE calls (
    job_key INTEGER NOT NULL, call_id INTEGER NOT NULL, mode TEXT NOT NULL, cwd TEXT NOT NULL,
    env TEXT NOT NULL, PRIMARY KEY (job_key, call_id)) WITHOUT ROWID;
INSERT INTO "calls" VALUES(1,0,'stream','@CWD@','{"PATH": "/usr/bin:/bin", "STRATOS_STATE_DIR": "@STATE_DIR@", "STRATOS_SOCKET": "@STATE_DIR@/s.sock", "LANG": "C.UTF-8"}');
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
INSERT INTO "jobs" VALUES(1,'before-upgrade','{"master": "local", "role": "*", "cpus": 1.0, "mem": 256.0, "disk": 256.0, "monitor": null, "relauncher": null, "update_interval": 10.0, "output": "scheduler", "log_directory": "@LOG_DIRECTORY@", "task_timeout": 0.0, "timeout_retries": 0, "max_retries": 3, "locality_wait": 3.0, "hdfs": "", "hdfs_mount": "/dfs", "slurm_account": "", "slurm_qos": "", "slurm_time_limit": "", "pilot_cpus": 0.0, "pilot_mem": 0.0, "max_pilots": 4, "sbatch_options": "", "pilot_idle_timeout": 60.0, "mem_set": false, "disk_set": false, "retries": 0, "retry_on_exit": []}','local',1.79661281616212463374e+09,0.0,0,1,0,'Z54e98fWg5CEF-AJp7fb6n3Gba5cNZk4_sYL-CQVhAs');
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO "meta" VALUES('schema_version','2');
CREATE TABLE outcomes (
    job_key INTEGER NOT NULL, task_id INTEGER NOT NULL, seq INTEGER, stdout BLOB, stdout_path TEXT,
    truncated INTEGER NOT NULL, stderr_tail BLOB NOT NULL, peak_rss_kb INTEGER NOT NULL,
    cpu_seconds REAL NOT NULL, monitor_output TEXT NOT NULL, notes TEXT NOT NULL,
    peak_rss_sum_kb INTEGER NOT NULL DEFAULT 0, disk_kb INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_key, task_id)) WITHOUT ROWID;
INSERT INTO "outcomes" VALUES(1,0,1,X'736C6570742D610A',NULL,0,X'',4,2.60199999999999971242e-03,'','[]',4,0);
INSERT INTO "outcomes" VALUES(1,1,2,X'736C6570742D620A',NULL,0,X'',1684,0.002293,'','[]',1684,0);
INSERT INTO "outcomes" VALUES(1,2,3,X'736C6570742D630A',NULL,0,X'',1720,2.56899999999999966923e-03,'','[]',1720,0);
INSERT INTO "outcomes" VALUES(1,3,4,X'736C6570742D640A',NULL,0,X'',1652,0.002418,'','[]',1652,0);
CREATE TABLE requests (
    request_id TEXT PRIMARY KEY, method TEXT NOT NULL, reply BLOB NOT NULL, created REAL NOT NULL) WITHOUT ROWID;
INSERT INTO "requests" VALUES('4bb481a17d644c8391494e55042d30e6','Submit',X'1806',1.796612816165895462e+09);
INSERT INTO "requests" VALUES('cb96d6d728d44e48b726133f4ccc85ea','CreateJob',X'0A0E6265666F72652D7570677261646512730A056C6F63616C12012A19000000000000F03F2100000000000070402900000000000070404100000000000024404A097363686564756C657252162F746D702F6F6C646A2F73747261746F732D6C6F677368037A042F64667380010189010000000000000840B80104C9010000000000004E401A0866696E69736865642140600AB488C5DA41',1.79661281616259479523e+09);
CREATE TABLE task_inputs (
    job_key INTEGER NOT NULL, task_id INTEGER NOT NULL, file TEXT, params TEXT,
    PRIMARY KEY (job_key, task_id)) WITHOUT ROWID;
INSERT INTO "task_inputs" VALUES(1,0,NULL,'["0", "a"]');
INSERT INTO "task_inputs" VALUES(1,1,NULL,'["0", "b"]');
INSERT INTO "task_inputs" VALUES(1,2,NULL,'["0", "c"]');
INSERT INTO "task_inputs" VALUES(1,3,NULL,'["0", "d"]');
INSERT INTO "task_inputs" VALUES(1,4,NULL,'["8", "e"]');
INSERT INTO "task_inputs" VALUES(1,5,NULL,'["8", "f"]');
CREATE TABLE tasks (
    job_key INTEGER NOT NULL, task_id INTEGER NOT NULL, call_id INTEGER NOT NULL, command TEXT NOT NULL,
    status TEXT NOT NULL, attempt INTEGER NOT NULL, host TEXT NOT NULL, parent INTEGER,
    children TEXT NOT NULL, kill_requested INTEGER NOT NULL, exit_code INTEGER, signal INTEGER,
    reason TEXT NOT NULL, started REAL NOT NULL, ended REAL NOT NULL, locality TEXT NOT NULL, reason_code TEXT NOT NULL DEFAULT '', history TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_key, task_id)) WITHOUT ROWID;
INSERT INTO "tasks" VALUES(1,0,0,'sleep 0; echo slept-a','finished',1,'vm',NULL,'',0,0,NULL,'',1.79661281616719651224e+09,1.79661281617205739018e+09,'','','[[1, "vm", 1796612816.1671965, 1796612816.1720574, 0, null, "", "exit code 0", "", false]]');
INSERT INTO "tasks" VALUES(1,1,0,'sleep 0; echo slept-b','finished',1,'vm',NULL,'',0,0,NULL,'',1.79661281617146301268e+09,1.79661281617522072795e+09,'','','[[1, "vm", 1796612816.171463, 1796612816.1752207, 0, null, "", "exit code 0", "", false]]');
INSERT INTO "tasks" VALUES(1,2,0,'sleep 0; echo slept-c','finished',1,'vm',NULL,'',0,0,NULL,'',1.79661281617475652692e+09,1.79661281617919325829e+09,'','','[[1, "vm", 1796612816.1747565, 1796612816.1791933, 0, null, "", "exit code 0", "", false]]');
INSERT INTO "tasks" VALUES(1,3,0,'sleep 0; echo slept-d','finished',1,'vm',NULL,'',0,0,NULL,'',1.7966128161787815094e+09,1.79661281618114423747e+09,'','','[[1, "vm", 1796612816.1787815, 1796612816.1811442, 0, null, "", "exit code 0", "", false]]');
INSERT INTO "tasks" VALUES(1,4,0,'sleep 8; echo slept-e','running',1,'vm',NULL,'',0,NULL,NULL,'',0.0,0.0,'','','');
INSERT INTO "tasks" VALUES(1,5,0,'sleep 8; echo slept-f','running',1,'vm',NULL,'',0,NULL,NULL,'',0.0,0.0,'','','');
CREATE UNIQUE INDEX outcomes_by_seq ON outcomes (job_key, seq) WHERE seq IS NOT NULL;
COMMIT;
