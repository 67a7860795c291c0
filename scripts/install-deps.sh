#!/usr/bin/env bash
# Installs every Debian package StemeDB needs to build, test and benchmark.
# Idempotent: when everything is already present it does nothing (no apt-get update).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  librocksdb-dev libjemalloc-dev
  libsodium-dev
  librust-blake3-dev b3sum
  capnproto libcapnp-dev
  libcpp-httplib-dev
  nlohmann-json3-dev libsimdjson-dev
  libcli11-dev
  libspdlog-dev libfmt-dev
  libserd-dev
  libgtest-dev libgmock-dev librapidcheck-dev
  libbenchmark-dev
  sqlite3 libsqlite3-dev
  postgresql libpq-dev
  clang libclang-rt-14-dev
  clang-format clang-tidy
  curl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or install them with sudo apt-get install)" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
