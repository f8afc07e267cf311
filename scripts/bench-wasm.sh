#!/usr/bin/env bash
# Times the simulator compiled to wasm (release) in headless Chromium, through
# wasm-bindgen-test-runner and chromedriver. Prints the figures recorded in
# docs/performance.md ("Simulator").
set -euo pipefail
cd "$(dirname "$0")/../shared"   # the runner reads webdriver.json from here
export PATH="$HOME/.cargo/bin:$PATH"
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
cargo test --release --target wasm32-unknown-unknown --test wasm_trace -- --nocapture
