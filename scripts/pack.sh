#!/usr/bin/env bash
# Builds pack (github.com/buildpacks/pack), the CNB platform, from the Go module proxy with the ordinary Go
# client, pinned, into ${BERTH_TEST_CACHE:-/var/cache/berth-test}/pack-<version>/pack. The tests that use pack
# as a peer (test/cnb/lifecycle/pack.test.ts) run it against a private dockerd (test/helpers/dockerd.ts).
# Idempotent: a finished binary is left alone. Nothing of pack is committed: the go.mod is written here.
# pack's go.mod carries a `replace`, so `go install …@version` refuses it: a two-line wrapper module requires
# pack and repeats that replace. v0.38.2: a pack whose Docker client (docker/docker v28) still
# negotiates down to Debian's dockerd (API 1.41; packs on the moby v29 client want 1.44), and whose
# checksum the sum database serves (v0.39.x are not in it).
set -euo pipefail
version="${PACK_VERSION:-v0.38.2}"
tool=pack
# shellcheck source=lib/peer.sh
. "$(dirname "$0")/lib/peer.sh"
out="$cache/pack-$version"
built() { [ -x "$out/pack" ]; }
build() {
  cat > go.mod <<MOD
module packtool

go 1.25

require github.com/buildpacks/pack $version

replace github.com/BurntSushi/toml => github.com/BurntSushi/toml v1.3.2
MOD
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/buildpacks/pack"
GO
  "$go" mod tidy
  CGO_ENABLED=0 "$go" build -trimpath -ldflags "-s -w -X github.com/buildpacks/pack/pkg/client.Version=${version#v}" \
    -o stage/pack github.com/buildpacks/pack
}
peer_build "$out" "$out/pack" built build
