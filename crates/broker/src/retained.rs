//! The retained-message index: the last retained message of each topic.
//!
//! [`RetainedIndex`] stores one message per topic name in a tree of topic levels, so that
//! a new subscription can find every retained message its filter matches by walking only
//! the matching branches (3.1.1 §3.3.1.3, 5.0 §3.3.1.3). Each entry keeps its full topic
//! string, so matches are reported without rebuilding names from levels.
//!
//! The index is generic over the message type `M` and never looks into it. It does not
//! decide *whether* to retain (a retained PUBLISH with an empty payload deletes: 3.1.1
//! [MQTT-3.3.1-10], 5.0 [MQTT-3.3.1-6]), apply Retain Handling, or expire messages by
//! itself: the broker calls [`RetainedIndex::remove`] and [`RetainedIndex::retain`].
//!
//! Like the subscription tree, nothing here recurses per topic level (a topic may have
//! 65 536 levels); walks use explicit stacks on the heap. Matching allocates that stack,
//! which is fine: it runs once per new subscription, not once per published message.

use std::collections::HashMap;
use std::fmt;

use crate::topic::{LEVEL_SEPARATOR, MULTI_LEVEL_WILDCARD, SINGLE_LEVEL_WILDCARD};

/// Retained messages of one tenant, one per topic name.
pub struct RetainedIndex<M> {
    root: Node<M>,
    len: usize,
}

impl<M> RetainedIndex<M> {
    /// An empty index.
    pub fn new() -> Self {
        Self {
            root: Node::default(),
            len: 0,
        }
    }

    /// Stores `message` as the retained message of `topic`, replacing and returning the
    /// previous one: the server keeps only the latest retained message per topic
    /// (5.0 [MQTT-3.3.1-5]).
    ///
    /// `topic` should be a valid topic name ([`crate::topic::validate_topic_name`]).
    /// Storing over an existing topic does not allocate.
    pub fn set(&mut self, topic: &str, message: M) -> Option<M> {
        let node = match self.root.find_mut(topic) {
            Some(node) => node,
            None => self.root.find_or_create(topic),
        };
        match &mut node.retained {
            Some(entry) => Some(std::mem::replace(&mut entry.message, message)),
            None => {
                node.retained = Some(Entry {
                    topic: Box::from(topic),
                    message,
                });
                self.len += 1;
                None
            }
        }
    }

    /// Removes and returns the retained message of `topic`. Nodes left empty are freed.
    pub fn remove(&mut self, topic: &str) -> Option<M> {
        // Pass 1: walk down, take the message, and find the topmost node of the chain at
        // the end of the path that holds nothing but that path. `prune_from` is the depth
        // of that chain's parent, whose edge into the chain gets cut.
        let mut node = &mut self.root;
        let mut depth = 0;
        let mut prune_from = None;
        for level in topic.split(LEVEL_SEPARATOR) {
            if depth > 0 {
                if node.retained.is_none() && node.children.len() == 1 {
                    prune_from.get_or_insert(depth - 1);
                } else {
                    prune_from = None;
                }
            }
            node = node.children.get_mut(level)?;
            depth += 1;
        }
        let removed = node.retained.take()?.message;
        self.len -= 1;
        if !node.children.is_empty() {
            return Some(removed);
        }

        // Pass 2: cut the empty chain off its parent. `depth` ≥ 1: `split` yields a level.
        let cut_at = prune_from.unwrap_or(depth - 1);
        let mut parent = &mut self.root;
        let mut levels = topic.split(LEVEL_SEPARATOR);
        for level in levels.by_ref().take(cut_at) {
            match parent.children.get_mut(level) {
                Some(child) => parent = child,
                // Unreachable: pass 1 walked this very path.
                None => return Some(removed),
            }
        }
        if let Some(level) = levels.next() {
            parent.children.remove(level);
        }
        Some(removed)
    }

    /// The retained message of `topic`, if any.
    pub fn get(&self, topic: &str) -> Option<&M> {
        let mut node = &self.root;
        for level in topic.split(LEVEL_SEPARATOR) {
            node = node.children.get(level)?;
        }
        node.retained.as_ref().map(|entry| &entry.message)
    }

    /// Calls `f(topic, message)` for every retained message whose topic matches `filter`,
    /// in unspecified order.
    ///
    /// `filter` is the filter proper (the `filter` field of [`crate::topic::Filter`],
    /// without any `$share/` prefix) and should be valid. `+` matches one level, which
    /// may be empty; `#` matches its parent level and everything below; a filter starting
    /// with a wildcard does not match topics starting with `$` [MQTT-4.7.2-1].
    pub fn for_each_match(&self, filter: &str, mut f: impl FnMut(&str, &M)) {
        let mut stack = vec![Walk::Match {
            node: &self.root,
            rest: Some(filter),
            first: true,
        }];
        while let Some(walk) = stack.pop() {
            match walk {
                Walk::Subtree(node) => {
                    node.report(&mut f);
                    stack.extend(node.children.values().map(Walk::Subtree));
                }
                Walk::Match { node, rest, first } => {
                    let Some(rest) = rest else {
                        node.report(&mut f);
                        continue;
                    };
                    let (level, rest) = split_first_level(rest);
                    // [MQTT-4.7.2-1]: a leading wildcard skips the `$` topics.
                    let wildcard_children = node
                        .children
                        .iter()
                        .filter(move |(name, _)| !(first && name.starts_with('$')))
                        .map(|(_, child)| child);
                    match level {
                        // A valid filter has nothing after `#`.
                        MULTI_LEVEL_WILDCARD => {
                            node.report(&mut f);
                            stack.extend(wildcard_children.map(Walk::Subtree));
                        }
                        SINGLE_LEVEL_WILDCARD => {
                            stack.extend(wildcard_children.map(|node| Walk::Match {
                                node,
                                rest,
                                first: false,
                            }));
                        }
                        literal => {
                            if let Some(node) = node.children.get(literal) {
                                stack.push(Walk::Match {
                                    node,
                                    rest,
                                    first: false,
                                });
                            }
                        }
                    }
                }
            }
        }
    }

    /// Calls `f(topic, message)` for every retained message, `$` topics included, in
    /// unspecified order (for snapshots and metrics).
    pub fn for_each(&self, mut f: impl FnMut(&str, &M)) {
        let mut stack = vec![&self.root];
        while let Some(node) = stack.pop() {
            node.report(&mut f);
            stack.extend(node.children.values());
        }
    }

    /// Keeps only the messages for which `keep(topic, message)` is true, for example to
    /// drop those whose Message Expiry Interval has passed (5.0 §3.3.2.3.3). Nodes left
    /// empty are freed.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &M) -> bool) {
        let mut doomed: Vec<Box<str>> = Vec::new();
        self.for_each(|topic, message| {
            if !keep(topic, message) {
                doomed.push(Box::from(topic));
            }
        });
        for topic in &doomed {
            self.remove(topic);
        }
    }

    /// The number of retained messages.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no message is retained.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of nodes below the root, for memory metrics. It is zero when the index
    /// is empty, because removal frees empty nodes. This walks the whole index.
    pub fn node_count(&self) -> usize {
        let mut count = 0;
        let mut stack = vec![&self.root];
        while let Some(node) = stack.pop() {
            count += node.children.len();
            stack.extend(node.children.values());
        }
        count
    }
}

impl<M> Default for RetainedIndex<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M> fmt::Debug for RetainedIndex<M> {
    /// A summary only: printing every retained message helps nobody.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetainedIndex")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// One topic level. The path from the root spells the topic; the root itself is never a
/// topic, since every topic has at least one level.
struct Node<M> {
    children: HashMap<Box<str>, Node<M>>,
    retained: Option<Entry<M>>,
}

/// A retained message with the full topic it was published to.
struct Entry<M> {
    topic: Box<str>,
    message: M,
}

impl<M> Node<M> {
    fn find_mut(&mut self, topic: &str) -> Option<&mut Self> {
        let mut node = self;
        for level in topic.split(LEVEL_SEPARATOR) {
            node = node.children.get_mut(level)?;
        }
        Some(node)
    }

    fn find_or_create(&mut self, topic: &str) -> &mut Self {
        let mut node = self;
        for level in topic.split(LEVEL_SEPARATOR) {
            node = node.children.entry(Box::from(level)).or_default();
        }
        node
    }

    fn report(&self, f: &mut impl FnMut(&str, &M)) {
        if let Some(entry) = &self.retained {
            f(&entry.topic, &entry.message);
        }
    }
}

impl<M> Default for Node<M> {
    fn default() -> Self {
        Self {
            children: HashMap::new(),
            retained: None,
        }
    }
}

impl<M> Drop for Node<M> {
    /// Dismantles the subtree with a loop: the default drop glue would recurse once per
    /// level and can overflow the stack on a topic of 65 536 levels.
    fn drop(&mut self) {
        let mut stack: Vec<Node<M>> = self.children.drain().map(|(_, child)| child).collect();
        while let Some(mut node) = stack.pop() {
            stack.extend(node.children.drain().map(|(_, child)| child));
            // `node` now has no children, so dropping it here does not recurse.
        }
    }
}

/// Pending work in [`RetainedIndex::for_each_match`].
enum Walk<'a, M> {
    /// `node` has matched the filter levels before `rest` (`None`: all of them). `first`
    /// is true at the root, where [MQTT-4.7.2-1] applies.
    Match {
        node: &'a Node<M>,
        rest: Option<&'a str>,
        first: bool,
    },
    /// Everything at and below `node` matches (the filter ended in `#`).
    Subtree(&'a Node<M>),
}

/// `a/b/c` → (`a`, `Some("b/c")`); `c` → (`c`, `None`).
fn split_first_level(s: &str) -> (&str, Option<&str>) {
    match s.split_once(LEVEL_SEPARATOR) {
        Some((first, rest)) => (first, Some(rest)),
        None => (s, None),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::topic::matches;
    use crate::topic::strategies::{filter_strategy, topic_strategy};

    type Index = RetainedIndex<u32>;

    fn index(topics: &[&str]) -> Index {
        let mut index = Index::new();
        for (i, topic) in topics.iter().enumerate() {
            index.set(topic, i as u32);
        }
        index
    }

    fn topics_matching(index: &Index, filter: &str) -> Vec<String> {
        let mut topics = Vec::new();
        index.for_each_match(filter, |topic, _| topics.push(topic.to_owned()));
        topics.sort();
        topics
    }

    #[test]
    fn set_replaces_and_get_finds() {
        let mut index = Index::new();
        assert_eq!(index.set("a/b", 1), None);
        assert_eq!(index.set("a/b", 2), Some(1));
        assert_eq!(index.set("a", 3), None);
        assert_eq!(index.get("a/b"), Some(&2));
        assert_eq!(index.get("a"), Some(&3));
        assert_eq!(index.get("a/b/c"), None);
        assert_eq!(index.get("b"), None);
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn remove_prunes_every_node() {
        let topics = ["a/b/c", "a/b", "a", "/", "a//b", "$SYS/x", "x/y/z/w"];
        let mut index = index(&topics);
        assert!(index.node_count() > 0);
        assert_eq!(index.remove("a/b/c/d"), None);
        assert_eq!(index.remove("a/b/c"), Some(0));
        assert_eq!(index.remove("a/b/c"), None);
        assert_eq!(index.get("a/b"), Some(&1));
        for topic in &topics[1..] {
            assert!(index.remove(topic).is_some(), "{topic}");
        }
        assert!(index.is_empty());
        assert_eq!(index.node_count(), 0);
    }

    #[test]
    fn remove_prunes_only_the_emptied_branch() {
        let mut index = index(&["a/b/c/d", "a/x"]);
        assert_eq!(index.node_count(), 5);
        index.remove("a/b/c/d");
        assert_eq!(index.node_count(), 2);
        index.set("a/b", 1);
        index.set("a/b/c/d", 2);
        index.remove("a/b/c/d");
        assert_eq!(index.node_count(), 3);
        assert_eq!(index.get("a/b"), Some(&1));
    }

    #[test]
    fn matching_reports_the_full_topic() {
        let index = index(&["a/b/c", "a/b", "a", "a/x/c", "b/b", "a//c"]);
        assert_eq!(topics_matching(&index, "a/b"), ["a/b"]);
        assert_eq!(topics_matching(&index, "a/+/c"), ["a//c", "a/b/c", "a/x/c"]);
        assert_eq!(topics_matching(&index, "+/b"), ["a/b", "b/b"]);
        assert_eq!(
            topics_matching(&index, "#"),
            ["a", "a//c", "a/b", "a/b/c", "a/x/c", "b/b"]
        );
        assert!(topics_matching(&index, "c/#").is_empty());
    }

    #[test]
    fn hash_matches_its_parent_level() {
        let index = index(&["a", "a/b", "ab"]);
        assert_eq!(topics_matching(&index, "a/#"), ["a", "a/b"]);
        assert_eq!(topics_matching(&index, "a/b/#"), ["a/b"]);
    }

    #[test]
    fn plus_plus_matches_a_lone_slash_and_empty_levels() {
        let index = index(&["/", "a", "a/", "a//b"]);
        assert_eq!(topics_matching(&index, "+/+"), ["/", "a/"]);
        assert_eq!(topics_matching(&index, "+"), ["a"]);
        assert_eq!(topics_matching(&index, "a/+/b"), ["a//b"]);
        assert_eq!(topics_matching(&index, "a/+"), ["a/"]);
    }

    #[test]
    fn mqtt_4_7_2_1_dollar_topics_not_matched_by_leading_wildcard() {
        let index = index(&["$SYS/load", "$SYS", "x/load", "x/$SYS"]);
        assert_eq!(topics_matching(&index, "#"), ["x/$SYS", "x/load"]);
        assert_eq!(topics_matching(&index, "+/load"), ["x/load"]);
        assert!(topics_matching(&index, "+").is_empty());
        assert_eq!(topics_matching(&index, "$SYS/#"), ["$SYS", "$SYS/load"]);
        assert_eq!(topics_matching(&index, "$SYS/+"), ["$SYS/load"]);
        assert_eq!(topics_matching(&index, "x/+"), ["x/$SYS", "x/load"]);
    }

    #[test]
    fn retain_drops_rejected_messages_and_prunes() {
        let mut index = index(&["a/b", "a/c", "d", "$SYS/e"]);
        let mut seen = Vec::new();
        index.retain(|topic, message| {
            seen.push(topic.to_owned());
            message % 2 == 1
        });
        seen.sort();
        assert_eq!(seen, ["$SYS/e", "a/b", "a/c", "d"]);
        assert_eq!(index.len(), 2);
        assert_eq!(index.get("a/c"), Some(&1));
        assert_eq!(index.get("$SYS/e"), Some(&3));
        assert_eq!(index.node_count(), 4);
        index.retain(|_, _| false);
        assert!(index.is_empty());
        assert_eq!(index.node_count(), 0);
    }

    #[test]
    fn deepest_topic_does_not_overflow_the_stack() {
        let deep = format!("{}a", "a/".repeat(32_767));
        let mut index = Index::new();
        index.set(&deep, 1);
        index.set("a", 2);
        assert_eq!(index.get(&deep), Some(&1));
        let deep_filter = format!("{}+", "+/".repeat(32_767));
        assert_eq!(topics_matching(&index, &deep_filter), [deep.as_str()]);
        assert_eq!(topics_matching(&index, "#").len(), 2);
        let mut index2 = Index::new();
        index2.set(&deep, 1);
        assert_eq!(index2.remove(&deep), Some(1));
        assert_eq!(index2.node_count(), 0);
        // Dropping a deep index must not recurse either.
        drop(index);

        // 65 536 empty levels.
        let slashes = "/".repeat(65_535);
        let mut index = Index::new();
        index.set(&slashes, 1);
        assert_eq!(topics_matching(&index, "#"), [slashes.as_str()]);
        assert_eq!(
            topics_matching(&index, &format!("{}#", &slashes[1..])),
            [slashes.as_str()]
        );
        assert_eq!(index.node_count(), 65_536);
        index.retain(|_, _| false);
        assert_eq!(index.node_count(), 0);
        index.set(&slashes, 1);
        drop(index);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Set(String, u32),
        Remove(String),
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (topic_strategy(), any::<u32>()).prop_map(|(t, m)| Op::Set(t, m)),
            1 => topic_strategy().prop_map(Op::Remove),
        ]
    }

    proptest! {
        #[test]
        fn retained_agrees_with_reference_matcher(
            ops in prop::collection::vec(op_strategy(), 0..60),
            filters in prop::collection::vec(filter_strategy(), 1..20),
            keep_modulus in 1..4u32,
        ) {
            let mut index = Index::new();
            let mut model: BTreeMap<String, u32> = BTreeMap::new();
            for op in &ops {
                match op {
                    Op::Set(topic, message) => {
                        prop_assert_eq!(index.set(topic, *message), model.insert(topic.clone(), *message));
                    }
                    Op::Remove(topic) => {
                        prop_assert_eq!(index.remove(topic), model.remove(topic));
                    }
                }
                prop_assert_eq!(index.len(), model.len());
            }
            let check = |index: &Index, model: &BTreeMap<String, u32>| {
                for filter in &filters {
                    let mut found = Vec::new();
                    index.for_each_match(filter, |t, m| found.push((t.to_owned(), *m)));
                    found.sort();
                    let expected: Vec<(String, u32)> = model
                        .iter()
                        .filter(|(t, _)| matches(filter, t))
                        .map(|(t, m)| (t.clone(), *m))
                        .collect();
                    assert_eq!(found, expected, "filter {filter:?}");
                }
                for (topic, message) in model {
                    assert_eq!(index.get(topic), Some(message));
                }
            };
            check(&index, &model);

            index.retain(|_, m| m % keep_modulus == 0);
            model.retain(|_, m| *m % keep_modulus == 0);
            prop_assert_eq!(index.len(), model.len());
            check(&index, &model);

            index.retain(|_, _| false);
            prop_assert!(index.is_empty());
            prop_assert_eq!(index.node_count(), 0);
        }
    }
}
