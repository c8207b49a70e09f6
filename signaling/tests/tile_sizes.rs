//! A client says how large it shows each video it receives; signaling hands the report to the
//! SFU (which picks simulcast layers by it) and refuses, without ending the call, a report too
//! large or malformed to be one.

mod common;

use common::{Cmd, Server};
use serde_json::json;
use veil_proto::media::TileSize;

#[tokio::test]
async fn tile_sizes_reach_the_sfu_and_bad_reports_are_refused_softly() {
    let server = Server::start().await;
    let (mut ada, joined) = server.joined("standup", Some("ada")).await;
    let session = server.plane.session_of(joined["participant_id"].as_str().unwrap()).await;

    let tiles = json!([{"mid": "1", "height": 180}, {"mid": "2", "height": 0}]);
    ada.send(json!({"v": 2, "type": "tile_sizes", "tiles": tiles})).await;
    let want =
        vec![TileSize { mid: "1".into(), height: 180 }, TileSize { mid: "2".into(), height: 0 }];
    server
        .plane
        .wait_for("the tile sizes", |c| *c == Cmd::SetTileSizes { session, tiles: want.clone() })
        .await;

    let too_many: Vec<_> = (0..300).map(|i| json!({"mid": i.to_string(), "height": 90})).collect();
    let bad = [
        json!({"v": 2, "type": "tile_sizes", "tiles": too_many}),
        json!({"v": 2, "type": "tile_sizes", "tiles": [{"mid": "1", "height": 100_000}]}),
        json!({"v": 2, "type": "tile_sizes", "tiles": [{"mid": "a b", "height": 90}]}),
        json!({"v": 2, "type": "tile_sizes", "tiles": [{"mid": "", "height": 90}]}),
        json!({"v": 2, "type": "tile_sizes", "tiles": [{"mid": "1", "height": -1}]}),
        json!({"v": 2, "type": "tile_sizes", "tiles": [{"mid": "1", "height": 90, "x": 1}]}),
    ];
    for message in bad {
        ada.send(message).await;
        ada.expect_error("bad_message", false).await;
    }
    let reports = server.plane.commands().into_iter();
    assert_eq!(reports.filter(|c| matches!(c, Cmd::SetTileSizes { .. })).count(), 1);
    ada.ping_pong().await;
    server.still_serves().await;
}
