#!/usr/bin/env bash
# Builds the provenance oracle (test/helpers/provenance-oracle/main.go: BuildKit's SLSA provenance and in-toto
# types and its purl.RefToPURL, at the BuildKit version berth follows) with the ordinary Go client into
# ${BERTH_TEST_CACHE:-/var/cache/berth-test}/provenance-oracle-<version>-<hash>/provenance-oracle, the hash that of
# the program and this script, and prints the binary's path. Idempotent: a finished binary is left alone.
set -euo pipefail
version="${BUILDKIT_VERSION:-v0.26.2}"
tool=provenance-oracle
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/peer.sh
. "$here/lib/peer.sh"
src="$here/../test/helpers/provenance-oracle/main.go"
hash="$(cat "$src" "$0" | sha256sum | cut -c1-16)"
out="$cache/provenance-oracle-$version-$hash"
built() { [ -x "$out/provenance-oracle" ]; }
build() {
  cat > go.mod <<MOD
module provenanceoracle

go 1.24

require github.com/moby/buildkit $version
MOD
  cp "$src" main.go
  "$go" mod tidy
  CGO_ENABLED=0 "$go" build -trimpath -o stage/provenance-oracle .
}
peer_build "$out" "$out/provenance-oracle" built build
