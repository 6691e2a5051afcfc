#!/usr/bin/env bash
# Builds the reference CNB lifecycle (github.com/buildpacks/lifecycle) from the Go module proxy with the
# ordinary Go client, into the layout of its release tarball:
#   ${BERTH_TEST_CACHE:-/var/cache/berth-test}/lifecycle-<version>/{lifecycle,launcher,<phase> -> lifecycle,lifecycle.toml}
# The differential tests (test/cnb/reference/) mount that folder at /cnb/lifecycle. Idempotent: a finished
# folder is left alone. Nothing of the lifecycle is committed: the go.mod is written here, in a temp folder.
# `go install …@version` is not used because the proxy answers exact versions only (no version list).
set -euo pipefail
version="${LIFECYCLE_VERSION:-v0.21.0}"
tool=reference-lifecycle
# shellcheck source=lib/peer.sh
. "$(dirname "$0")/lib/peer.sh"
out="$cache/lifecycle-$version"
built() { [ -x "$out/lifecycle" ] && [ -x "$out/launcher" ] && [ -f "$out/lifecycle.toml" ]; }
build() {
  printf 'module lctool\n\ngo 1.24\n\nrequire github.com/buildpacks/lifecycle %s\n' "$version" > go.mod
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "github.com/buildpacks/lifecycle/cmd/launcher"
	_ "github.com/buildpacks/lifecycle/cmd/lifecycle"
)
GO
  "$go" mod tidy
  CGO_ENABLED=0 "$go" build -trimpath -ldflags "-s -w -X github.com/buildpacks/lifecycle/cmd.Version=${version#v}" \
    -o stage/ github.com/buildpacks/lifecycle/cmd/lifecycle github.com/buildpacks/lifecycle/cmd/launcher
  for phase in detector analyzer restorer builder exporter rebaser creator extender; do
    ln -s lifecycle "stage/$phase"
  done
  cat > stage/lifecycle.toml <<TOML
[apis]
[apis.buildpack]
  deprecated = []
  supported = ["0.7", "0.8", "0.9", "0.10", "0.11", "0.12"]
[apis.platform]
  deprecated = []
  supported = ["0.7", "0.8", "0.9", "0.10", "0.11", "0.12", "0.13", "0.14"]

[lifecycle]
  version = "${version#v}"
TOML
}
peer_build "$out" "$out" built build
