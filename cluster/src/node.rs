//! What a node says about itself: its id, where other nodes reach its signaling, and its load.

use std::fmt;
use std::str::FromStr;

use crate::ClusterError;

/// A node's id: short, opaque, unique in the deployment (a host name or a random token).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(String);

impl NodeId {
    pub const MAX_LEN: usize = 64;

    /// Accepts 1 to [`NodeId::MAX_LEN`] characters of `A-Z a-z 0-9 . _ -`, so that an id is
    /// safe inside a Redis key and in a log line.
    pub fn new(id: impl Into<String>) -> Result<Self, ClusterError> {
        let id = id.into();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if id.is_empty() || id.len() > Self::MAX_LEN || !id.chars().all(allowed) {
            return Err(ClusterError::InvalidNodeId(id));
        }
        Ok(NodeId(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A node's load as its engines count it, sent with every heartbeat.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodeLoad {
    pub participants: u32,
    pub rooms: u32,
    /// Egress packets per second: the unit node capacity is measured in (docs/benchmarks.md).
    pub egress_pps: f64,
    /// Egress packets per second the node can take: the figure placement divides by. Zero
    /// means "place no new room here" (a node that is draining).
    pub capacity_pps: u64,
}

impl NodeLoad {
    /// Egress as a fraction of capacity, or `None` for a node that takes no new rooms.
    pub fn ratio(&self) -> Option<f64> {
        let usable = self.capacity_pps > 0 && self.egress_pps.is_finite() && self.egress_pps >= 0.0;
        usable.then(|| self.egress_pps / self.capacity_pps as f64)
    }

    pub(crate) fn validate(&self) -> Result<(), ClusterError> {
        if !self.egress_pps.is_finite() || self.egress_pps < 0.0 {
            return Err(ClusterError::InvalidLoad { field: "egress_pps", value: self.egress_pps });
        }
        Ok(())
    }
}

/// A live node as the registry lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    pub id: NodeId,
    /// The internal signaling URL other nodes reach this node at.
    pub signaling_url: String,
    pub load: NodeLoad,
}

/// The fields of a node record (`veil:node:<id>`), in the order [`NodeInfo::to_fields`] writes
/// them and [`NodeInfo::from_fields`] reads them.
pub(crate) const FIELDS: [&str; 5] = ["url", "participants", "rooms", "egress_pps", "capacity_pps"];

/// The field placement adds a room's expected load to, until the next heartbeat replaces it.
pub(crate) const EGRESS_FIELD: &str = FIELDS[3];
pub(crate) const ROOMS_FIELD: &str = FIELDS[2];

impl NodeInfo {
    pub(crate) fn to_fields(&self) -> [(&'static str, String); 5] {
        let load = &self.load;
        [
            (FIELDS[0], self.signaling_url.clone()),
            (FIELDS[1], load.participants.to_string()),
            (FIELDS[2], load.rooms.to_string()),
            (FIELDS[3], load.egress_pps.to_string()),
            (FIELDS[4], load.capacity_pps.to_string()),
        ]
    }

    /// Reads the values of [`FIELDS`] as `HMGET` returns them.
    pub(crate) fn from_fields(id: &str, values: &[Option<String>]) -> Result<Self, ClusterError> {
        let [url, participants, rooms, egress, capacity] = values else {
            let reason = format!("{} fields, expected {}", values.len(), FIELDS.len());
            return Err(malformed(id, reason));
        };
        let load = NodeLoad {
            participants: number(id, FIELDS[1], participants)?,
            rooms: number(id, FIELDS[2], rooms)?,
            egress_pps: number(id, FIELDS[3], egress)?,
            capacity_pps: number(id, FIELDS[4], capacity)?,
        };
        let signaling_url = present(id, FIELDS[0], url)?.to_owned();
        Ok(NodeInfo { id: NodeId::new(id)?, signaling_url, load })
    }
}

fn present<'a>(id: &str, field: &str, value: &'a Option<String>) -> Result<&'a str, ClusterError> {
    value.as_deref().ok_or_else(|| malformed(id, format!("no {field}")))
}

fn number<T: FromStr>(id: &str, field: &str, value: &Option<String>) -> Result<T, ClusterError> {
    let text = present(id, field, value)?;
    text.parse().map_err(|_| malformed(id, format!("{field} is {text:?}")))
}

fn malformed(id: &str, reason: String) -> ClusterError {
    ClusterError::MalformedRecord { node: id.to_owned(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_short_and_key_safe() {
        assert!(NodeId::new("node-1.eu_west").is_ok());
        for bad in ["", "a b", "a:b", "a*", "ü", &"x".repeat(65)] {
            assert!(NodeId::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ratio_is_egress_over_capacity() {
        let load = NodeLoad { egress_pps: 200_000.0, capacity_pps: 800_000, ..NodeLoad::default() };
        assert_eq!(load.ratio(), Some(0.25));
        assert_eq!(NodeLoad { capacity_pps: 0, ..load }.ratio(), None);
    }

    #[test]
    fn invalid_egress_is_refused() {
        for value in [f64::NAN, f64::INFINITY, -1.0] {
            let load = NodeLoad { egress_pps: value, capacity_pps: 1, ..NodeLoad::default() };
            assert!(load.validate().is_err());
            assert_eq!(load.ratio(), None);
        }
    }

    #[test]
    fn fields_round_trip() {
        let info = NodeInfo {
            id: NodeId::new("n1").unwrap(),
            signaling_url: "http://10.0.0.1:8080".into(),
            load: NodeLoad { participants: 12, rooms: 3, egress_pps: 1234.5, capacity_pps: 9000 },
        };
        let values: Vec<Option<String>> =
            info.to_fields().into_iter().map(|(_, value)| Some(value)).collect();
        assert_eq!(NodeInfo::from_fields("n1", &values).unwrap(), info);
    }

    #[test]
    fn a_record_missing_a_field_is_malformed() {
        let values = [Some("http://x".into()), None, Some("1".into()), Some("1".into()), None];
        let error = NodeInfo::from_fields("n1", &values).unwrap_err();
        assert!(matches!(error, ClusterError::MalformedRecord { .. }), "{error}");
    }
}
