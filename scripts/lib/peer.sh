# Shared by the scripts that build Go test peers from the Go module proxy (reference-lifecycle.sh, pack.sh).
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
