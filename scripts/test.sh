#!/usr/bin/env bash
# The test suite, from a fresh clone, as root: installs what it needs, builds, starts zfs-fuse with a
# file-backed pool, and runs every test under test/ with tap (both store drivers, real namespaces).
# When a test fails, its `not ok` lines and their diagnostics are printed again at the very end, so
# the tail of the log (all a CI summary may keep) names what failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
JETPACK_TEST_ZPOOL=$(bash scripts/zpool.sh)
export JETPACK_TEST_ZPOOL
rm -rf .tap/test-results
rc=0
pnpm exec tap "$@" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "# ---- failures (from .tap/test-results) ----"
  find .tap/test-results -name '*.tap' -print0 2>/dev/null | sort -z |
    while IFS= read -r -d '' f; do
      awk -v file="${f#.tap/test-results/}" '
        /^[[:space:]]*not ok / { print "# " file ": " $0; yaml = 0; want = 1; next }
        want && /^[[:space:]]*---$/ { yaml = 1; print; next }
        yaml { print; if ($0 ~ /^[[:space:]]*\.\.\.$/) { yaml = 0; want = 0 }; next }
        { want = 0 }
      ' "$f"
    done | head -n 400
fi
exit "$rc"
