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
cache="${BERTH_TEST_CACHE:-/var/cache/berth-test}"
if [ -z "${BERTH_TEST_CACHE:-}" ] && ! { mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ]; }; then
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/berth-test"
fi
out="$cache/dockerfile-frontend-$version"
if [ -x "$out/dockerfile-frontend" ]; then echo "$out"; exit 0; fi
go="${GO:-}"
if [ -z "$go" ]; then
  if [ -x /usr/local/go/bin/go ]; then go=/usr/local/go/bin/go; else go="$(command -v go)"; fi
fi
mkdir -p "$cache"
exec 9>"$cache/.dockerfile-frontend-$version.lock"
flock 9
if [ -x "$out/dockerfile-frontend" ]; then echo "$out"; exit 0; fi
work="$(mktemp -d "$cache/.dockerfile-frontend-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
printf 'module dftool\n\ngo 1.21\n\nrequire github.com/moby/buildkit %s\n' "$version" > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/moby/buildkit/frontend/dockerfile/cmd/dockerfile-frontend"
GO
export GOFLAGS=-mod=mod GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
"$go" mod tidy >&2
mkdir -p stage
CGO_ENABLED=0 "$go" build -trimpath -ldflags "-s -w" -o stage/ github.com/moby/buildkit/frontend/dockerfile/cmd/dockerfile-frontend >&2
rm -rf "$out"
mv stage "$out"
echo "$out"
