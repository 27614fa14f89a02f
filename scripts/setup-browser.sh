#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the end-to-end browser check (tests/e2e/).
# Idempotent: silent and instant when chromium is already installed.
set -euo pipefail

say() { printf 'setup-browser: %s\n' "$*" >&2; }

command -v chromium >/dev/null && exit 0
if [ "$(id -u)" -ne 0 ]; then
    say "chromium is missing; run as root to install it: sudo $0"
    exit 1
fi
command -v apt-get >/dev/null || { say "ERROR: apt-get not found: this script supports Debian 12 only"; exit 1; }
say "installing Debian's chromium (about 100 MB, once)"
apt-get update -qq >/dev/null || { say "ERROR: apt-get update failed"; exit 1; }
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null \
    || { say "ERROR: apt-get install chromium failed"; exit 1; }
