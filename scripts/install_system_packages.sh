#!/usr/bin/env bash
# Install the Debian packages the tests need (bubblewrap: the grading sandbox; chromium
# and fonts-dejavu-core: the browser tests), when one is missing. Used by `make test`
# and by .ci/run, so both install the same way.
#
# As root, or with passwordless sudo, it installs them. Otherwise it installs nothing,
# prints the command to run, and exits 0: the tests that need a missing package skip
# with the same command in their message.
set -euo pipefail

need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
{ command -v chromium || command -v chromium-browser; } >/dev/null 2>&1 || need+=(chromium)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
[ ${#need[@]} -eq 0 ] && exit 0

command="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${need[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages: ${need[*]} (not a Debian/Ubuntu machine: install them" \
    "with your package manager); the tests that need them will skip" >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "missing system packages: ${need[*]}; the tests that need them will skip." >&2
  echo "to run them: sudo sh -c '$command'" >&2
  exit 0
fi
echo "installing Debian packages: ${need[*]}"
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
