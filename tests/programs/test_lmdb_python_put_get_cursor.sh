#!/usr/bin/env bash
# python3-lmdb with writemap=False: LMDB reads its data file through a shared
# read-only mapping and writes it with pwrite, so pwrite must update what
# the mapping shows. The workload: lmdb_python_workload.sh.
WRITEMAP=False
. "$(dirname "$0")/lmdb_python_workload.sh"
