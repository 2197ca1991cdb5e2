#!/usr/bin/env bash
# Puts nats-server 2.10 in .tmp/nats-server-2.10/ (usr/sbin/nats-server) for the tests and the
# fault harness that run a three-server JetStream cluster with a replicated (R3) bucket.
# Why not the machine's: Debian bookworm ships nats-server 2.9.10, whose compare-and-set on a
# replicated stream can store two writes of one revision (nats-server issue 4320, fixed in
# 2.9.21), so the NATS store refuses R3 buckets there (docs/stores/nats.md, "Bucket").
# The file is Debian trixie's own package, from deb.debian.org, checked against the SHA256 that
# trixie's signed Packages index gives for it (pinned below), and unpacked with dpkg-deb -x:
# nothing is installed system-wide; the machine's nats-server (single-server tests) is unchanged.
# Idempotent: does nothing when the binary is there and answers its version. Safe to run from
# several processes at once (each unpacks into a folder of its own and renames it into place).
# Usage: scripts/fetch-nats-server.sh   — prints the binary's path on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

version="2.10.27-1+b2"
sha256="6d913ac987b78734c08537c2adeb1526cf735f216173a9170d94b185fcfe6f8a"
url="http://deb.debian.org/debian/pool/main/n/nats-server/nats-server_${version}_amd64.deb"
dest=".tmp/nats-server-2.10"
bin="${dest}/usr/sbin/nats-server"

if "$bin" --version 2>/dev/null | grep -q '^nats-server: v2\.10\.'; then
  echo "$bin"
  exit 0
fi
[ "$(dpkg --print-architecture 2>/dev/null || uname -m)" = amd64 ] ||
  { echo "fetch-nats-server: only the amd64 package is pinned here" >&2; exit 1; }

mkdir -p .tmp
work="$(mktemp -d .tmp/nats-server-fetch.XXXXXX)"
trap 'rm -rf "$work"' EXIT
echo "fetch-nats-server: downloading nats-server ${version} (Debian trixie)" >&2
curl -fsS --retry 3 --max-time 120 -o "$work/nats-server.deb" "$url" || {
  echo "fetch-nats-server: cannot download $url (if trixie replaced the package, pin the new" \
    "version and its SHA256 from trixie's Packages index here)" >&2
  exit 1
}
echo "${sha256}  $work/nats-server.deb" | sha256sum --check --quiet - || {
  echo "fetch-nats-server: $url does not have the pinned SHA256; refusing it" >&2
  exit 1
}
dpkg-deb -x "$work/nats-server.deb" "$work/root"
"$work/root/usr/sbin/nats-server" --version | grep -q '^nats-server: v2\.10\.' || {
  echo "fetch-nats-server: the unpacked binary does not run here" >&2
  exit 1
}
# A folder left by an interrupted older layout goes; one another run just put in place stays.
"$bin" --version >/dev/null 2>&1 || rm -rf "$dest"
mv -T "$work/root" "$dest" 2>/dev/null || [ -x "$bin" ]
echo "$bin"
