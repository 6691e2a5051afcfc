#!/usr/bin/env bash
# Builds the glob oracle (test/helpers/glob-oracle/main.go: Go's path.Match and filepath.Match, and
# moby/patternmatcher pinned at the version BuildKit v0.26 vendors) with the ordinary Go client into
# ${BERTH_TEST_CACHE:-/var/cache/berth-test}/glob-oracle-<version>-<hash>/glob-oracle, the hash that of the program
# and this script, and prints the binary's path. Idempotent: a finished binary is left alone.
set -euo pipefail
tool=glob-oracle
# shellcheck source=lib/peer.sh
. "$(dirname "$0")/lib/peer.sh"
go_oracle glob-oracle github.com/moby/patternmatcher "${PATTERNMATCHER_VERSION:-v0.6.0}"
