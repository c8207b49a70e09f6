#!/usr/bin/env bash
# Builds veil-e2ee for the browser: wasm32 release build, then wasm-bindgen bindings in
# target/wasm-pkg (ES module for --target web), which the browser client bundles.
# Installs what it needs, skipping whatever is already there. Usage: scripts/build-wasm.sh
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1mbuild-wasm:\033[0m %s\n' "$*"; }
die() { printf 'build-wasm: %s\n' "$*" >&2; exit 1; }

target=wasm32-unknown-unknown
out=target/wasm-pkg

command -v cargo >/dev/null || die "cargo is missing; install Rust with rustup"

if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  say "adding the $target target"
  rustup target add "$target" || die "cannot add the $target target (rustup target add $target)"
fi

# The CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock, or the
# generated glue does not match the compiled module.
cargo metadata --format-version 1 >/dev/null # records e2ee's dependencies in Cargo.lock if new
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$want" ] || die "no wasm-bindgen crate in Cargo.lock"
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
  say "installing wasm-bindgen-cli $want (found: ${have:-none})"
  # Not --locked: the CLI's own lock file pins a crate the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$want" || die "cannot install wasm-bindgen-cli $want"
fi

say "compiling veil-e2ee for $target"
# A cdylib for this build only: native users link the crate as a plain rlib.
cargo rustc -p veil-e2ee --lib --target "$target" --profile wasm-release --crate-type cdylib

wasm=target/$target/wasm-release/veil_e2ee.wasm
rm -rf "$out"
# The name section only serves debugging and would add a quarter to the download.
wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir "$out" "$wasm"

bg=$out/veil_e2ee_bg.wasm
raw=$(wc -c <"$bg")
gz=$(gzip -9 -c "$bg" | wc -c)
say "wrote $out: veil_e2ee_bg.wasm $raw bytes, $gz gzipped"
