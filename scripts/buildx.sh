#!/usr/bin/env bash
# Builds docker buildx (the peer that reads berth's provenance attestations back: `buildx imagetools inspect
# --format '{{json .Provenance}}'`) with the ordinary Go client into
# ${BERTH_TEST_CACHE:-/var/cache/berth-test}/buildx-<version>/buildx and prints the binary's path. `go install
# …/cmd/buildx@VERSION` refuses the module (its go.mod has exclude directives), so the module's own source is
# built as the main module. Idempotent: a finished binary is left alone.
set -euo pipefail
version="${BUILDX_VERSION:-v0.30.1}"
tool=buildx
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/peer.sh
. "$here/lib/peer.sh"
out="$cache/buildx-$version"
built() { [ -x "$out/buildx" ]; }
build() {
  dir="$("$go" mod download -json "github.com/docker/buildx@$version" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')"
  cp -r "$dir" src
  chmod -R u+w src
  (cd src && CGO_ENABLED=0 "$go" build -trimpath -buildvcs=false -o ../stage/buildx ./cmd/buildx)
}
peer_build "$out" "$out/buildx" built build
