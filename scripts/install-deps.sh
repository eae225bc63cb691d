#!/usr/bin/env bash
# Installs the Debian packages berth builds and tests with, only those missing.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libseccomp-dev libcap-dev libnl-3-dev libnl-route-3-dev libnftables-dev libarchive-dev libssl-dev liblmdb-dev
  libcpp-httplib-dev libwebsocketpp-dev libyaml-cpp-dev nlohmann-json3-dev catch2 libjwt-dev
  libsodium-dev libspdlog-dev libcli11-dev libexpected-dev libsystemd-dev busybox-static
  curl iproute2 procps openssl btrfs-progs umoci skopeo containerd
  nodejs node-ws prometheus systemd zsh
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "install-deps: run as root to install packages" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
