# Veil's two everyday commands are `make run` and `make test`; see README.md.
.PHONY: run test client setup-run setup-test rust-test browser-test fmt-check lint

CARGO ?= cargo

run: setup-run client
	$(CARGO) run --release --bin veil -- serve

test: setup-test client fmt-check rust-test browser-test

setup-run:
	@scripts/setup.sh run

setup-test:
	@scripts/setup.sh test

# The browser client bundles the E2EE crate built to wasm (target/wasm-pkg), so build that first.
client:
	scripts/build-wasm.sh
	npm --prefix client-js run --silent build

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Builds the debug binary the browser tests drive, then runs every Rust test.
rust-test:
	$(CARGO) build --bin veil
	$(CARGO) test --workspace

# The wasm build of veil-e2ee against the RFC 9605 vectors, then the client in real Chromium.
browser-test:
	node --test e2ee/tests/wasm/
	npm --prefix client-js run --silent typecheck
	VEIL_BIN=$(CURDIR)/target/debug/veil npm --prefix client-js test

# The load-test standard set against the release binary (see docs/benchmarks.md). Heavy: run it
# on a quiet machine; it pins the server to CPU 1 and the generator to CPU 0.
.PHONY: bench
bench:
	$(CARGO) build --release --bin veil
	$(CARGO) build --release -p veil-loadtest
	target/release/veil-loadtest bench --veil-bin target/release/veil
