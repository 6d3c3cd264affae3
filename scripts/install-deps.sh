#!/usr/bin/env bash
# Install the Debian packages faultmap builds and tests with (needs root;
# does nothing for packages already installed).
set -euo pipefail
pkgs=(build-essential clang libclang-rt-14-dev pkg-config liburing-dev libnbd-dev nbdkit gnuplot-nox python3 python3-numpy sqlite3 lmdb-utils python3-lmdb ripgrep git groff-base man-db librsvg2-bin fio)
# The RADOS store's tests run a real single-node Ceph cluster
# (scripts/ceph-dev.sh): its daemons and librados, without the recommends
# (about 1.5 min to install here); the S3 store's, radosgw on that cluster,
# curl to sign requests to it, and libcurl's header to build the store (about
# 10 s more).
bare=(ceph librados-dev radosgw curl libcurl4-openssl-dev)
missing=() missing_bare=()
for p in "${pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
for p in "${bare[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing_bare+=("$p")
done
[ $((${#missing[@]} + ${#missing_bare[@]})) -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "faultmap: need root to install: ${missing[*]} ${missing_bare[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
[ ${#missing[@]} -eq 0 ] || apt-get install -y -qq "${missing[@]}" >/dev/null
[ ${#missing_bare[@]} -eq 0 ] ||
	apt-get install -y -qq --no-install-recommends "${missing_bare[@]}" >/dev/null
