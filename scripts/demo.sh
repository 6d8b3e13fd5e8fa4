#!/usr/bin/env bash
# The main job, end to end, on the embedded default store (/var/jetpack, the dir driver):
# lay out Debian's busybox-static as an image, pack it with Debian's actool, import it,
# create a pod from it and run it. Run as root on Debian 12 with Node 20: `npm run demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

WORK=${JETPACK_DEMO_DIR:-/var/tmp/jetpack-demo}
if [ ! -f "$WORK/busybox.aci" ]; then
rm -rf "$WORK/layout"
mkdir -p "$WORK/layout/rootfs/bin" "$WORK/layout/rootfs/etc" "$WORK/layout/rootfs/root" "$WORK/layout/rootfs/tmp"
cp /bin/busybox "$WORK/layout/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$WORK/layout/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$WORK/layout/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$WORK/layout/rootfs/etc/group"
chmod 1777 "$WORK/layout/rootfs/tmp"
VERSION=$(dpkg-query -W -f='${Version}' busybox-static | sed 's/[^0-9A-Za-z.+-]/-/g')
cat > "$WORK/layout/manifest" <<JSON
{
  "acKind": "ImageManifest",
  "acVersion": "0.8.11",
  "name": "example.com/busybox",
  "labels": [
    {"name": "version", "value": "$VERSION"},
    {"name": "os", "value": "linux"},
    {"name": "arch", "value": "amd64"}
  ],
  "app": {
    "exec": ["/bin/sh", "-c", "echo \"Hello from pod \$(hostname), running as \$(id -un) (\$(id)) in \$(pwd)\"; echo \"processes:\"; ps; echo \"network:\"; ls /sys/class/net"],
    "user": "nobody",
    "group": "nogroup",
    "workingDirectory": "/tmp",
    "environment": [{"name": "GREETING", "value": "hello"}]
  },
  "annotations": [{"name": "homepage", "value": "https://packages.debian.org/bookworm/busybox-static"}]
}
JSON
actool build --overwrite "$WORK/layout" "$WORK/busybox.aci"
fi
# Packed once and kept: actool stamps the time into the archive, so a new pack would be a new image.
actool validate "$WORK/busybox.aci"

echo "== jetpack image import $WORK/busybox.aci"
jetpack image import "$WORK/busybox.aci"
echo "== jetpack image list"
jetpack image list
echo "== aci-import busybox.aci | pod-create | jail-run   (the commands compose through JSON pipes)"
aci-import "$WORK/busybox.aci" | pod-create | jail-run
echo "== jetpack pod list"
jetpack pod list
