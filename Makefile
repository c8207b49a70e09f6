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

client:
	npm --prefix client-js run --silent build

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Builds the debug binary the browser tests drive, then runs every Rust test.
rust-test:
	$(CARGO) build --bin veil
	$(CARGO) test --workspace

browser-test:
	npm --prefix client-js run --silent typecheck
	VEIL_BIN=$(CURDIR)/target/debug/veil npm --prefix client-js test
