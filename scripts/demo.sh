#!/usr/bin/env bash
# `make run`: stores a small demo data set of conflicting, signed claims in a local database
# directory and prints it back, verified. Usage: demo.sh STEMEDB_BINARY DATA_DIR
set -euo pipefail
bin=${1:?usage: demo.sh STEMEDB_BINARY DATA_DIR}
data=${2:?usage: demo.sh STEMEDB_BINARY DATA_DIR}
"$bin" demo --db "$data"
cat <<EOT

The database lives in $data: write-ahead log in $data/wal, RocksDB indexes in $data/kv
(derived from the log: delete it and it is rebuilt), agent keys in $data/keys.
Run 'make run' again: the claims are content-addressed, so nothing is stored twice.
More: $bin --help
EOT
