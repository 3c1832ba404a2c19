#!/usr/bin/env bash
# Provision the Temporal CLI (also the dev server). Idempotent.
#   1. $TEMPORAL_CLI_PATH or a `temporal` on PATH wins;
#   2. else .tools/bin/temporal, built earlier by this script;
#   3. else build it with Go: go install github.com/temporalio/cli/cmd/temporal@v1.5.1
#      (later tags carry a `replace` directive and cannot be installed this way).
# Prints the binary's path on stdout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="v1.5.1"
if [[ -n "${TEMPORAL_CLI_PATH:-}" && -x "${TEMPORAL_CLI_PATH}" ]]; then echo "$TEMPORAL_CLI_PATH"; exit 0; fi
if command -v temporal >/dev/null 2>&1; then command -v temporal; exit 0; fi
bin="$root/.tools/bin/temporal"
if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi
# A per-user cache shared by clones of this project on one machine.
cache="${XDG_CACHE_HOME:-$HOME/.cache}/biobank-engine/temporal-$version"
mkdir -p "$root/.tools/bin"
if [[ -x "$cache" ]]; then cp "$cache" "$bin.tmp" && mv "$bin.tmp" "$bin"; echo "$bin"; exit 0; fi
gobin="$(command -v go || true)"
[[ -z "$gobin" && -x /usr/local/go/bin/go ]] && gobin=/usr/local/go/bin/go
if [[ -z "$gobin" ]]; then
  cat >&2 <<MSG
error: the Temporal CLI is not installed and Go is not available to build it.
  Install Go (https://go.dev/dl/) and re-run, or install the Temporal CLI yourself
  (e.g. 'brew install temporal', or 'go install github.com/temporalio/cli/cmd/temporal@$version')
  and put it on PATH, or set TEMPORAL_CLI_PATH.
MSG
  exit 1
fi
echo "building the Temporal CLI $version with Go into .tools/bin (first time only, a few minutes)…" >&2
GOBIN="$root/.tools/bin" "$gobin" install "github.com/temporalio/cli/cmd/temporal@$version" >&2
mkdir -p "$(dirname "$cache")" && cp "$bin" "$cache.tmp" && mv "$cache.tmp" "$cache"
echo "$bin"
