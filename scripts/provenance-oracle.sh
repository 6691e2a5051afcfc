#!/usr/bin/env bash
# Builds the provenance oracle (test/helpers/provenance-oracle/main.go: BuildKit's SLSA provenance and in-toto
# types and its purl.RefToPURL, at the BuildKit version berth follows) with the ordinary Go client into
# ${BERTH_TEST_CACHE:-/var/cache/berth-test}/provenance-oracle-<version>-<hash>/provenance-oracle, the hash that of
# the program and this script, and prints the binary's path. Idempotent: a finished binary is left alone.
set -euo pipefail
tool=provenance-oracle
# shellcheck source=lib/peer.sh
. "$(dirname "$0")/lib/peer.sh"
go_oracle provenance-oracle github.com/moby/buildkit "${BUILDKIT_VERSION:-v0.26.2}"
