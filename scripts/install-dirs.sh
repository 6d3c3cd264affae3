#!/usr/bin/env bash
# What `make install` created, so that `make uninstall` removes it again:
#   scripts/install-dirs.sh record LIST DIR...
#       run before `install -d DIR...`: add to the file LIST each
#       directory that it is about to create (DIR, and its parents up to
#       the first one that exists), by absolute path;
#   scripts/install-dirs.sh remove LIST DIR...
#       run after the installed files are removed: remove each directory of
#       LIST that is one of DIR... or a parent of one, deepest first, if it
#       is empty; a directory that was there before the install, or that
#       holds anything else now, stays. LIST forgets what is gone.
# LIST is kept in the build tree ($(BUILD)/install/created-dirs): an
# uninstall from another tree (or after `make clean`) leaves the empty
# directories, as automake's does.
set -u
what=$1 list=$2
shift 2
case $what in
record)
	mkdir -p "$(dirname "$list")"
	touch "$list"
	for d in "$@"; do
		d=$(realpath -m -- "$d")
		while [ "$d" != / ] && [ ! -e "$d" ] && [ ! -L "$d" ]; do
			grep -qxF -- "$d" "$list" || echo "$d" >>"$list"
			d=$(dirname "$d")
		done
	done
	;;
remove)
	[ -f "$list" ] || exit 0
	# the candidates: each DIR and its parents
	cand=$(for d in "$@"; do
		d=$(realpath -m -- "$d")
		while [ "$d" != / ]; do echo "$d"; d=$(dirname "$d"); done
	done | sort -u)
	# deepest first (most slashes), so that a parent is empty by its turn
	grep -xF -f <(echo "$cand") -- "$list" | awk -F/ '{ print NF "\t" $0 }' | sort -rn | cut -f2- |
		while IFS= read -r d; do
			[ -d "$d" ] && [ ! -L "$d" ] && rmdir -- "$d" 2>/dev/null
		done
	# forget what no longer exists
	keep=$(while IFS= read -r d; do [ -e "$d" ] && echo "$d"; done <"$list")
	if [ -n "$keep" ]; then echo "$keep" >"$list"; else rm -f "$list"; fi
	;;
*)
	echo "usage: $0 record|remove LIST DIR..." >&2
	exit 2
	;;
esac
exit 0
