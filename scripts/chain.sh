#!/usr/bin/env bash
# The long image chain (issue 3), on a real Debian system, on one store driver:
#   base tarball (debootstrap --variant=minbase bookworm) -> imported with a manifest
#   -> a patched base built with apt-get install -> an app image (a shell-script service)
#   -> a pod that runs it; each step driven by a Makefile using jetpack.image.mk.
# Usage, as root: bash scripts/chain.sh [dir|zfs]   (zfs uses the test pool of scripts/zpool.sh)
# Takes several minutes (debootstrap downloads Debian packages from Debian's mirror).
set -euo pipefail
cd "$(dirname "$0")/.."
DRIVER=${1:-dir}
bash scripts/setup.sh
command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }

WORK=$(mktemp -d /var/tmp/jetpack-chain-XXXXXX)
DATASET=
cleanup() {
  grep -o " $WORK[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l || true
  if [ -n "$DATASET" ]; then for _ in 1 2 3 4 5; do zfs destroy -R -f "$DATASET" >/dev/null 2>&1 && break; sleep 1; done; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
if [ "$DRIVER" = zfs ]; then
  POOL=$(bash scripts/zpool.sh)
  DATASET="$POOL/chain$$"
  printf 'root.zfs = %s\nroot.zfs.mountpoint = %s/store\n' "$DATASET" "$WORK" > "$WORK/jetpack.conf"
else
  printf 'root.dir = %s/store\n' "$WORK" > "$WORK/jetpack.conf"
fi
export JETPACK_CONF=$WORK/jetpack.conf
jetpack init >/dev/null

echo "== 1. debootstrap --variant=minbase bookworm, packed as a plain tarball"
debootstrap --variant=minbase bookworm "$WORK/rootfs" >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; exit 1; }
rm -f "$WORK/rootfs/etc/resolv.conf"
tar -C "$WORK/rootfs" -cJf "$WORK/bookworm.txz" .
rm -rf "$WORK/rootfs"
echo '{"name": "debian.org/bookworm", "labels": [{"name": "version", "value": "12"}, {"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}]}' > "$WORK/base.json"
mkdir -p "$WORK/images/base" "$WORK/images/patched" "$WORK/images/app"
printf 'IMPORT_FILE = %s\nIMPORT_MANIFEST = %s\ninclude /usr/local/share/jetpack/jetpack.image.mk\n' "$WORK/bookworm.txz" "$WORK/base.json" > "$WORK/images/base/Makefile"

echo "== 2. a patched base: apt-get install inside a build pod"
cat > "$WORK/images/patched/build.sh" <<'SH'
set -e
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends busybox >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/*
echo '{"name": "example.com/bookworm-busybox", "labels": [{"name": "version", "value": "12"}, {"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}]}' > manifest.json
SH
printf 'PARENT_DIRS = ../base\nPARENT_IMAGE = debian.org/bookworm:12\ninclude /usr/local/share/jetpack/jetpack.image.mk\n' > "$WORK/images/patched/Makefile"

echo "== 3. an app image: a shell-script service"
cat > "$WORK/images/app/build.sh" <<'SH'
set -e
printf '#!/bin/sh\necho "hello-service on $(hostname): $(. /etc/os-release; echo $PRETTY_NAME), $(busybox | head -1 | cut -d" " -f1-2)"\n' > /usr/local/bin/hello-service
chmod 755 /usr/local/bin/hello-service
echo '{"name": "example.com/hello-service", "labels": [{"name": "version", "value": "1"}, {"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}], "app": {"exec": ["/usr/local/bin/hello-service"], "user": "nobody", "group": "nogroup"}}' > manifest.json
SH
printf 'PARENT_DIRS = ../patched\nPARENT_IMAGE = example.com/bookworm-busybox:12\ninclude /usr/local/share/jetpack/jetpack.image.mk\n' > "$WORK/images/app/Makefile"
make -s -C "$WORK/images/app"
jetpack images

echo "== 4. a pod from the app image"
POD=$(jetpack -json pod create example.com/hello-service:1 | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).uuid))')
jetpack pod "$POD" run
jetpack pod "$POD" destroy >/dev/null
make -s -C "$WORK/images/app" aci
actool validate "$WORK/images/app/image.aci" && echo "actool: image.aci is valid"
echo "chain on $DRIVER: ok"
