#!/usr/bin/env bash
# Builds the lint oracle (test/helpers/lint-oracle/main.go: BuildKit's Dockerfile build checks, at the BuildKit
# version berth follows) with the ordinary Go client into
# ${BERTH_TEST_CACHE:-/var/cache/berth-test}/lint-oracle-<version>-<hash>/lint-oracle, the hash that of the
# program and this script, and prints the binary's path. Idempotent: a finished binary is left alone.
set -euo pipefail
tool=lint-oracle
# shellcheck source=lib/peer.sh
. "$(dirname "$0")/lib/peer.sh"
go_oracle lint-oracle github.com/moby/buildkit "${BUILDKIT_VERSION:-v0.26.2}"
