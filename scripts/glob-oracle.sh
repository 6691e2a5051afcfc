#!/usr/bin/env bash
# Builds the glob oracle (test/helpers/glob-oracle/main.go: Go's path.Match and filepath.Match, and
# moby/patternmatcher pinned at the version BuildKit v0.26 vendors) with the ordinary Go client into
# ${BERTH_TEST_CACHE:-/var/cache/berth-test}/glob-oracle-<hash>/glob-oracle, the hash that of the program and this
# script, and prints the binary's path. Idempotent: a finished binary is left alone.
set -euo pipefail
version="${PATTERNMATCHER_VERSION:-v0.6.0}"
tool=glob-oracle
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/peer.sh
. "$here/lib/peer.sh"
src="$here/../test/helpers/glob-oracle/main.go"
hash="$(cat "$src" "$0" | sha256sum | cut -c1-16)"
out="$cache/glob-oracle-$version-$hash"
built() { [ -x "$out/glob-oracle" ]; }
build() {
  cat > go.mod <<MOD
module globoracle

go 1.21

require github.com/moby/patternmatcher $version
MOD
  cp "$src" main.go
  "$go" mod tidy
  CGO_ENABLED=0 "$go" build -trimpath -o stage/glob-oracle .
}
peer_build "$out" "$out/glob-oracle" built build
