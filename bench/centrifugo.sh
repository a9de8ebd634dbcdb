#!/usr/bin/env bash
# Installs Centrifugo (v6.9.1 unless CENTRIFUGO_VERSION says otherwise) into
# bench/bin/centrifugo with `go install`, for side-by-side runs with unisse
# (bench/run-compare.sh). bench/config.json serves both servers: it uses only
# Centrifugo v6 keys (uni_sse on, an HMAC secret, an API key, and a "hist"
# namespace with history and force_recovery for recovery mode).
#
#   bench/centrifugo.sh            # install if missing or another version
#   bench/centrifugo.sh --force    # reinstall
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=${CENTRIFUGO_VERSION:-v6.9.1}
bin="$here/bin/centrifugo"

installed() {
	# go install builds report version 0.0.0; the module version is in the
	# binary's build info.
	[ -x "$bin" ] && go version -m "$bin" 2>/dev/null |
		grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/centrifugal/centrifugo/v6[[:space:]]+$version([[:space:]]|$)"
}

if [ "${1:-}" != "--force" ] && installed; then
	echo "centrifugo $version already in $bin"
	exit 0
fi
mkdir -p "$here/bin"
echo "installing centrifugo $version into $here/bin (go install; takes a few minutes the first time)" >&2
GOBIN="$here/bin" GOFLAGS=-buildvcs=false go install "github.com/centrifugal/centrifugo/v6@$version"
installed || { echo "centrifugo.sh: $bin is not $version after install" >&2; exit 1; }
echo "centrifugo $version installed: $bin"
