#!/usr/bin/env bash
# Runs one unisse-bench invocation against a cluster of unisse nodes and
# against a cluster of Centrifugo nodes, one after the other on this machine:
# each cluster is N nodes sharing one fresh Redis, and keeps the raw JSON
# reports.
#
#   bench/run-cluster.sh NAME [--] MODE [unisse-bench flags…]
#   bench/run-cluster.sh bcast-3x500-10 -- broadcast --conns 1500 --rate 10 --duration 10s
#
# For each server in $SERVERS (default "unisse centrifugo"): start
# redis-server on $REDIS_PORT (default 16390; its own temp dir, no
# persistence), then $NODES nodes (default 3) with bench/config.json plus
# engine.type redis and engine.redis.address, node i on port BASE+i (unisse
# from $PORT_UNISSE, default 18310; Centrifugo from $PORT_CENTRIFUGO, default
# 18410), wait for each node's /health, run
#   unisse-bench MODE --url <every node's uni_sse, comma-separated>
#                --api <node 1's API> --secret … --api-key …
#                --server-pid <every node's pid> --redis-pid <redis pid>
#                [--metrics-url <node 1's /metrics> for unisse] FLAGS… --json --report …
# then stop the nodes and Redis (SIGTERM, then SIGKILL after 15 s). Publishes
# enter through node 1; subscribers are spread round-robin over all nodes, so
# (N−1)/N of them get each publication across Redis. Outputs, under
# bench/results/<YYYY-MM-DD>/ (or $RESULTS_DIR):
#   NAME-<server>.json   the report (bench.Report as JSON; server is the
#                        nodes' sum, nodes[] each one, redis the Redis)
#   NAME-<server>.html   the HTML report (gitignored, see run-compare.sh)
#   machine.txt          cores, CPU, kernel, versions, the commit and whether
#                        the tree was clean, Redis's version
#   raw/NAME-<server>.{log,node<i>.log,redis.log}   (gitignored)
# $CENTRIFUGO_BIN overrides bench/bin/centrifugo (else bench/centrifugo.sh
# installs v6.9.1); $UNISSE_BIN overrides the unisse built from this tree.
# The flags after MODE are passed as given and may override the defaults
# here (later flags win): use --workers and --addrs past ~19k subscribers.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
[ $# -ge 2 ] || { sed -n '2,33p' "$0" >&2; exit 2; }
name=$1; shift
[ "$1" = "--" ] && shift
[ $# -ge 1 ] || { echo "run-cluster.sh: no MODE" >&2; exit 2; }
servers=${SERVERS:-unisse centrifugo}
nodes=${NODES:-3}
redis_port=${REDIS_PORT:-16390}
# BROKER=nats: the nodes share a nats-server ($NATS_SERVER, default
# bin/nats-server: `GOBIN=$PWD/bin go install
# github.com/nats-io/nats-server/v2@v2.15.3`) on $NATS_PORT instead of Redis
# (broker.type nats; the history namespace of bench/config.json is left out,
# since neither server keeps history on NATS). The report's "redis" figures
# are then the NATS server's.
broker=${BROKER:-redis}
nats_port=${NATS_PORT:-14222}
nats_bin=${NATS_SERVER:-$root/bin/nats-server}
port_unisse=${PORT_UNISSE:-18310}
port_centrifugo=${PORT_CENTRIFUGO:-18410}
out=${RESULTS_DIR:-$here/results/$(date +%Y-%m-%d)}
secret=bench-secret
apikey=bench-api-key
case $nodes in '' | *[!0-9]* | 0) echo "NODES=$nodes: want a positive number" >&2; exit 2 ;; esac
mkdir -p "$out/raw" "$here/bin"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/run-cluster.XXXXXX")

# Every process started here, stopped on exit whatever happens.
node_pids=()
redis_pid=
bench_pid=
stop_pid() { # pid: TERM, wait at most 15 s, KILL, reap
	local pid=$1
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
stop_all() {
	local pid
	for pid in "${node_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${node_pids[@]}"; do stop_pid "$pid"; done
	node_pids=()
	if [ -n "$redis_pid" ]; then stop_pid "$redis_pid"; fi
	redis_pid=
}
# A signal first stops unisse-bench (SIGTERM: it stops its workers and
# prints what it has), then exits, which stops the rest. unisse-bench runs
# in the background with `wait`, which a trapped signal interrupts: bash
# would run the trap only once a foreground child ends.
on_signal() {
	if [ -n "$bench_pid" ]; then stop_pid "$bench_pid"; fi
	exit 130
}
trap 'stop_all; rm -rf "$tmp"' EXIT
trap on_signal INT TERM

echo "building unisse-bench (and unisse) into $here/bin" >&2
(cd "$root" && go build -o "$here/bin/unisse-bench" ./cmd/unisse-bench)
unisse_bin=${UNISSE_BIN:-}
case " $servers " in *" unisse "*)
	if [ -z "$unisse_bin" ]; then
		(cd "$root" && go build -o "$here/bin/unisse" ./cmd/unisse)
		unisse_bin=$here/bin/unisse
	fi ;;
esac
centrifugo_bin=${CENTRIFUGO_BIN:-$here/bin/centrifugo}
case " $servers " in *" centrifugo "*)
	[ -n "${CENTRIFUGO_BIN:-}" ] || "$here/centrifugo.sh" >&2
	[ -x "$centrifugo_bin" ] || { echo "no centrifugo at $centrifugo_bin" >&2; exit 1; } ;;
esac

commit=$(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
clean=$(cd "$root" && [ -z "$(git status --porcelain -- . ':(exclude)bench/results' 2>/dev/null)" ] && echo clean || echo modified)
{
	echo "date: $(date -Is)"
	echo "cores: $(nproc)"
	grep -m1 'model name' /proc/cpuinfo || true
	echo "kernel: $(uname -sr)"
	echo "memory: $(free -h | awk '/^Mem:/{print $2}')"
	echo "open files (hard): $(ulimit -Hn)"
	echo "go: $(go version)"
	echo "unisse: $commit ($clean)${UNISSE_BIN:+ binary $UNISSE_BIN}"
	if [ -x "$centrifugo_bin" ]; then
		go version -m "$centrifugo_bin" 2>/dev/null | awk '$1=="mod"{print "centrifugo: " $3}' || true
	fi
	if [ "$broker" = nats ]; then
		echo "nats: $("$nats_bin" --version 2>&1)"
		echo "cluster: $nodes nodes per server on one NATS server"
	else
		echo "redis: $(redis-server --version)"
		echo "cluster: $nodes nodes per server on one Redis"
	fi
} > "$out/machine.txt"

# up URL PID LOG: wait at most 10 s for URL to answer while PID lives.
up() {
	for _ in $(seq 100); do
		curl -fsS "$1" >/dev/null 2>&1 && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	echo "$1 did not come up; see $3" >&2
	return 1
}

start_nats() { # log
	if (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null; then
		echo "something already answers on NATS port $nats_port: set NATS_PORT" >&2; return 1
	fi
	"$nats_bin" -a 127.0.0.1 -p "$nats_port" >"$1" 2>&1 &
	redis_pid=$!
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && return 0
		kill -0 "$redis_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "nats-server did not come up on port $nats_port; see $1" >&2
	return 1
}

start_redis() { # log
	[ "$broker" = nats ] && { start_nats "$@"; return; }
	if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
		echo "something already answers on Redis port $redis_port: set REDIS_PORT" >&2; return 1
	fi
	mkdir -p "$tmp/redis"
	redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$tmp/redis" --save '' --appendonly no \
		--maxclients 10000 >"$1" 2>&1 &
	redis_pid=$!
	for _ in $(seq 100); do
		[ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && return 0
		kill -0 "$redis_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "redis-server did not come up on port $redis_port; see $1" >&2
	return 1
}

# The cluster's config: bench/config.json on Redis.
case $broker in
redis)
	jq --arg addr "redis://127.0.0.1:$redis_port" '. + {engine: {type: "redis", redis: {address: [$addr]}}}' \
		"$here/config.json" > "$tmp/config.json" ;;
nats)
	jq --arg url "nats://127.0.0.1:$nats_port" '. + {broker: {enabled: true, type: "nats", nats: {url: $url}}}
		| .channel.namespaces |= map(select((.history_size // 0) == 0))' \
		"$here/config.json" > "$tmp/config.json" ;;
*) echo "BROKER=$broker: want redis or nats" >&2; exit 2 ;;
esac

mode=$1; shift
status=0
for server in $servers; do
	case $server in
	unisse) base=$port_unisse ;;
	centrifugo) base=$port_centrifugo ;;
	*) echo "unknown server $server" >&2; exit 2 ;;
	esac
	log=$out/raw/$name-$server
	if ! start_redis "$log.redis.log"; then stop_all; status=1; continue; fi
	urls= pids= ok=1
	for i in $(seq "$nodes"); do
		port=$((base + i - 1))
		if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
			echo "something already answers on port $port: set PORT_${server^^}" >&2; ok=; break
		fi
		case $server in
		unisse) "$unisse_bin" -c "$tmp/config.json" --http_server.port "$port" >"$log.node$i.log" 2>&1 & ;;
		centrifugo) env -u CENTRIFUGO_BIN "$centrifugo_bin" --config "$tmp/config.json" --http_server.port "$port" >"$log.node$i.log" 2>&1 & ;;
		esac
		node_pids+=($!)
		up "http://127.0.0.1:$port/health" "$!" "$log.node$i.log" || { ok=; break; }
		urls+=${urls:+,}http://127.0.0.1:$port/connection/uni_sse
		pids+=${pids:+,}$!
	done
	if [ -z "$ok" ]; then stop_all; status=1; continue; fi
	extra=()
	[ "$server" = unisse ] && extra=(--metrics-url "http://127.0.0.1:$base/metrics")
	echo "== $server: $nodes nodes (pids $pids, ports $base…$((base + nodes - 1))), $broker pid $redis_pid: unisse-bench $mode $*" >&2
	"$here/bin/unisse-bench" "$mode" \
		--url "$urls" --api "http://127.0.0.1:$base/api" \
		--secret "$secret" --api-key "$apikey" --server-pid "$pids" --redis-pid "$redis_pid" "${extra[@]}" \
		"$@" --json --report "$out/$name-$server.html" \
		>"$out/$name-$server.json" 2> >(tee "$log.log" >&2) &
	bench_pid=$!
	rc=0
	wait "$bench_pid" || rc=$?
	bench_pid=
	if [ "$rc" -ne 0 ]; then echo "unisse-bench against $server failed (exit $rc)" >&2; status=1; fi
	stop_all
done
echo "results in $out" >&2
exit $status
