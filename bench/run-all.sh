#!/usr/bin/env bash
# Runs the comparison matrix behind BENCHMARKS.md: every scenario against
# unisse and Centrifugo v6.9.1, one at a time, each on a fresh server
# (bench/run-compare.sh), 100-byte payloads. About 30 minutes on 2 cores.
#
#   bench/run-all.sh            # everything
#   ONLY=idle bench/run-all.sh  # scenarios whose name starts with "idle"
#
# Results: bench/results/<date>/<scenario>-<server>.{json,html} (the .html is
# gitignored; unisse-bench render rebuilds it from the .json); render the
# tables with bench/tables.py bench/results/<date>.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ulimit -n "$(ulimit -Hn)"

run() { # name, then mode and flags
	local name=$1; shift
	case "$name" in "${ONLY:-}"*) ;; *) return ;; esac
	"$here/run-compare.sh" "$name" -- "$@" --size 100 || echo "scenario $name failed" >&2
}

# Idle connections: memory per connection and CPU per connect.
run idle-1k   idle --conns 1000  --connect-rate 1000 --duration 5s
run idle-10k  idle --conns 10000 --connect-rate 2000 --duration 5s
run idle-19k  idle --conns 19000 --connect-rate 2000 --duration 5s

# One channel, N subscribers, 10, 100 and as many publishes/s as the server
# takes (4 publishers).
for n in 1000 10000 19000; do
	k=$((n / 1000))k
	run "bcast-$k-10"  broadcast --conns "$n" --rate 10  --duration 15s
	run "bcast-$k-100" broadcast --conns "$n" --rate 100 --duration 15s
	run "bcast-$k-max" broadcast --conns "$n" --rate max --publishers 4 --duration 15s
done

# 10k subscribers on 10k channels, one each; publishes spread over them.
run channels-10k-10k channels --conns 10000 --channels 10000 --rate max --publishers 4 --duration 15s
run channels-10k-10k-bcast channels --conns 10000 --channels 10000 --api-method broadcast --group-size 100 --rate max --publishers 4 --duration 15s

# Churn: connects and disconnects during a broadcast.
run churn-5k churn --conns 5000 --churn-rate 200 --rate 20 --duration 20s

# Recovery storm: 10k connects recovering 300 publications each while 1k live
# subscribers are measured.
run recovery-10k-300 recovery --conns 1000 --rate 50 --recover-conns 10000 --history 300
