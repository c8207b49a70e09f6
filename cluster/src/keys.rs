//! The Redis key layout, in one place (the table is in the crate docs).

use crate::{NodeId, RoomId};

/// The set of node ids that have registered: an index, pruned of expired ids.
pub(crate) const NODE_INDEX: &str = "veil:nodes";

/// What precedes a node id in its record's key; the Lua scripts append ids to it.
pub(crate) const NODE_PREFIX: &str = "veil:node:";

const ROOM_PREFIX: &str = "veil:room:";

/// The sorted set of sealed revocations every node learns, scored by when each ends.
pub(crate) const REVOCATIONS: &str = "veil:revocations";

pub(crate) fn node(id: &NodeId) -> String {
    format!("{NODE_PREFIX}{id}")
}

pub(crate) fn room(id: &RoomId) -> String {
    format!("{ROOM_PREFIX}{id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RoomHasher;

    #[test]
    fn keys_follow_the_documented_layout() {
        assert_eq!(node(&NodeId::new("n1").unwrap()), "veil:node:n1");
        let id = RoomHasher::new(b"s").unwrap().id("standup");
        assert_eq!(room(&id), format!("veil:room:{id}"));
    }
}
