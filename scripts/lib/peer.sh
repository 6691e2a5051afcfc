# Shared by the scripts that build Go test peers from the Go module proxy (reference-lifecycle.sh, pack.sh,
# dockerfile-frontend.sh, glob-oracle.sh, progress-oracle.sh).
# Sourced: sets $cache, the test cache (${BERTH_TEST_CACHE:-/var/cache/berth-test}; the user's own when that is
# not writable and BERTH_TEST_CACHE is unset), and defines find_go, which sets $go to a Go of 1.21 or later
# (which fetches the toolchain a go.mod asks for itself): $GO, the machine's, /usr/local/go; else the Go
# toolchain module golang.org/toolchain from the module proxy (Debian 12's golang-go is 1.19) into $cache.
# $tool names the script in messages.
cache="${BERTH_TEST_CACHE:-/var/cache/berth-test}"
if [ -z "${BERTH_TEST_CACHE:-}" ] && ! { mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ]; }; then
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/berth-test" # not root: the user's cache
fi
find_go() {
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
        echo "${tool}: no Go >= 1.21 here and GOPROXY names no module proxy to fetch one from" >&2
        echo "hint: install Go >= 1.21 (or set GO=/path/to/go), or set GOPROXY" >&2
        exit 1
      fi
      mkdir -p "$cache"
      tmpzip="$(mktemp "$cache/.toolchain.XXXXXX")"
      echo "${tool}: fetching golang.org/toolchain $toolchain from $proxy" >&2
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
}

# peer_build OUT PRINT DONE BUILD: build a peer once into OUT and print PRINT (the path its callers use). DONE is
# a function that succeeds when OUT is complete; it is asked before and again under a lock (one build at a time:
# test files may ask at once, and the second finds OUT made). BUILD runs in a fresh temp folder with $go found
# and GOFLAGS=-mod=mod, its output on stderr, and leaves the result in ./stage, which then becomes OUT.
peer_build() {
  local out="$1" print="$2" done="$3" build="$4" name
  name="$(basename "$out")"
  if "$done"; then echo "$print"; return 0; fi
  find_go
  mkdir -p "$cache"
  exec 9>"$cache/.$name.lock"
  flock 9
  if "$done"; then echo "$print"; return 0; fi
  work="$(mktemp -d "$cache/.$name-build.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  cd "$work"
  export GOFLAGS=-mod=mod GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
  mkdir -p stage
  "$build" >&2
  rm -rf "$out"
  mv stage "$out"
  echo "$print"
}

# go_oracle NAME MODULE VERSION: build the test oracle test/helpers/NAME/main.go, a program needing MODULE at
# VERSION, once into $cache/NAME-VERSION-<hash>/NAME (the hash that of the program and the calling script) and
# print the binary's path.
go_oracle() {
  oracle_name="$1" oracle_module="$2" oracle_version="$3"
  oracle_src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/test/helpers/$1/main.go"
  oracle_out="$cache/$1-$3-$(cat "$oracle_src" "$0" | sha256sum | cut -c1-16)"
  oracle_built() { [ -x "$oracle_out/$oracle_name" ]; }
  oracle_build() {
    printf 'module %s\n\ngo 1.21\n\nrequire %s %s\n' "${oracle_name//-/}" "$oracle_module" "$oracle_version" > go.mod
    cp "$oracle_src" main.go
    "$go" mod tidy
    CGO_ENABLED=0 "$go" build -trimpath -o "stage/$oracle_name" .
  }
  peer_build "$oracle_out" "$oracle_out/$oracle_name" oracle_built oracle_build
}
