#!/usr/bin/env bash
# Runs the browser example on this machine: builds unisse and the page
# server, writes a unisse config that lets the page's origin in, starts both,
# and prints the URL to open and the curl commands to publish and to
# disconnect. Ctrl-C stops both. `make example` runs this.
#
# Environment: UNISSE_PORT (8000), PAGE_PORT (3000), EXAMPLE_DIR (bin/example:
# config, logs), GO (go).
set -euo pipefail
cd "$(dirname "$0")/../.."

GO=${GO:-go}
UNISSE_PORT=${UNISSE_PORT:-8000}
PAGE_PORT=${PAGE_PORT:-3000}
dir=${EXAMPLE_DIR:-bin/example}
mkdir -p "$dir"

"$GO" build -o bin/unisse ./cmd/unisse
"$GO" build -o bin/browser-example ./examples/browser

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
secret=$(random_hex 32)
apikey=$(random_hex 16)
config="$dir/config.json"
# The page (http://127.0.0.1:PAGE_PORT) is another origin than unisse:
# without it in client.allowed_origins unisse sends no CORS headers and the
# browser refuses the stream. A short ping interval makes pings visible.
cat >"$config" <<EOF
{
  "http_server": {"port": $UNISSE_PORT},
  "client": {
    "token": {"hmac_secret_key": "$secret"},
    "allowed_origins": ["http://127.0.0.1:$PAGE_PORT", "http://localhost:$PAGE_PORT"],
    "ping_interval": "10s"
  },
  "http_api": {"key": "$apikey"},
  "uni_sse": {"enabled": true},
  "health": {"enabled": true}
}
EOF
chmod 600 "$config"

# The token, signed with the config's secret as the application's backend
# would for its user demo.
token=$(bin/unisse gentoken -c "$config" -u demo --channels news --ttl 24h)
echo "token: from bin/unisse gentoken (user demo, channel news, 24h)"
page_args=(-listen "127.0.0.1:$PAGE_PORT" -unisse "http://127.0.0.1:$UNISSE_PORT" -token "$token")

pids=()
stop() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

bin/unisse -c "$config" >"$dir/unisse.log" 2>&1 &
pids+=($!)
for i in $(seq 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$UNISSE_PORT") 2>/dev/null; then break; fi
	if ! kill -0 "${pids[0]}" 2>/dev/null || [ "$i" = 100 ]; then
		echo "unisse did not start; its log ($dir/unisse.log):" >&2
		cat "$dir/unisse.log" >&2
		exit 1
	fi
	sleep 0.1
done

bin/browser-example "${page_args[@]}" >"$dir/page.log" 2>&1 &
pids+=($!)

api="http://127.0.0.1:$UNISSE_PORT/api"
cat <<EOF

unisse on http://127.0.0.1:$UNISSE_PORT (config $config, log $dir/unisse.log)

Open   http://127.0.0.1:$PAGE_PORT/

Publish to channel news:
  curl -H 'X-API-Key: $apikey' -d '{"channel":"news","data":{"text":"hello"}}' $api/publish
Disconnect user demo with a reconnect code (the page reconnects):
  curl -H 'X-API-Key: $apikey' -d '{"user":"demo","disconnect":{"code":3011,"reason":"force reconnect"}}' $api/disconnect
Disconnect with a terminal code (the page stops):
  curl -H 'X-API-Key: $apikey' -d '{"user":"demo"}' $api/disconnect

Ctrl-C stops both.
EOF
wait -n "${pids[@]}" || true
echo "a process ended; logs in $dir/" >&2
