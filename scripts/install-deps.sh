#!/usr/bin/env bash
# Installs what netloom needs on Debian 12, only what is missing, so a second
# run takes a second. Needs root (apt-get) and the Rust toolchain (rustup).
set -euo pipefail

TRUNK_VERSION=0.21.14
# The API fuzzer of e2e/tests/api_fuzz.rs (PyPI), in its own venv under tools/.
SCHEMATHESIS_VERSION=4.32.5
# Must equal the wasm-bindgen version pinned in Cargo.toml (Trunk calls this CLI).
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' Cargo.toml)

APT_PACKAGES=(openvswitch-switch ovn-central ovn-host dnsmasq-base nftables iproute2 ethtool busybox
  iputils-ping tcpdump chromium chromium-driver procps psmisc
  qemu-system-x86 cpio kmod)
# A Python with venv for schemathesis (a python3 on PATH that has it will do).
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || APT_PACKAGES+=(python3-venv)
# Node.js runs binaryen's wasm-opt from the npm registry (tools/package.json).
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
# make test's lint step.
for c in clippy rustfmt; do
  if ! rustup component list --installed | grep -q "^$c"; then
    rustup component add "$c"
  fi
done

export PATH="$HOME/.cargo/bin:$PATH"
if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
  echo "install-deps: cargo install trunk $TRUNK_VERSION (about 10 minutes on 2 cores)"
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  echo "install-deps: cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 7 minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
# wasm-opt for Trunk: binaryen from the npm registry, pinned in tools/package-lock.json.
if [ "$(tools/node_modules/.bin/wasm-opt --version 2>/dev/null)" != "wasm-opt version 132 (version_132)" ]; then
  echo "install-deps: npm ci in tools/ (binaryen's wasm-opt)"
  (cd tools && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ "$(tools/schemathesis/bin/st --version 2>/dev/null)" != "st, version $SCHEMATHESIS_VERSION" ]; then
  echo "install-deps: schemathesis $SCHEMATHESIS_VERSION into tools/schemathesis (a venv)"
  python3 -m venv tools/schemathesis
  tools/schemathesis/bin/pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
# The VM tests' kernel (e2e/tests/vm_support): Debian's, unpacked into tools/vm.
bash scripts/vm-kernel.sh
