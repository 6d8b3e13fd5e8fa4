#!/usr/bin/env bash
# Start Debian's zfs-fuse daemon if it is not running and make sure a file-backed test pool exists.
# Prints the pool name. Pool file and name can be changed with JETPACK_TEST_POOL_FILE / JETPACK_TEST_POOL.
set -euo pipefail
POOL=${JETPACK_TEST_POOL:-jetpack-test}
FILE=${JETPACK_TEST_POOL_FILE:-/var/tmp/jetpack-test-pool.img}

if ! zpool list >/dev/null 2>&1; then
  pkill -x zfs-fuse 2>/dev/null || true
  rm -f /var/run/zfs-fuse.pid
  zfs-fuse --pidfile /var/run/zfs-fuse.pid >/dev/null 2>&1
  for _ in $(seq 50); do zpool list >/dev/null 2>&1 && break; sleep 0.2; done
fi
if ! zpool list -H -o name "$POOL" >/dev/null 2>&1; then
  if [ -f "$FILE" ]; then
    zpool import -d "$(dirname "$FILE")" "$POOL" >/dev/null 2>&1 || { rm -f "$FILE"; }
  fi
fi
if ! zpool list -H -o name "$POOL" >/dev/null 2>&1; then
  truncate -s 4G "$FILE"
  zpool create -f -m none "$POOL" "$FILE" >/dev/null
fi
echo "$POOL"
