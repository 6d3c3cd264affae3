#!/bin/sh
# plot.sh - plots of fm-bench's results, with gnuplot (Debian: gnuplot-nox).
#
#   bench/plot.sh [results.csv [out-dir]]     (default docs/bench/results.csv)
#
# Writes, as PNG and SVG, into out-dir:
#   speed-vs-kernel  throughput / kernel mmap (default advice), per workload
#   speed-vs-kernel-hint  throughput / kernel mmap with the best madvise hint
#   peak-memory      peak memory of each contender's cgroup, MiB
#   zipf-hit-ratio   workload 4's hit ratios (probed, and from fault counts)
# Without gnuplot it says so and exits 0.
set -eu
csv=${1:-docs/bench/results.csv}
out=${2:-$(dirname "$csv")}
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "plots: skipped: gnuplot not found (install Debian's gnuplot-nox)"
	exit 0
fi
[ -r "$csv" ] || { echo "plot.sh: no $csv" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One table per quantity: a row per workload variant, a column per
# contender ("-" where a contender did not run). Fields of results.csv:
# 1 workload, 3 variant, 4 contender, 10 vs_kernel, 11 vs_kernel_hint, 12 peak_mib,
# 17 hit_probe, 18 hit_faults (cache_state, field 22, is quoted and may hold
# commas, so only fields before it are used).
table() { # $1 = field number, $2 = output file
	awk -F, -v f="$1" '
	NR == 1 { next }
	{
		key = "W" $1 " " $3
		if (!(key in seen)) { seen[key] = 1; rows[++nr] = key }
		c = $4; sub(/^pwrite$/, "pread", c)
		cseen[c] = 1
		v[key, c] = ($f == "" ? "-" : $f)
	}
	END {
		n = split("faultmap fm-daemon fm-inline faultmap+hint kernel kernel+hint pread fio UMap", order, " ")
		for (j = 1; j <= n; j++) if (order[j] in cseen) cols[++nc] = order[j]
		printf "variant"
		for (j = 1; j <= nc; j++) printf "\t%s", cols[j]
		printf "\n"
		for (i = 1; i <= nr; i++) {
			printf "\"%s\"", rows[i]
			for (j = 1; j <= nc; j++) {
				x = v[rows[i], cols[j]]
				printf "\t%s", (x == "" ? "-" : x)
			}
			printf "\n"
		}
	}' "$csv" > "$2"
}

table 10 "$tmp/ratio.dat"
table 11 "$tmp/ratio-hint.dat"
table 12 "$tmp/peak.dat"
awk -F, 'NR > 1 && $1 == 4 {
	printf "\"%s\"\t%s\t%s\n", $4, ($17 == "" ? "-" : $17 * 100), ($18 == "" ? "-" : $18 * 100)
}' "$csv" > "$tmp/hit.dat"
ncols=$(head -1 "$tmp/ratio.dat" | awk -F'\t' '{ print NF }')
png="pngcairo size 1200,600 font 'sans,10'"
echo 'set terminal pngcairo' | gnuplot >/dev/null 2>&1 || png="png size 1200,600"

plot() { # $1 = name, $2 = gnuplot commands
	for term in png svg; do
		if [ $term = png ]; then
			t="set terminal $png"
		else
			t="set terminal svg size 1200,600 dynamic font 'sans,10'"
		fi
		gnuplot <<-EOF
			$t
			set output "$out/$1.$term"
			set datafile separator "\t"
			set datafile missing "-"
			set style data histograms
			set style histogram clustered gap 1
			set style fill solid 0.85 border -1
			set key outside right top
			set grid ytics
			set xtics rotate by -30 noenhanced
			set key noenhanced
			$2
		EOF
	done
	echo "plots: $out/$1.png, $out/$1.svg"
}

plot speed-vs-kernel "
set title 'fm-bench: throughput relative to kernel mmap with default advice (same run; >1 is faster)' noenhanced
set logscale y
set ylabel 'x kernel mmap (log scale)'
plot for [i=2:$ncols] '$tmp/ratio.dat' using i:xtic(1) title columnheader(i), 1 with lines lc rgb 'black' dt 2 notitle
"

plot speed-vs-kernel-hint "
set title 'fm-bench: throughput relative to kernel mmap with the best madvise hint (same run; >1 is faster)' noenhanced
set logscale y
set ylabel 'x kernel mmap + hint (log scale)'
plot for [i=2:$ncols] '$tmp/ratio-hint.dat' using i:xtic(1) title columnheader(i), 1 with lines lc rgb 'black' dt 2 notitle
"

plot peak-memory "
set title 'fm-bench: peak memory of the contender cgroup (MiB; kernel and pread limited to the budget)' noenhanced
set logscale y
set ylabel 'MiB (log scale)'
plot for [i=2:$ncols] '$tmp/peak.dat' using i:xtic(1) title columnheader(i)
"

if [ -s "$tmp/hit.dat" ]; then
	plot zipf-hit-ratio "
set title 'fm-bench workload 4: hit ratio of the Zipf reads after scans (%)' noenhanced
set yrange [0:100]
set ylabel '%'
plot '$tmp/hit.dat' using 2:xtic(1) title 'probed (mincore / RWF_NOWAIT)', '' using 3 title '1 - major faults / accesses'
"
fi
