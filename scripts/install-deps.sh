#!/usr/bin/env bash
# Install the Debian packages faultmap builds and tests with (needs root;
# does nothing for packages already installed).
set -euo pipefail
pkgs=(build-essential clang libclang-rt-14-dev pkg-config liburing-dev libnbd-dev nbdkit gnuplot-nox python3 python3-numpy sqlite3 lmdb-utils python3-lmdb ripgrep git groff-base man-db librsvg2-bin fio)
missing=()
for p in "${pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "faultmap: need root to install: ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
