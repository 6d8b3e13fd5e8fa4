#!/usr/bin/env bash
# Install what Jetpack needs on Debian 12 with Node 20, as root, then build it.
# Idempotent: skips what is already there. Used by `npm run demo`, `npm test` and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=12.4.2
APT_PACKAGES=(zfs-fuse busybox-static appc-spec attr xz-utils bzip2 gzip gcc libc6-dev make util-linux iproute2 procps nftables libcap2-bin python3)

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: must run as root (it installs packages and Jetpack needs root for namespaces and mounts)" >&2
  exit 8
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "setup.sh: installing pnpm $PNPM_VERSION" >&2
  npm install -g --silent "pnpm@$PNPM_VERSION" >/dev/null
fi

pnpm install --frozen-lockfile --silent
pnpm run --silent build

# The make include of the image workflow (jetpack.image.mk(7)).
mkdir -p /usr/local/share/jetpack
ln -sfn "$PWD/commands/image-build/share/jetpack.image.mk" /usr/local/share/jetpack/jetpack.image.mk

# Put the commands on PATH: each package's bin, the bundle that scripts/bundle.mjs made.
node -e '
  const fs = require("fs");
  for (const dir of fs.readdirSync("commands")) {
    const file = `commands/${dir}/package.json`;
    if (!fs.existsSync(file)) continue;
    for (const [name, bin] of Object.entries(JSON.parse(fs.readFileSync(file, "utf8")).bin ?? {})) console.log(`${name} commands/${dir}/${bin}`);
  }' | while read -r name bin; do
  chmod +x "$bin"
  ln -sfn "$PWD/$bin" "/usr/local/bin/$name"
done
