#!/usr/bin/env bash
# Builds the reference CNB lifecycle (github.com/buildpacks/lifecycle) from the Go module proxy with the
# ordinary Go client, into the layout of its release tarball:
#   ${BERTH_TEST_CACHE:-/var/cache/berth-test}/lifecycle-<version>/{lifecycle,launcher,<phase> -> lifecycle,lifecycle.toml}
# The differential tests (test/cnb/reference/) mount that folder at /cnb/lifecycle. Idempotent: a finished
# folder is left alone. Nothing of the lifecycle is committed: the go.mod is written here, in a temp folder.
# `go install …@version` is not used because the proxy answers exact versions only (no version list).
set -euo pipefail
version="${LIFECYCLE_VERSION:-v0.21.0}"
cache="${BERTH_TEST_CACHE:-/var/cache/berth-test}"
if [ -z "${BERTH_TEST_CACHE:-}" ] && ! { mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ]; }; then
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/berth-test" # not root: the user's cache
fi
out="$cache/lifecycle-$version"
if [ -x "$out/lifecycle" ] && [ -x "$out/launcher" ] && [ -f "$out/lifecycle.toml" ]; then
  echo "$out"
  exit 0
fi
# A Go of 1.21 or later (which fetches the toolchain the lifecycle's go.mod asks for itself); else the Go
# toolchain module golang.org/toolchain from the module proxy (Debian 12's golang-go is 1.19).
go_ok() { "$1" env GOVERSION 2>/dev/null | awk -F'[go.]' '{ ok = ($3 > 1 || ($3 == 1 && $4 >= 21)) } END { exit !ok }'; }
go="${GO:-}"
if [ -z "$go" ]; then
  for candidate in "$(command -v go || true)" /usr/local/go/bin/go; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && go_ok "$candidate"; then go="$candidate"; break; fi
  done
fi
if [ -z "$go" ]; then
  toolchain="${GO_TOOLCHAIN:-go1.25.5}"
  case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch="$(uname -m)" ;; esac
  tdir="$cache/$toolchain.linux-$arch"
  if [ ! -x "$tdir/bin/go" ]; then
    # The proxy is the machine's own setting (GOPROXY); berth's files name no registry.
    proxy="${GOPROXY:-}"; proxy="${proxy%%,*}"
    if [ -z "$proxy" ] || [ "$proxy" = direct ] || [ "$proxy" = off ]; then
      echo "reference-lifecycle: no Go >= 1.21 here and GOPROXY names no module proxy to fetch one from" >&2
      echo "hint: install Go >= 1.21 (or set GO=/path/to/go), or set GOPROXY" >&2
      exit 1
    fi
    mkdir -p "$cache"
    tmpzip="$(mktemp "$cache/.toolchain.XXXXXX")"
    echo "reference-lifecycle: fetching golang.org/toolchain $toolchain from $proxy" >&2
    curl -fsSL "$proxy/golang.org/toolchain/@v/v0.0.1-$toolchain.linux-$arch.zip" -o "$tmpzip"
    rm -rf "$tdir.tmp" && mkdir -p "$tdir.tmp"
    (cd "$tdir.tmp" && busybox unzip -q "$tmpzip" 2>/dev/null || unzip -q "$tmpzip")
    rm -f "$tmpzip"
    mv "$tdir.tmp/golang.org/toolchain@v0.0.1-$toolchain.linux-$arch" "$tdir"
    chmod +x "$tdir/bin/"* "$tdir/pkg/tool/"*/* 2>/dev/null || true
    rm -rf "$tdir.tmp"
  fi
  go="$tdir/bin/go"
fi
mkdir -p "$cache"
# One build at a time (test files may ask at once); the second finds the folder made.
exec 9>"$cache/.lifecycle-$version.lock"
flock 9
if [ -x "$out/lifecycle" ] && [ -x "$out/launcher" ] && [ -f "$out/lifecycle.toml" ]; then echo "$out"; exit 0; fi
work="$(mktemp -d "$cache/.lifecycle-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
printf 'module lctool\n\ngo 1.24\n\nrequire github.com/buildpacks/lifecycle %s\n' "$version" > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "github.com/buildpacks/lifecycle/cmd/launcher"
	_ "github.com/buildpacks/lifecycle/cmd/lifecycle"
)
GO
export GOFLAGS=-mod=mod GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
"$go" mod tidy >&2
mkdir -p stage
CGO_ENABLED=0 "$go" build -trimpath -ldflags "-s -w -X github.com/buildpacks/lifecycle/cmd.Version=${version#v}" \
  -o stage/ github.com/buildpacks/lifecycle/cmd/lifecycle github.com/buildpacks/lifecycle/cmd/launcher >&2
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
rm -rf "$out"
mv stage "$out"
echo "$out"
