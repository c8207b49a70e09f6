//! A short meeting against the debug `veil` binary with cameras published as the browser
//! publishes them: subscribers report tile sizes for their layout, the SFU forwards each the
//! layer that fills the tile, and the report's layer mix says which picture heights arrived.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use veil_loadtest::layout::Layout;
use veil_loadtest::report::RunResult;
use veil_loadtest::scenario::{self, RunConfig, Scenario};
use veil_loadtest::server::Server;

/// One server at a time: a run's server keeps its data in a directory named by this process.
static ONE_SERVER: Mutex<()> = Mutex::new(());

fn veil_bin() -> PathBuf {
    // target/debug/deps/<this test> → target/debug
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("a target directory").to_path_buf();
    let veil = std::env::var_os("VEIL_BIN").map(PathBuf::from).unwrap_or_else(|| dir.join("veil"));
    assert!(
        veil.exists(),
        "{} is missing: run `cargo build --bin veil` first (make rust-test does)",
        veil.display()
    );
    veil
}

/// A meeting of three, each camera in `layers` layers, shown in `layout`.
fn meeting(layers: usize, layout: Layout) -> RunResult {
    let _one = ONE_SERVER.lock().unwrap_or_else(|e| e.into_inner());
    veil_loadtest::start();
    let mut cfg = RunConfig::new(Scenario::Meeting, 3);
    cfg.duration = Duration::from_secs(3);
    cfg.warmup = Duration::from_secs(3);
    cfg.rate = 10.0;
    cfg.ready_timeout = Duration::from_secs(15);
    cfg.progress = false;
    cfg.layers = layers;
    cfg.layout = layout;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let result = runtime.block_on(async {
        let server = Server::start_veil(&veil_bin(), None)?;
        scenario::run(&cfg, &server).await
    });
    let result = result.unwrap_or_else(|e| panic!("the run failed: {e}"));
    assert_eq!((result.ready, result.failed), (3, 0), "{}", result.summary());
    result
}

#[test]
fn in_speaker_layout_the_speaker_arrives_at_720p_and_thumbnails_at_180p() {
    let result = meeting(3, Layout::Speaker);
    // The two others see the speaker large; everyone sees the other two members as thumbnails.
    let expected = BTreeMap::from([(180, 4), (720, 2)]);
    assert_eq!(result.layer_mix.streams_by_height, expected, "{}", result.summary());
    assert_eq!(result.layer_mix.streams_unknown, 0);
    assert_eq!(result.layers_published, 3);
    // Nobody shows a video at 360p: every publisher has paused h, which the SFU names 3 s
    // after the first tile report, well before the run ends.
    let sending = &result.layer_mix.publishers_sending;
    assert_eq!(sending.get("h"), None, "{}", result.summary());
    assert_eq!(sending.get("f"), Some(&1), "only the speaker sends f: {sending:?}");
}

#[test]
fn one_layer_publishing_sends_everyone_the_720p_camera() {
    let result = meeting(1, Layout::Speaker);
    let expected = BTreeMap::from([(720, 6)]);
    assert_eq!(result.layer_mix.streams_by_height, expected, "{}", result.summary());
    assert_eq!(result.layers_published, 1);
}
