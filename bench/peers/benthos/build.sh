#!/usr/bin/env bash
# Builds Benthos (github.com/benthosdev/benthos/v4, MIT licence) for `ws2kafka bench --peer benthos`.
#
#   bench/peers/benthos/build.sh            # -> ~/.cache/ws2kafka/benthos-v4.27.0/bin/benthos
#   BENTHOS_VERSION=v4.27.0 WS2KAFKA_CACHE=/some/dir bench/peers/benthos/build.sh
#   BENTHOS_FULL=1 bench/peers/benthos/build.sh   # every plugin (the upstream cmd/benthos), much slower to build
#
# How: downloads the module's source from the Go module proxy (`go mod download`, GOPROXY as configured), copies it
# into the cache dir and compiles there, so the build uses upstream's own go.mod/go.sum (pinned dependencies, and its
# `replace` directive, which is why `go install module@version` cannot be used). By default it compiles a slim main
# (cmd/benthos-ws2kafka, written below) that is upstream's cmd/benthos with only the plugin packages the bench needs:
# pure (unarchive, mapping, processors), io (websocket input) and kafka (kafka_franz output). The stream engine and
# plugins are unchanged upstream code; leaving out ~40 cloud/database plugin packages only shortens the build.
#
# Idempotent: an existing binary is kept. Prints the binary's path as the last line of stdout.
set -euo pipefail

version="${BENTHOS_VERSION:-v4.27.0}"
module="github.com/benthosdev/benthos/v4"
cache="${WS2KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ws2kafka}"
dir="$cache/benthos-$version"
bin="$dir/bin/benthos"

if ! command -v go >/dev/null 2>&1; then
  echo "build.sh: Go is not installed (need go >= 1.21 on PATH); see https://go.dev/dl/" >&2
  exit 2
fi

if [[ -x "$bin" ]]; then
  echo "build.sh: $bin already built ($version); delete it to rebuild" >&2
  echo "$bin"
  exit 0
fi

start=$(date +%s)
echo "build.sh: building benthos $version into $dir (go $(go env GOVERSION), GOPROXY=$(go env GOPROXY)); this can take minutes" >&2
mkdir -p "$dir/bin"
src_cache="$(cd "$dir" && GOFLAGS=-mod=mod go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [[ -z "$src_cache" || ! -d "$src_cache" ]]; then
  echo "build.sh: could not download $module@$version from the Go module proxy" >&2
  exit 3
fi
rm -rf "$dir/src"
cp -r "$src_cache" "$dir/src"
chmod -R u+w "$dir/src"

pkg=./cmd/benthos
if [[ -z "${BENTHOS_FULL:-}" ]]; then
  mkdir -p "$dir/src/cmd/benthos-ws2kafka"
  cat > "$dir/src/cmd/benthos-ws2kafka/main.go" <<'GO'
// Upstream cmd/benthos with only the plugin packages ws2kafka's bench uses (written by bench/peers/benthos/build.sh).
package main

import (
	"context"

	"github.com/benthosdev/benthos/v4/internal/cli"

	_ "github.com/benthosdev/benthos/v4/public/components/io"
	_ "github.com/benthosdev/benthos/v4/public/components/kafka"
	_ "github.com/benthosdev/benthos/v4/public/components/pure"
)

func main() {
	cli.Run(context.Background())
}
GO
  pkg=./cmd/benthos-ws2kafka
fi

(
  cd "$dir/src"
  GOFLAGS="-mod=mod" CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X $module/internal/cli.Version=${version#v} -X $module/internal/cli.DateBuilt=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -o "$bin.tmp" "$pkg"
)
mv "$bin.tmp" "$bin"
echo "build.sh: built $bin in $(( $(date +%s) - start ))s" >&2
"$bin" --version >&2 || true
echo "$bin"
