# The two entry points of the README: `make run` and `make test`.
# Both install what is missing first (scripts/install-deps.sh is idempotent).
SHELL := /bin/bash
# tools/node_modules/.bin: wasm-opt for Trunk (scripts/install-deps.sh installs it).
export PATH := $(CURDIR)/tools/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
export CARGO_TERM_COLOR := never

.PHONY: run test deps frontend wasm-check long-fns lint build fuzz bench clean

deps:
	@bash scripts/install-deps.sh

# Size-optimised wasm bundle in dist/ (Trunk.toml), served by `netloom serve`.
frontend: deps
	trunk build --release

# The core must stay pure enough to build for the browser.
wasm-check: deps
	cargo build -p netloom-core --target wasm32-unknown-unknown

# No function over 80 lines unless a `long:` comment above it says why
# (docs/architecture.md).
long-fns:
	python3 scripts/long-fns.py shared/src backend/src frontend/src

# Formatting and clippy's warnings, as errors.
lint: deps
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

build: frontend
	cargo build --release -p netloom

run: build
	./target/release/netloom serve

test: deps long-fns lint wasm-check frontend
	cargo test --workspace --no-fail-fast
	@echo "make test: all suites passed"

# Long fuzz run of parser, validator, simulator, reach and planner (proptest).
fuzz:
	NETLOOM_FUZZ_CASES=$${NETLOOM_FUZZ_CASES:-20000} cargo test --release -p netloom-core --test fuzz

# The figures of docs/performance.md that need no root or browser.
bench:
	cargo bench -p netloom-core --bench sim --bench budgets --bench fix

clean:
	cargo clean
	rm -rf dist
