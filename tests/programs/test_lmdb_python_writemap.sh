#!/usr/bin/env bash
# python3-lmdb with writemap=True: LMDB extends its data file to the map
# size and writes pages straight through a shared writable mapping, then
# msync. The workload: lmdb_python_workload.sh.
WRITEMAP=True
. "$(dirname "$0")/lmdb_python_workload.sh"
