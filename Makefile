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

# Builds the debug binaries the browser tests drive (the server, and the webrtc-rs and str0m
# peers of the interoperability test), then runs every Rust test.
rust-test:
	$(CARGO) build -p veil -p veil-interop -p veil-loadtest --bins
	$(CARGO) test --workspace

# The wasm build of veil-e2ee against the RFC 9605 vectors, then the client in real Chromium.
browser-test:
	node --test e2ee/tests/wasm/
	npm --prefix client-js run --silent typecheck
	VEIL_BIN=$(CURDIR)/target/debug/veil \
	VEIL_WEBRTC_PEER_BIN=$(CURDIR)/target/debug/veil-webrtc-peer \
	VEIL_LOADTEST_BIN=$(CURDIR)/target/debug/veil-loadtest \
	npm --prefix client-js test

# The load-test standard set against the release binary (see docs/benchmarks.md). Heavy: run it
# on a quiet machine; it pins the server to CPU 1 and the generator to CPU 0. Each scenario also
# runs through Janus (installed here by scripts/setup-janus.sh; never part of `make test`).
.PHONY: bench
bench:
	scripts/setup-janus.sh
	$(CARGO) build --release --bin veil
	$(CARGO) build --release -p veil-loadtest
	target/release/veil-loadtest bench --janus --veil-bin target/release/veil
