//! How a synthetic subscriber shows the videos it receives, as the browser reports it: one
//! `tile_sizes` message naming each received video's mid and the height of its tile in device
//! pixels, sent again whenever a video comes or goes. The SFU picks each subscriber's simulcast
//! layer from these heights, so the layout decides which layers the meeting forwards.
//!
//! Both layouts fill a 1080-pixel-high window: `grid` gives every video the same cell,
//! `speaker` shows the current speaker large and everyone else as thumbnails.

use serde::Serialize;
use veil_proto::signal::TileSize;

/// A layout of received videos.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// Every video in an equal cell of a square-ish gallery.
    #[default]
    Grid,
    /// The speaker's video large, the others as a strip of thumbnails.
    Speaker,
}

/// The window's height in device pixels.
pub const WINDOW_HEIGHT: u32 = 1080;
/// The speaker's tile in the speaker layout.
pub const SPEAKER_HEIGHT: u32 = 720;
/// A thumbnail in the speaker layout.
pub const THUMBNAIL_HEIGHT: u32 = 135;

/// One received video: its receiving m-line's mid and whether it is the speaker's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub mid: String,
    pub speaker: bool,
}

/// The height of one gallery cell when `videos` share the window: rows of a square grid.
pub fn grid_height(videos: usize) -> u32 {
    let rows = (videos as f64).sqrt().ceil().max(1.0);
    (f64::from(WINDOW_HEIGHT) / rows).round() as u32
}

/// The report `layout` makes of `videos`.
pub fn tile_sizes(layout: Layout, videos: &[Shown]) -> Vec<TileSize> {
    let height = |v: &Shown| match layout {
        Layout::Grid => grid_height(videos.len()),
        Layout::Speaker if v.speaker => SPEAKER_HEIGHT,
        Layout::Speaker => THUMBNAIL_HEIGHT,
    };
    videos.iter().map(|v| TileSize { mid: v.mid.clone(), height: height(v) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(n: usize, speaker: usize) -> Vec<Shown> {
        (0..n).map(|i| Shown { mid: i.to_string(), speaker: i == speaker }).collect()
    }

    fn heights(tiles: &[TileSize]) -> Vec<u32> {
        tiles.iter().map(|t| t.height).collect()
    }

    #[test]
    fn a_grid_divides_the_window_into_square_rows() {
        assert_eq!(grid_height(1), 1080);
        assert_eq!(grid_height(2), 540);
        assert_eq!(grid_height(4), 540);
        assert_eq!(grid_height(5), 360);
        assert_eq!(grid_height(9), 360);
        assert_eq!(grid_height(10), 270);
        assert_eq!(grid_height(17), 216);
        assert_eq!(heights(&tile_sizes(Layout::Grid, &shown(5, 0))), [360; 5]);
    }

    #[test]
    fn the_speaker_is_large_and_the_rest_are_thumbnails() {
        let tiles = tile_sizes(Layout::Speaker, &shown(4, 2));
        assert_eq!(heights(&tiles), [135, 135, 720, 135]);
        assert_eq!(tiles[2].mid, "2");
        let no_speaker = tile_sizes(Layout::Speaker, &shown(3, 9));
        assert_eq!(heights(&no_speaker), [135; 3], "the speaker's own view");
        assert!(tile_sizes(Layout::Grid, &[]).is_empty());
    }
}
