//! The placement decision, apart from Redis: which node should be a new room's home.

use std::cmp::Ordering;

use crate::{NodeId, NodeInfo};

/// The node with the lowest load ratio (egress over capacity); ties go to the smallest id, so
/// every node that sees the same list makes the same choice. Nodes without capacity
/// ([`crate::NodeLoad::ratio`] is `None`) are never chosen. `None` when no node qualifies.
pub fn choose_home(nodes: &[NodeInfo]) -> Option<NodeId> {
    nodes
        .iter()
        .filter_map(|node| Some((node.load.ratio()?, &node.id)))
        .min_by(|a, b| by_ratio_then_id(*a, *b))
        .map(|(_, id)| id.clone())
}

fn by_ratio_then_id(a: (f64, &NodeId), b: (f64, &NodeId)) -> Ordering {
    a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeLoad;

    fn node(id: &str, egress_pps: f64, capacity_pps: u64) -> NodeInfo {
        NodeInfo {
            id: NodeId::new(id).unwrap(),
            signaling_url: format!("http://{id}"),
            load: NodeLoad { egress_pps, capacity_pps, ..NodeLoad::default() },
        }
    }

    fn chosen(nodes: &[NodeInfo]) -> Option<String> {
        choose_home(nodes).map(|id| id.as_str().to_owned())
    }

    #[test]
    fn no_nodes_no_home() {
        assert_eq!(chosen(&[]), None);
    }

    #[test]
    fn least_ratio_wins_not_least_packets() {
        // b carries more packets but is the bigger machine: 20 % against a's 50 %.
        let nodes = [node("a", 50_000.0, 100_000), node("b", 160_000.0, 800_000)];
        assert_eq!(chosen(&nodes).as_deref(), Some("b"));
    }

    #[test]
    fn ties_go_to_the_smallest_id_whatever_the_order() {
        let nodes = [node("c", 10.0, 100), node("a", 20.0, 200), node("b", 10.0, 100)];
        assert_eq!(chosen(&nodes).as_deref(), Some("a"));
        let reversed: Vec<_> = nodes.iter().rev().cloned().collect();
        assert_eq!(chosen(&reversed).as_deref(), Some("a"));
    }

    #[test]
    fn nodes_without_capacity_are_skipped() {
        let nodes = [node("a", 0.0, 0), node("b", 90.0, 100)];
        assert_eq!(chosen(&nodes).as_deref(), Some("b"));
        assert_eq!(chosen(&nodes[..1]), None);
    }

    #[test]
    fn an_overloaded_node_is_still_chosen_when_it_is_the_least_loaded() {
        let nodes = [node("a", 150.0, 100), node("b", 120.0, 100)];
        assert_eq!(chosen(&nodes).as_deref(), Some("b"));
    }
}
