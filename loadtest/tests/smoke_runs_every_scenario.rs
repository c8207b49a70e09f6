//! Every scenario runs for a few seconds at small N against the debug `veil` binary (and the
//! meeting through the null forwarder too) and produces data. Figures are not asserted: that
//! is what `make bench` is for.

use std::path::PathBuf;

fn target_dir() -> PathBuf {
    // target/debug/deps/<this test> → target/debug
    let exe = std::env::current_exe().expect("the test's own path");
    exe.parent().and_then(|d| d.parent()).expect("a target directory").to_path_buf()
}

#[test]
fn every_scenario_completes_with_data() {
    let veil = std::env::var_os("VEIL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("veil"));
    assert!(
        veil.exists(),
        "{} is missing: run `cargo build --bin veil` first (make rust-test does)",
        veil.display()
    );
    veil_loadtest::start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let results =
        runtime.block_on(veil_loadtest::bench::smoke(&veil)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(results.len(), 5);
}
