"""Where a file's bytes live: HDFS block locations, for data-local placement."""
