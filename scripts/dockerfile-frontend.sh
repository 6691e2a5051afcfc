#!/usr/bin/env bash
# Builds BuildKit's Dockerfile frontend (github.com/moby/buildkit/frontend/dockerfile/cmd/dockerfile-frontend)
# from the Go module proxy with the ordinary Go client, into
#   ${BERTH_TEST_CACHE:-/var/cache/berth-test}/dockerfile-frontend-<version>/dockerfile-frontend
# Debian's docker.io engine (20.10) has BuildKit 0.8 inside, whose built-in frontend is Dockerfile 1.2 (no
# heredocs, no COPY --link, no RUN --network); test/dockerfile/buildkit/ loads this binary as a frontend image
# into the private engine and names it with `# syntax=`, so the engine builds with a current Dockerfile frontend.
# Idempotent: a finished folder is left alone. Nothing is committed: the go.mod is written in a temp folder.
set -euo pipefail
version="${DOCKERFILE_FRONTEND_VERSION:-v0.26.2}"
tool=dockerfile-frontend
# shellcheck source=lib/peer.sh
. "$(dirname "$0")/lib/peer.sh"
out="$cache/dockerfile-frontend-$version"
built() { [ -x "$out/dockerfile-frontend" ]; }
build() {
  printf 'module dftool\n\ngo 1.21\n\nrequire github.com/moby/buildkit %s\n' "$version" > go.mod
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/moby/buildkit/frontend/dockerfile/cmd/dockerfile-frontend"
GO
  "$go" mod tidy
  CGO_ENABLED=0 "$go" build -trimpath -ldflags "-s -w" -o stage/ github.com/moby/buildkit/frontend/dockerfile/cmd/dockerfile-frontend
}
peer_build "$out" "$out" built build
