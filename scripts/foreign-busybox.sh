#!/usr/bin/env bash
# Fetches Debian's busybox-static for a foreign architecture (default arm64) into
# ${BERTH_TEST_CACHE:-/var/cache/berth-test}/busybox-static-<arch>/busybox and prints that path: the base of the
# multi-platform tests' arm64 images (test/dockerfile/platforms.test.ts). The machine's own apt sources are
# used through a private apt state (its own lists and cache in a temp folder, the architecture given as an
# option), so the host's apt and dpkg configuration are left as they are. Idempotent.
set -euo pipefail
arch="${1:-arm64}"
tool=foreign-busybox
# shellcheck source=lib/peer.sh
. "$(dirname "$0")/lib/peer.sh"
out="$cache/busybox-static-$arch"
if [ -x "$out/busybox" ]; then
  echo "$out/busybox"
  exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.busybox-static-$arch.lock"
flock 9
if [ -x "$out/busybox" ]; then echo "$out/busybox"; exit 0; fi
work="$(mktemp -d "$cache/.busybox-$arch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/state/lists/partial" "$work/cache/archives/partial" "$work/deb"
touch "$work/status"
chmod -R a+rwX "$work"
apt=(-q -o "Dir::State=$work/state" -o "Dir::State::status=$work/status" -o "Dir::Cache=$work/cache"
  -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch" -o Debug::NoLocking=1)
apt-get "${apt[@]}" update >&2
(cd "$work/deb" && apt-get "${apt[@]}" download "busybox-static:$arch" >&2)
dpkg-deb -x "$work"/deb/busybox-static_*.deb "$work/x"
mkdir -p "$work/stage"
cp "$work/x/bin/busybox" "$work/stage/busybox"
rm -rf "$out"
mv "$work/stage" "$out"
echo "$out/busybox"
