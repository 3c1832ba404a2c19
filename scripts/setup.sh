#!/usr/bin/env bash
# Idempotent set-up for the demo and the tests:
#   - npm install when node_modules does not match package-lock.json;
#   - the Temporal CLI (scripts/ensure-temporal.sh);
#   - the CLI's JavaScript build in dist/ (scripts/build.mjs), when the sources changed;
#   - with --test: the reference tools the accuracy tests compare against
#     (Debian's plink2, plink1.9, r-base-core, bcftools, tabix), installed with apt-get when missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

stamp="node_modules/.biobank-setup-stamp"
want="$(sha256sum package-lock.json | cut -d' ' -f1) $(node --version)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "setup: installing npm dependencies…" >&2
  # The committed lockfile is complete (every platform's optional packages), so `npm ci`
  # installs exactly it and never rewrites it: a fresh clone stays clean (`git status`).
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" > "$stamp"
fi

bash scripts/ensure-temporal.sh >/dev/null

# The CLI runs from its JavaScript build (dist/, git-ignored); rebuilt only when sources changed.
node scripts/build.mjs

if [[ "${1:-}" == "--test" ]]; then
  missing=()
  command -v plink2 >/dev/null || missing+=(plink2)
  command -v plink1.9 >/dev/null || missing+=(plink1.9)
  command -v Rscript >/dev/null || missing+=(r-base-core)
  command -v bcftools >/dev/null || missing+=(bcftools)
  command -v tabix >/dev/null || missing+=(tabix)
  command -v chromium >/dev/null || missing+=(chromium)
  if (( ${#missing[@]} )); then
    echo "setup: installing reference tools from Debian: ${missing[*]}" >&2
    sudo=""; [[ "$(id -u)" != 0 ]] && sudo="sudo -n"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
fi
