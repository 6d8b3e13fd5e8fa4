#!/usr/bin/env bash
# The benchmark (issue 5), from a fresh clone, as root: installs what Jetpack needs and builds it
# (scripts/setup.sh, like scripts/test.sh), installs the bare baselines of the run measurement
# (bubblewrap, systemd-container), starts zfs-fuse with the file-backed test pool, and runs
# bench/bench.mjs. The JSON result is the only thing on stdout; progress and the human summary go
# to stderr. Environment knobs (BENCH_RUNS, BENCH_ONLY, ...): bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2

BENCH_APT_PACKAGES=(bubblewrap systemd-container)
missing=()
for p in "${BENCH_APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench.sh: installing ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

JETPACK_BENCH_ZPOOL=$(bash scripts/zpool.sh)
export JETPACK_BENCH_ZPOOL
exec node bench/bench.mjs "$@"
