#!/usr/bin/env bash
# Builds the progress oracle (test/helpers/progress-oracle/main.go: BuildKit's client.SolveStatus decoded with
# unknown fields refused, Go's encoding compared, and the updates replayed through BuildKit's progressui plain
# display) with the ordinary Go client into
# ${BERTH_TEST_CACHE:-/var/cache/berth-test}/progress-oracle-<version>-<hash>/progress-oracle, the hash that of the
# program and this script, and prints the binary's path. Idempotent: a finished binary is left alone.
set -euo pipefail
tool=progress-oracle
# shellcheck source=lib/peer.sh
. "$(dirname "$0")/lib/peer.sh"
go_oracle progress-oracle github.com/moby/buildkit "${BUILDKIT_VERSION:-v0.26.2}"
