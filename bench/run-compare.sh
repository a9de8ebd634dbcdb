#!/usr/bin/env bash
# Runs one unisse-bench invocation against unisse and against Centrifugo, one
# after the other on this machine, each on a freshly started server, and keeps
# the raw JSON reports.
#
#   bench/run-compare.sh NAME [--] MODE [unisse-bench flags…]
#   bench/run-compare.sh broadcast-1k-10 -- broadcast --conns 1000 --rate 10 --duration 20s
#
# For each server in $SERVERS (default "unisse centrifugo"): start it with
# bench/config.json on its own port, wait for /health, run
#   unisse-bench MODE --url … --api … --secret … --api-key … --server-pid PID
#                [--metrics-url … for unisse] FLAGS… --json --report …
# then stop the server (SIGTERM) and wait for it. Outputs, under
# bench/results/<YYYY-MM-DD>/ (or $RESULTS_DIR):
#   NAME-<server>.json   the report (bench.Report as JSON)
#   NAME-<server>.html   the HTML report with charts (gitignored: rendered
#                        again from the JSON by unisse-bench render)
#   machine.txt          cores, CPU, kernel, versions
#   raw/NAME-<server>.{log,server.log}   summary+progress, server output (gitignored)
# The flags after MODE are passed as given and may override the defaults
# here (later flags win).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
[ $# -ge 2 ] || { sed -n '2,20p' "$0" >&2; exit 2; }
name=$1; shift
[ "$1" = "--" ] && shift
servers=${SERVERS:-unisse centrifugo}
port_unisse=${PORT_UNISSE:-18300}
port_centrifugo=${PORT_CENTRIFUGO:-18400}
out=${RESULTS_DIR:-$here/results/$(date +%Y-%m-%d)}
config=$here/config.json
secret=bench-secret
apikey=bench-api-key
mkdir -p "$out/raw" "$here/bin"

echo "building unisse and unisse-bench into $here/bin" >&2
(cd "$root" && go build -o "$here/bin/unisse" ./cmd/unisse && go build -o "$here/bin/unisse-bench" ./cmd/unisse-bench)
case " $servers " in *" centrifugo "*) "$here/centrifugo.sh" >&2 ;; esac

{
	echo "date: $(date -Is)"
	echo "cores: $(nproc)"
	grep -m1 'model name' /proc/cpuinfo || true
	echo "kernel: $(uname -sr)"
	echo "memory: $(free -h | awk '/^Mem:/{print $2}')"
	echo "open files (hard): $(ulimit -Hn)"
	echo "go: $(go version)"
	echo "unisse: $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$root" && git diff --quiet -- . ':(exclude)bench/results' 2>/dev/null || echo ' (modified)')"
	[ -x "$here/bin/centrifugo" ] && go version -m "$here/bin/centrifugo" | awk '$1=="mod"{print "centrifugo: " $3}'
} > "$out/machine.txt"

server_pid=
stop_server() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid"
		for _ in $(seq 150); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	server_pid=
}
trap stop_server EXIT

status=0
for server in $servers; do
	case $server in
	unisse)
		port=$port_unisse
		"$here/bin/unisse" -c "$config" --http_server.port "$port" >"$out/raw/$name-$server.server.log" 2>&1 &
		extra=(--metrics-url "http://127.0.0.1:$port/metrics")
		;;
	centrifugo)
		port=$port_centrifugo
		"$here/bin/centrifugo" --config "$config" --http_server.port "$port" >"$out/raw/$name-$server.server.log" 2>&1 &
		extra=()
		;;
	*) echo "unknown server $server" >&2; exit 2 ;;
	esac
	server_pid=$!
	up=
	for _ in $(seq 100); do
		if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then up=1; break; fi
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$up" ]; then
		echo "$server did not come up on port $port; see $out/raw/$name-$server.server.log" >&2
		stop_server; status=1; continue
	fi
	echo "== $server (pid $server_pid, port $port): unisse-bench $*" >&2
	mode=$1; shift_args=("${@:2}")
	if "$here/bin/unisse-bench" "$mode" \
		--url "http://127.0.0.1:$port/connection/uni_sse" --api "http://127.0.0.1:$port/api" \
		--secret "$secret" --api-key "$apikey" --server-pid "$server_pid" "${extra[@]}" \
		"${shift_args[@]}" --json --report "$out/$name-$server.html" \
		>"$out/$name-$server.json" 2> >(tee "$out/raw/$name-$server.log" >&2); then
		:
	else
		echo "unisse-bench against $server failed (exit $?)" >&2; status=1
	fi
	stop_server
done
echo "results in $out" >&2
exit $status
