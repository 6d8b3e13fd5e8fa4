#!/usr/bin/env bash
# The test suite, from a fresh clone, as root: installs what it needs, builds, starts zfs-fuse with a
# file-backed pool, and runs every test under test/ with tap (both store drivers, real namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
JETPACK_TEST_ZPOOL=$(bash scripts/zpool.sh)
export JETPACK_TEST_ZPOOL
exec pnpm exec tap "$@"
