#!/bin/sh
# Regenerates ../golden from centrifuge's and Centrifugo's own code. Needs
# the two modules in the Go module cache (go mod download fetches them);
# runs offline once they are there.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../golden"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd /tmp
cf=$(go mod download -json github.com/centrifugal/centrifuge@v0.38.1-0.20260711082514-84d40cc4dbf6 | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
cg=$(go mod download -json github.com/centrifugal/centrifugo/v6@v6.9.1 | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
cp -r "$cf" "$work/centrifuge"
cp -r "$cg" "$work/centrifugo"
chmod -R u+w "$work"
# Inside each module's tree, so that its internal packages may be imported.
mkdir -p "$work/centrifuge/internal/goldengen" "$work/centrifugo/internal/goldengen"
cp "$here/control_gen.go.txt" "$work/centrifuge/internal/goldengen/main.go"
cp "$here/channels_gen.go.txt" "$work/centrifugo/internal/goldengen/main.go"
mkdir -p "$out"
(cd "$work/centrifuge" && GOFLAGS=-mod=mod go run ./internal/goldengen "$out")
(cd "$work/centrifugo" && GOFLAGS=-mod=mod go run ./internal/goldengen "$out")
