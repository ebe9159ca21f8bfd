//! The subscription tree: which subscriptions match a published topic.
//!
//! [`TopicTree`] maps topic filters to subscribers. Each node is one filter level; the
//! single-level wildcard `+` and the multi-level wildcard `#` live in dedicated fields
//! rather than in the children map, so matching a topic costs, per topic level, one hash
//! lookup plus one step into the `+` child, whatever the number of subscriptions.
//!
//! The tree is generic over the subscriber key `K` (a session handle) and the
//! per-subscription data `V` (options, subscription identifier), which it never looks
//! into. It does not merge overlapping subscriptions of one subscriber
//! (3.1.1 [MQTT-3.3.5-1], 5.0 §3.3.4), apply No Local, pick a QoS, or check
//! authorization: [`TopicTree::for_each_match`] reports every matching subscription and
//! the broker decides what to deliver.
//!
//! # Bounded by construction
//!
//! A topic or filter may have up to 65 536 levels (65 535 bytes of `/`), so nothing here
//! recurses per level: matching, unsubscribing and dropping all walk the tree with explicit
//! loops. Matching keeps its pending branches in a small inline stack, which spills to the
//! heap only for topics of [`INLINE_FRAMES`] levels or more that the tree follows that deep.
//!
//! # Subscribers per node
//!
//! Subscribers of one filter are kept in a `Vec` for fast iteration while publishing.
//! Above [`INDEX_THRESHOLD`] entries a hash index (key → position) is added, so a filter
//! with many thousands of subscribers (fan-out, `$share` worker pools) still subscribes
//! and unsubscribes in O(1), and emptying it is O(n), not O(n²).
//!
//! Child maps use the standard library's `RandomState` hasher: filter levels come from
//! devices, so the map must resist hash flooding.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::topic::{Filter, LEVEL_SEPARATOR, MULTI_LEVEL_WILDCARD, SINGLE_LEVEL_WILDCARD};

/// How many pending branches [`TopicTree::for_each_match`] keeps on the call stack before
/// spilling to the heap. The walk holds at most one pending branch per topic level plus
/// one, so topics of up to 31 levels never allocate.
pub const INLINE_FRAMES: usize = 32;

/// Above this many subscribers on one filter (or members in one shared group), a hash
/// index is kept beside the list so that removal is O(1). It is dropped again below half
/// this number.
pub const INDEX_THRESHOLD: usize = 16;

/// The subscriptions of all sessions of one tenant, indexed by topic filter.
///
/// A subscription is identified by its filter, its share group (if any) and the
/// subscriber key: subscribing again with the same three replaces the value
/// [MQTT-3.8.4-3].
pub struct TopicTree<K, V> {
    root: Node<K, V>,
    len: usize,
}

/// The members of one shared subscription `$share/{name}/{filter}` (5.0 §4.8.2).
///
/// Each matching message goes to one member only; [`SharedGroup::pick`] chooses it.
pub struct SharedGroup<K, V> {
    name: Box<str>,
    members: Slots<K, V>,
    /// Where the next round-robin search starts. Relaxed atomics: concurrent publishers may
    /// occasionally pick the same member, which costs fairness, never correctness.
    cursor: AtomicUsize,
}

impl<K, V> TopicTree<K, V>
where
    K: Clone + Eq + Hash,
{
    /// An empty tree.
    pub fn new() -> Self {
        Self {
            root: Node::default(),
            len: 0,
        }
    }

    /// Adds a subscription of `key` to `filter`, or replaces the value of the existing one
    /// and returns the old value [MQTT-3.8.4-3].
    ///
    /// `filter` should come from [`crate::topic::parse_filter`]. A `#` that is not the
    /// last level is stored as an ordinary level, so such a filter matches nothing.
    pub fn subscribe(&mut self, filter: &Filter<'_>, key: K, value: V) -> Option<V> {
        let (path, multi) = split_filter(filter.filter);
        let mut node = &mut self.root;
        for level in levels(path) {
            node = if level == SINGLE_LEVEL_WILDCARD {
                node.plus.get_or_insert_with(Box::default)
            } else {
                node.children.entry(Box::from(level)).or_default()
            };
        }
        let leaf = if multi {
            node.hash.get_or_insert_with(Box::default)
        } else {
            &mut node.exact
        };
        let replaced = match filter.share_group {
            None => leaf.normal.insert(key, value),
            Some(name) => leaf.group_mut_or_insert(name).members.insert(key, value),
        };
        if replaced.is_none() {
            self.len += 1;
        }
        replaced
    }

    /// Removes the subscription of `key` to `filter` and returns its value, or `None` if
    /// there was none. Nodes left empty are freed, so the tree's memory follows its
    /// contents.
    pub fn unsubscribe(&mut self, filter: &Filter<'_>, key: &K) -> Option<V> {
        let (path, multi) = split_filter(filter.filter);

        // Pass 1: walk down, remove the subscription, and find the topmost node of the
        // chain at the end of the path that holds nothing but that path. `prune_from` is
        // the depth of that chain's parent, whose edge into the chain gets cut.
        let mut node = &mut self.root;
        let mut depth = 0;
        let mut prune_from = None;
        for level in levels(path) {
            if depth > 0 {
                if node.holds_only_one_child() {
                    prune_from.get_or_insert(depth - 1);
                } else {
                    prune_from = None;
                }
            }
            node = node.child_mut(level)?;
            depth += 1;
        }
        let removed = if multi {
            let leaf = node.hash.as_deref_mut()?;
            let removed = leaf.remove(filter.share_group, key)?;
            if leaf.is_empty() {
                node.hash = None;
            }
            removed
        } else {
            node.exact.remove(filter.share_group, key)?
        };
        self.len -= 1;
        if depth == 0 || !node.is_empty() {
            return Some(removed);
        }

        // Pass 2: cut the empty chain off its parent.
        let cut_at = prune_from.unwrap_or(depth - 1);
        let mut parent = &mut self.root;
        let mut path_levels = levels(path);
        for level in path_levels.by_ref().take(cut_at) {
            match parent.child_mut(level) {
                Some(child) => parent = child,
                // Unreachable: pass 1 walked this very path.
                None => return Some(removed),
            }
        }
        if let Some(level) = path_levels.next() {
            if level == SINGLE_LEVEL_WILDCARD {
                parent.plus = None;
            } else {
                parent.children.remove(level);
            }
        }
        Some(removed)
    }

    /// Calls `normal` once for every non-shared subscription whose filter matches `topic`,
    /// and `shared` once for every shared group (one per share name and filter) whose
    /// filter matches it.
    ///
    /// One subscriber with overlapping filters is reported once per filter; merging is
    /// the broker's job. Filters starting with a wildcard do not match topics starting
    /// with `$` [MQTT-4.7.2-1]. `topic` should be a valid topic name
    /// ([`crate::topic::validate_topic_name`]). The order of the calls is unspecified.
    ///
    /// This is the publish hot path: it does not allocate for topics of fewer than
    /// [`INLINE_FRAMES`] levels.
    pub fn for_each_match(
        &self,
        topic: &str,
        mut normal: impl FnMut(&K, &V),
        mut shared: impl FnMut(&SharedGroup<K, V>),
    ) {
        let mut visit = |leaf: &Leaf<K, V>| {
            for (key, value) in leaf.normal.iter() {
                normal(key, value);
            }
            for group in &leaf.shared {
                shared(group);
            }
        };
        let mut pending = Pending::new();

        // The root is special: its wildcards do not match `$` topics [MQTT-4.7.2-1].
        let root = &self.root;
        let (first, rest) = split_first_level(topic);
        if !topic.starts_with('$') {
            if let Some(leaf) = root.hash.as_deref() {
                visit(leaf);
            }
            if let Some(plus) = root.plus.as_deref() {
                pending.push(Frame { node: plus, rest });
            }
        }
        if let Some(child) = root.children.get(first) {
            pending.push(Frame { node: child, rest });
        }

        // Invariant: `node` has matched the levels of `topic` before `rest`.
        while let Some(Frame { node, rest }) = pending.pop() {
            // `a/#` matches `a` as well as everything below it (§4.7.1.2).
            if let Some(leaf) = node.hash.as_deref() {
                visit(leaf);
            }
            match rest {
                None => visit(&node.exact),
                Some(rest) => {
                    let (level, rest) = split_first_level(rest);
                    if let Some(plus) = node.plus.as_deref() {
                        pending.push(Frame { node: plus, rest });
                    }
                    if let Some(child) = node.children.get(level) {
                        pending.push(Frame { node: child, rest });
                    }
                }
            }
        }
    }

    /// The number of subscriptions, shared-group memberships included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the tree holds no subscription.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of nodes below the root, for memory metrics. It is zero when the tree
    /// is empty, because unsubscribing frees empty nodes. This walks the whole tree.
    pub fn node_count(&self) -> usize {
        let mut count = 0;
        let mut stack: Vec<&Node<K, V>> = vec![&self.root];
        while let Some(node) = stack.pop() {
            let children = node.children.values().chain(node.plus.as_deref());
            for child in children {
                count += 1;
                stack.push(child);
            }
        }
        count
    }
}

impl<K, V> Default for TopicTree<K, V>
where
    K: Clone + Eq + Hash,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> fmt::Debug for TopicTree<K, V> {
    /// A summary only: printing a tree of millions of subscriptions helps nobody.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopicTree")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<K, V> SharedGroup<K, V>
where
    K: Clone + Eq + Hash,
{
    /// The ShareName, `g` in `$share/g/a/b`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every member with its subscription value, in unspecified order.
    pub fn members(&self) -> impl Iterator<Item = (&K, &V)> {
        self.members.iter()
    }

    /// The number of members. A group in the tree always has at least one.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the group has no member; never true for a group reported by the tree.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Chooses the member to receive one message: round robin over the members, skipping
    /// those for which `eligible` is false (for example a disconnected session, or one
    /// whose receive window is full). `None` if no member is eligible.
    ///
    /// The spec leaves the choice to the server (5.0 §4.8.2). The rotation is approximate:
    /// members added or removed in between shift positions, and concurrent callers may
    /// pick the same member.
    pub fn pick(&self, mut eligible: impl FnMut(&K) -> bool) -> Option<(&K, &V)> {
        let entries = self.members.as_slice();
        let count = entries.len();
        if count == 0 {
            return None;
        }
        let start = self.cursor.load(Ordering::Relaxed) % count;
        let (before, from_start) = entries.split_at(start);
        for (offset, (key, value)) in from_start.iter().chain(before).enumerate() {
            if eligible(key) {
                self.cursor
                    .store((start + offset + 1) % count, Ordering::Relaxed);
                return Some((key, value));
            }
        }
        None
    }
}

impl<K, V> fmt::Debug for SharedGroup<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedGroup")
            .field("name", &self.name)
            .field("members", &self.members.entries.len())
            .finish_non_exhaustive()
    }
}

/// One filter level. The path from the root spells the filter.
struct Node<K, V> {
    /// Literal next levels (including the empty level).
    children: HashMap<Box<str>, Node<K, V>>,
    /// The `+` next level.
    plus: Option<Box<Node<K, V>>>,
    /// Subscriptions whose filter is this node's path followed by `/#` (or `#` alone at
    /// the root). A `#` is always last, so this is a leaf rather than a node.
    hash: Option<Box<Leaf<K, V>>>,
    /// Subscriptions whose filter ends exactly at this node.
    exact: Leaf<K, V>,
}

impl<K, V> Node<K, V>
where
    K: Clone + Eq + Hash,
{
    fn child_mut(&mut self, level: &str) -> Option<&mut Self> {
        if level == SINGLE_LEVEL_WILDCARD {
            self.plus.as_deref_mut()
        } else {
            self.children.get_mut(level)
        }
    }

    fn is_empty(&self) -> bool {
        self.children.is_empty()
            && self.plus.is_none()
            && self.hash.is_none()
            && self.exact.is_empty()
    }

    /// Whether this node would be empty without its single child.
    fn holds_only_one_child(&self) -> bool {
        self.hash.is_none()
            && self.exact.is_empty()
            && self.children.len() + usize::from(self.plus.is_some()) == 1
    }
}

impl<K, V> Default for Node<K, V> {
    fn default() -> Self {
        Self {
            children: HashMap::new(),
            plus: None,
            hash: None,
            exact: Leaf::default(),
        }
    }
}

impl<K, V> Drop for Node<K, V> {
    /// Dismantles the subtree with a loop: the default drop glue would recurse once per
    /// level and can overflow the stack on a filter of 65 536 levels.
    fn drop(&mut self) {
        fn detach<K, V>(node: &mut Node<K, V>, stack: &mut Vec<Node<K, V>>) {
            stack.extend(node.children.drain().map(|(_, child)| child));
            stack.extend(node.plus.take().map(|child| *child));
        }
        let mut stack = Vec::new();
        detach(self, &mut stack);
        while let Some(mut node) = stack.pop() {
            detach(&mut node, &mut stack);
            // `node` now has no children, so dropping it here does not recurse.
        }
    }
}

/// The subscriptions ending at one place in the tree.
struct Leaf<K, V> {
    normal: Slots<K, V>,
    /// One entry per share name. A filter rarely has more than a few groups, so a list
    /// searched linearly on (un)subscribe beats a map.
    shared: Vec<SharedGroup<K, V>>,
}

impl<K, V> Leaf<K, V>
where
    K: Clone + Eq + Hash,
{
    fn is_empty(&self) -> bool {
        self.normal.is_empty() && self.shared.is_empty()
    }

    fn group_mut_or_insert(&mut self, name: &str) -> &mut SharedGroup<K, V> {
        let position = match self.shared.iter().position(|g| *g.name == *name) {
            Some(position) => position,
            None => {
                self.shared.push(SharedGroup {
                    name: Box::from(name),
                    members: Slots::default(),
                    cursor: AtomicUsize::new(0),
                });
                self.shared.len() - 1
            }
        };
        &mut self.shared[position]
    }

    /// Removes `key` from the normal subscriptions or from group `share_group`, dropping
    /// the group when its last member leaves.
    fn remove(&mut self, share_group: Option<&str>, key: &K) -> Option<V> {
        let Some(name) = share_group else {
            return self.normal.remove(key);
        };
        let position = self.shared.iter().position(|g| *g.name == *name)?;
        let group = &mut self.shared[position];
        let removed = group.members.remove(key)?;
        if group.members.is_empty() {
            self.shared.swap_remove(position);
        }
        Some(removed)
    }
}

impl<K, V> Default for Leaf<K, V> {
    fn default() -> Self {
        Self {
            normal: Slots::default(),
            shared: Vec::new(),
        }
    }
}

/// Key → value pairs in a `Vec`, with a hash index once there are many (see the module
/// documentation). Keys are unique.
struct Slots<K, V> {
    entries: Vec<(K, V)>,
    /// Position of each key in `entries`; present iff `entries` grew past
    /// [`INDEX_THRESHOLD`] and has not since shrunk below half of it.
    index: Option<HashMap<K, usize>>,
}

impl<K, V> Slots<K, V>
where
    K: Clone + Eq + Hash,
{
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn as_slice(&self) -> &[(K, V)] {
        &self.entries
    }

    fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(key, value)| (key, value))
    }

    fn position(&self, key: &K) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    /// Inserts or replaces; returns the replaced value.
    fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(position) = self.position(&key) {
            return self
                .entries
                .get_mut(position)
                .map(|(_, old)| std::mem::replace(old, value));
        }
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), self.entries.len());
        }
        self.entries.push((key, value));
        if self.index.is_none() && self.entries.len() > INDEX_THRESHOLD {
            let index = self
                .entries
                .iter()
                .enumerate()
                .map(|(position, (key, _))| (key.clone(), position))
                .collect();
            self.index = Some(index);
        }
        None
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        let position = self.position(key)?;
        let (_, value) = self.entries.swap_remove(position);
        if self.entries.len() < INDEX_THRESHOLD / 2 {
            self.index = None;
        } else if let Some(index) = &mut self.index {
            index.remove(key);
            // The former last entry now sits at `position`.
            if let Some((moved, _)) = self.entries.get(position) {
                index.insert(moved.clone(), position);
            }
        }
        Some(value)
    }
}

impl<K, V> Default for Slots<K, V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            index: None,
        }
    }
}

/// A node reached by [`TopicTree::for_each_match`] and the topic levels it has yet to
/// match (`None` once all levels are matched).
struct Frame<'a, K, V> {
    node: &'a Node<K, V>,
    rest: Option<&'a str>,
}

/// The walk's stack of pending branches: [`INLINE_FRAMES`] slots on the call stack, then
/// a `Vec` that is only allocated if the walk goes deeper.
struct Pending<'a, K, V> {
    inline: [Option<Frame<'a, K, V>>; INLINE_FRAMES],
    inline_len: usize,
    spill: Vec<Frame<'a, K, V>>,
}

impl<'a, K, V> Pending<'a, K, V> {
    fn new() -> Self {
        Self {
            inline: [const { None }; INLINE_FRAMES],
            inline_len: 0,
            spill: Vec::new(),
        }
    }

    fn push(&mut self, frame: Frame<'a, K, V>) {
        match self.inline.get_mut(self.inline_len) {
            Some(slot) => {
                *slot = Some(frame);
                self.inline_len += 1;
            }
            None => self.spill.push(frame),
        }
    }

    /// Last in, first out: the spill only fills while the inline slots are full, so it
    /// always holds the newest frames.
    fn pop(&mut self) -> Option<Frame<'a, K, V>> {
        if let Some(frame) = self.spill.pop() {
            return Some(frame);
        }
        self.inline_len = self.inline_len.checked_sub(1)?;
        self.inline.get_mut(self.inline_len)?.take()
    }
}

/// Splits a filter into its levels before a trailing `#` and whether it had one:
/// `a/b/#` → (`Some("a/b")`, true), `#` → (`None`, true), `/#` → (`Some("")`, true),
/// `a/b` → (`Some("a/b")`, false). `None` means no level at all.
fn split_filter(filter: &str) -> (Option<&str>, bool) {
    if filter == MULTI_LEVEL_WILDCARD {
        return (None, true);
    }
    match filter.strip_suffix(MULTI_LEVEL_WILDCARD) {
        Some(path) => match path.strip_suffix(LEVEL_SEPARATOR) {
            Some(path) => (Some(path), true),
            // `a#` is not a wildcard (and not a valid filter); keep it as a level.
            None => (Some(filter), false),
        },
        None => (Some(filter), false),
    }
}

/// The levels of a path from [`split_filter`].
fn levels(path: Option<&str>) -> impl Iterator<Item = &str> {
    path.into_iter()
        .flat_map(|path| path.split(LEVEL_SEPARATOR))
}

/// `a/b/c` → (`a`, `Some("b/c")`); `c` → (`c`, `None`). An empty string is one empty level.
fn split_first_level(topic: &str) -> (&str, Option<&str>) {
    match topic.split_once(LEVEL_SEPARATOR) {
        Some((first, rest)) => (first, Some(rest)),
        None => (topic, None),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::topic::strategies::filter_strategy;
    use crate::topic::strategies::topic_strategy;
    use crate::topic::{matches, parse_filter};

    type Tree = TopicTree<u32, u32>;

    fn filter(raw: &str) -> Filter<'_> {
        parse_filter(raw).expect("test filters are valid")
    }

    /// Normal matches as sorted (key, value) pairs, shared matches as sorted group names.
    fn matched(tree: &Tree, topic: &str) -> (Vec<(u32, u32)>, Vec<String>) {
        let mut normal = Vec::new();
        let mut shared = Vec::new();
        tree.for_each_match(
            topic,
            |k, v| normal.push((*k, *v)),
            |g| shared.push(g.name().to_owned()),
        );
        normal.sort_unstable();
        shared.sort_unstable();
        (normal, shared)
    }

    fn keys(tree: &Tree, topic: &str) -> Vec<u32> {
        matched(tree, topic).0.into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn exact_filter_matches_only_its_topic() {
        let mut tree = Tree::new();
        tree.subscribe(&filter("a/b"), 1, 10);
        assert_eq!(keys(&tree, "a/b"), [1]);
        assert!(keys(&tree, "a").is_empty());
        assert!(keys(&tree, "a/b/c").is_empty());
        assert!(keys(&tree, "a/c").is_empty());
        assert_eq!(tree.len(), 1);
    }

    #[test]
    fn mqtt_3_8_4_3_resubscribe_replaces_the_subscription() {
        let mut tree = Tree::new();
        assert_eq!(tree.subscribe(&filter("a/+"), 1, 10), None);
        assert_eq!(tree.subscribe(&filter("a/+"), 1, 11), Some(10));
        assert_eq!(tree.len(), 1);
        assert_eq!(matched(&tree, "a/x").0, [(1, 11)]);
        // Same filter in a shared group is a different subscription.
        assert_eq!(tree.subscribe(&filter("$share/g/a/+"), 1, 12), None);
        assert_eq!(tree.subscribe(&filter("$share/g/a/+"), 1, 13), Some(12));
        assert_eq!(tree.len(), 2);
    }

    #[test]
    fn overlapping_subscriptions_of_one_key_are_each_reported() {
        let mut tree = Tree::new();
        for (i, f) in ["a/b", "a/+", "a/#", "#", "+/b", "+/+"].iter().enumerate() {
            tree.subscribe(&filter(f), 7, i as u32);
        }
        tree.subscribe(&filter("a/c"), 8, 99);
        assert_eq!(
            matched(&tree, "a/b").0,
            [(7, 0), (7, 1), (7, 2), (7, 3), (7, 4), (7, 5)]
        );
        assert_eq!(keys(&tree, "a/c"), [7, 7, 7, 7, 8]);
    }

    #[test]
    fn hash_matches_its_parent_level() {
        let mut tree = Tree::new();
        tree.subscribe(&filter("a/#"), 1, 0);
        tree.subscribe(&filter("a/b/#"), 2, 0);
        assert_eq!(keys(&tree, "a"), [1]);
        assert_eq!(keys(&tree, "a/b"), [1, 2]);
        assert_eq!(keys(&tree, "a/b/c/d"), [1, 2]);
        assert!(keys(&tree, "b").is_empty());
        assert!(keys(&tree, "ab").is_empty());
    }

    #[test]
    fn plus_matches_one_level_which_may_be_empty() {
        let mut tree = Tree::new();
        tree.subscribe(&filter("+/+"), 1, 0);
        tree.subscribe(&filter("+"), 2, 0);
        tree.subscribe(&filter("/+"), 3, 0);
        tree.subscribe(&filter("a/+"), 4, 0);
        assert_eq!(keys(&tree, "/"), [1, 3]);
        assert_eq!(keys(&tree, "a"), [2]);
        assert_eq!(keys(&tree, "a/"), [1, 4]);
        assert_eq!(keys(&tree, "/finance"), [1, 3]);
        assert!(keys(&tree, "a/b/c").is_empty());
    }

    #[test]
    fn empty_levels_are_levels() {
        let mut tree = Tree::new();
        tree.subscribe(&filter("a//b"), 1, 0);
        tree.subscribe(&filter("a/+/b"), 2, 0);
        tree.subscribe(&filter("a/b"), 3, 0);
        tree.subscribe(&filter("a//#"), 4, 0);
        assert_eq!(keys(&tree, "a//b"), [1, 2, 4]);
        assert_eq!(keys(&tree, "a/b"), [3]);
        assert_eq!(keys(&tree, "a/"), [4]);
    }

    #[test]
    fn mqtt_4_7_2_1_dollar_topics_not_matched_by_leading_wildcard() {
        let mut tree = Tree::new();
        tree.subscribe(&filter("#"), 1, 0);
        tree.subscribe(&filter("+/load"), 2, 0);
        tree.subscribe(&filter("$SYS/#"), 3, 0);
        tree.subscribe(&filter("$SYS/+"), 4, 0);
        tree.subscribe(&filter("$share/g/#"), 5, 0);
        tree.subscribe(&filter("$share/h/$SYS/load"), 6, 0);
        assert_eq!(
            matched(&tree, "$SYS/load"),
            (vec![(3, 0), (4, 0)], vec!["h".to_owned()])
        );
        assert_eq!(
            matched(&tree, "x/load"),
            (vec![(1, 0), (2, 0)], vec!["g".to_owned()])
        );
        // Only a leading `$` is special.
        assert_eq!(keys(&tree, "a/$SYS"), [1]);
    }

    #[test]
    fn shared_group_is_reported_once_per_name_and_filter() {
        let mut tree = Tree::new();
        for key in 1..=3 {
            tree.subscribe(&filter("$share/g/a/+"), key, 0);
        }
        tree.subscribe(&filter("$share/g/a/#"), 4, 0);
        tree.subscribe(&filter("$share/h/a/+"), 5, 0);
        tree.subscribe(&filter("a/+"), 6, 0);
        let mut groups = Vec::new();
        tree.for_each_match(
            "a/b",
            |_, _| {},
            |g| {
                let mut members: Vec<u32> = g.members().map(|(k, _)| *k).collect();
                members.sort_unstable();
                groups.push((g.name().to_owned(), members));
            },
        );
        groups.sort();
        assert_eq!(
            groups,
            [
                ("g".to_owned(), vec![1, 2, 3]),
                ("g".to_owned(), vec![4]),
                ("h".to_owned(), vec![5]),
            ]
        );
        assert_eq!(keys(&tree, "a/b"), [6]);
        assert_eq!(tree.len(), 6);
    }

    fn the_group(tree: &Tree, topic: &str, mut f: impl FnMut(&SharedGroup<u32, u32>)) {
        let mut seen = 0;
        tree.for_each_match(
            topic,
            |_, _| {},
            |g| {
                seen += 1;
                f(g);
            },
        );
        assert_eq!(seen, 1);
    }

    #[test]
    fn shared_group_round_robin_skips_ineligible_members() {
        let mut tree = Tree::new();
        for key in 1..=4 {
            tree.subscribe(&filter("$share/g/t"), key, key * 10);
        }
        let mut picks = Vec::new();
        the_group(&tree, "t", |g| {
            for _ in 0..8 {
                picks.push(g.pick(|_| true).map(|(k, v)| (*k, *v)));
            }
        });
        // Each member twice, in a fixed rotation, with its own value.
        let mut counts = BTreeMap::new();
        for pick in &picks {
            let (k, v) = pick.expect("all members are eligible");
            assert_eq!(v, k * 10);
            *counts.entry(k).or_insert(0) += 1;
        }
        assert_eq!(counts.values().copied().collect::<Vec<_>>(), [2, 2, 2, 2]);
        assert_eq!(picks[0..4], picks[4..8]);

        // With 2 ineligible, the other two alternate.
        let mut picked = Vec::new();
        the_group(&tree, "t", |g| {
            for _ in 0..6 {
                picked.push(g.pick(|k| *k % 2 == 1).map(|(k, _)| *k));
            }
        });
        assert!(picked.iter().all(|k| matches!(k, Some(1 | 3))));
        assert!(picked.windows(2).all(|w| w[0] != w[1]));

        // Nobody eligible.
        the_group(&tree, "t", |g| assert_eq!(g.pick(|_| false), None));
    }

    #[test]
    fn shared_group_pick_survives_members_leaving() {
        let mut tree = Tree::new();
        for key in 1..=3 {
            tree.subscribe(&filter("$share/g/t"), key, 0);
        }
        the_group(&tree, "t", |g| {
            g.pick(|_| true);
            g.pick(|_| true);
            g.pick(|_| true);
        });
        tree.unsubscribe(&filter("$share/g/t"), &1);
        tree.unsubscribe(&filter("$share/g/t"), &2);
        the_group(&tree, "t", |g| {
            assert_eq!(g.len(), 1);
            assert_eq!(g.pick(|_| true).map(|(k, _)| *k), Some(3));
            assert_eq!(g.pick(|_| true).map(|(k, _)| *k), Some(3));
        });
    }

    #[test]
    fn unsubscribe_returns_the_value_and_prunes_every_node() {
        let mut tree = Tree::new();
        let filters = [
            "a/b/c",
            "a/b",
            "a/+/c",
            "a/#",
            "#",
            "+",
            "/",
            "a//b",
            "$share/g/a/b/c",
            "$share/g/#",
            "x/y/z/+/#",
        ];
        for (i, f) in filters.iter().enumerate() {
            tree.subscribe(&filter(f), 1, i as u32);
            tree.subscribe(&filter(f), 2, i as u32);
        }
        assert!(tree.node_count() > 0);
        assert_eq!(tree.len(), 2 * filters.len());
        for (i, f) in filters.iter().enumerate() {
            assert_eq!(tree.unsubscribe(&filter(f), &1), Some(i as u32), "{f}");
            assert_eq!(tree.unsubscribe(&filter(f), &1), None, "{f}");
        }
        // Unsubscribe in reverse order for the other key.
        for (i, f) in filters.iter().enumerate().rev() {
            assert_eq!(tree.unsubscribe(&filter(f), &2), Some(i as u32), "{f}");
        }
        assert!(tree.is_empty());
        assert_eq!(tree.node_count(), 0);
    }

    #[test]
    fn unsubscribe_prunes_only_the_emptied_branch() {
        let mut tree = Tree::new();
        tree.subscribe(&filter("a/b/c/d"), 1, 0);
        tree.subscribe(&filter("a/x"), 1, 0);
        assert_eq!(tree.node_count(), 5);
        tree.unsubscribe(&filter("a/b/c/d"), &1);
        assert_eq!(tree.node_count(), 2); // a, a/x
        assert_eq!(keys(&tree, "a/x"), [1]);

        // A node that still has subscribers of its own stops the pruning.
        tree.subscribe(&filter("a/b"), 2, 0);
        tree.subscribe(&filter("a/b/c/d"), 2, 0);
        tree.unsubscribe(&filter("a/b/c/d"), &2);
        assert_eq!(tree.node_count(), 3); // a, a/x, a/b
        assert_eq!(keys(&tree, "a/b"), [2]);
    }

    #[test]
    fn unsubscribe_of_unknown_subscription_changes_nothing() {
        let mut tree = Tree::new();
        tree.subscribe(&filter("a/b"), 1, 0);
        assert_eq!(tree.unsubscribe(&filter("a/b"), &2), None);
        assert_eq!(tree.unsubscribe(&filter("a/b/c"), &1), None);
        assert_eq!(tree.unsubscribe(&filter("a/#"), &1), None);
        assert_eq!(tree.unsubscribe(&filter("$share/g/a/b"), &1), None);
        assert_eq!(tree.unsubscribe(&filter("a"), &1), None);
        assert_eq!(tree.len(), 1);
        assert_eq!(tree.node_count(), 2);
        assert_eq!(keys(&tree, "a/b"), [1]);
    }

    #[test]
    fn fan_out_of_many_subscribers_on_one_filter() {
        const N: u32 = 20_000;
        let mut tree = Tree::new();
        for key in 0..N {
            tree.subscribe(&filter("broadcast/#"), key, key);
            tree.subscribe(&filter("$share/workers/jobs"), key, key);
        }
        assert_eq!(tree.len(), 2 * N as usize);
        assert_eq!(keys(&tree, "broadcast/x").len(), N as usize);
        // Remove every other key, checking the index stays consistent with the values.
        for key in (0..N).step_by(2) {
            assert_eq!(tree.unsubscribe(&filter("broadcast/#"), &key), Some(key));
            assert_eq!(
                tree.unsubscribe(&filter("$share/workers/jobs"), &key),
                Some(key)
            );
        }
        let remaining = matched(&tree, "broadcast");
        assert!(remaining.0.iter().all(|(k, v)| k == v && k % 2 == 1));
        assert_eq!(remaining.0.len(), (N / 2) as usize);
        for key in (1..N).step_by(2).rev() {
            assert_eq!(
                tree.subscribe(&filter("broadcast/#"), key, key + 1),
                Some(key)
            );
            assert_eq!(
                tree.unsubscribe(&filter("broadcast/#"), &key),
                Some(key + 1)
            );
            assert_eq!(
                tree.unsubscribe(&filter("$share/workers/jobs"), &key),
                Some(key)
            );
        }
        assert!(tree.is_empty());
        assert_eq!(tree.node_count(), 0);
    }

    #[test]
    fn deepest_filter_and_topic_do_not_overflow_the_stack() {
        // 32 768 non-empty levels, the most that fit in 65 535 bytes.
        let deep_filter = format!("{}+", "+/".repeat(32_767));
        let deep_topic = format!("{}a", "a/".repeat(32_767));
        let literal_filter = deep_topic.clone();
        let mut tree = Tree::new();
        tree.subscribe(&filter(&deep_filter), 1, 0);
        tree.subscribe(&filter(&literal_filter), 2, 0);
        tree.subscribe(&filter("a/#"), 3, 0);
        assert_eq!(keys(&tree, &deep_topic), [1, 2, 3]);
        assert_eq!(tree.unsubscribe(&filter(&deep_filter), &1), Some(0));
        assert_eq!(tree.node_count(), 32_768);
        // Dropping a deep tree must not recurse either.
        drop(tree);

        // 65 536 empty levels.
        let slashes = "/".repeat(65_535);
        let mut tree = Tree::new();
        tree.subscribe(&filter(&slashes), 1, 0);
        tree.subscribe(&filter(&format!("{}#", &slashes[1..])), 2, 0);
        assert_eq!(keys(&tree, &slashes), [1, 2]);
        assert_eq!(tree.node_count(), 65_536);
        assert_eq!(tree.unsubscribe(&filter(&slashes), &1), Some(0));
        assert_eq!(
            tree.unsubscribe(&filter(&format!("{}#", &slashes[1..])), &2),
            Some(0)
        );
        assert_eq!(tree.node_count(), 0);
        tree.subscribe(&filter(&slashes), 1, 0);
        drop(tree);
    }

    #[test]
    fn pending_stack_spills_and_stays_last_in_first_out() {
        let node: Node<u32, u32> = Node::default();
        let mut pending = Pending::new();
        let rests: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        for rest in &rests {
            pending.push(Frame {
                node: &node,
                rest: Some(rest),
            });
        }
        for rest in rests.iter().rev() {
            assert_eq!(pending.pop().and_then(|f| f.rest), Some(rest.as_str()));
        }
        assert!(pending.pop().is_none());
    }

    #[test]
    fn split_filter_separates_the_trailing_hash() {
        assert_eq!(split_filter("#"), (None, true));
        assert_eq!(split_filter("/#"), (Some(""), true));
        assert_eq!(split_filter("a/b/#"), (Some("a/b"), true));
        assert_eq!(split_filter("a/b"), (Some("a/b"), false));
        assert_eq!(split_filter("a#"), (Some("a#"), false));
        assert_eq!(levels(None).count(), 0);
        assert_eq!(levels(Some("")).collect::<Vec<_>>(), [""]);
    }

    // ---- Property tests against the reference matcher ----

    #[derive(Clone, Debug)]
    enum Op {
        Subscribe {
            group: Option<&'static str>,
            filter: String,
            key: u32,
            value: u32,
        },
        Unsubscribe {
            group: Option<&'static str>,
            filter: String,
            key: u32,
        },
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        let group = prop::option::weighted(0.3, prop::sample::select(vec!["g", "h"]));
        prop_oneof![
            3 => (group.clone(), filter_strategy(), 0..4u32, any::<u32>()).prop_map(
                |(group, filter, key, value)| Op::Subscribe { group, filter, key, value }
            ),
            1 => (group, filter_strategy(), 0..4u32)
                .prop_map(|(group, filter, key)| Op::Unsubscribe { group, filter, key }),
        ]
    }

    type Model = BTreeMap<(Option<&'static str>, String, u32), u32>;

    fn apply(tree: &mut Tree, model: &mut Model, op: &Op) {
        match op {
            Op::Subscribe {
                group,
                filter,
                key,
                value,
            } => {
                let f = Filter {
                    share_group: *group,
                    filter,
                };
                let expected = model.insert((*group, filter.clone(), *key), *value);
                assert_eq!(tree.subscribe(&f, *key, *value), expected);
            }
            Op::Unsubscribe { group, filter, key } => {
                let f = Filter {
                    share_group: *group,
                    filter,
                };
                let expected = model.remove(&(*group, filter.clone(), *key));
                assert_eq!(tree.unsubscribe(&f, key), expected);
            }
        }
        assert_eq!(tree.len(), model.len());
    }

    type SharedMatch = (String, Vec<(u32, u32)>);

    fn tree_matches(tree: &Tree, topic: &str) -> (Vec<(u32, u32)>, Vec<SharedMatch>) {
        let mut normal = Vec::new();
        let mut shared = Vec::new();
        tree.for_each_match(
            topic,
            |k, v| normal.push((*k, *v)),
            |g| {
                let mut members: Vec<(u32, u32)> = g.members().map(|(k, v)| (*k, *v)).collect();
                members.sort_unstable();
                shared.push((g.name().to_owned(), members));
            },
        );
        normal.sort_unstable();
        shared.sort();
        (normal, shared)
    }

    fn naive_matches(model: &Model, topic: &str) -> (Vec<(u32, u32)>, Vec<SharedMatch>) {
        let mut normal = Vec::new();
        let mut groups: BTreeMap<(&str, &str), Vec<(u32, u32)>> = BTreeMap::new();
        for ((group, filter, key), value) in model {
            if !matches(filter, topic) {
                continue;
            }
            match group {
                None => normal.push((*key, *value)),
                Some(name) => groups
                    .entry((name, filter))
                    .or_default()
                    .push((*key, *value)),
            }
        }
        normal.sort_unstable();
        let mut shared: Vec<SharedMatch> = groups
            .into_iter()
            .map(|((name, _), mut members)| {
                members.sort_unstable();
                (name.to_owned(), members)
            })
            .collect();
        shared.sort();
        (normal, shared)
    }

    proptest! {
        #[test]
        fn tree_agrees_with_reference_matcher(
            ops in prop::collection::vec(op_strategy(), 0..60),
            topics in prop::collection::vec(topic_strategy(), 1..20),
        ) {
            let mut tree = Tree::new();
            let mut model = Model::new();
            for op in &ops {
                apply(&mut tree, &mut model, op);
            }
            for topic in &topics {
                prop_assert_eq!(tree_matches(&tree, topic), naive_matches(&model, topic));
            }
            // Emptying the tree frees every node.
            let subscriptions: Vec<_> = model.keys().cloned().collect();
            for (group, filter, key) in subscriptions {
                apply(&mut tree, &mut model, &Op::Unsubscribe { group, filter, key });
            }
            prop_assert!(tree.is_empty());
            prop_assert_eq!(tree.node_count(), 0);
        }

        #[test]
        fn every_shared_group_reported_has_members(
            ops in prop::collection::vec(op_strategy(), 0..60),
            topic in topic_strategy(),
        ) {
            let mut tree = Tree::new();
            let mut model = Model::new();
            for op in &ops {
                apply(&mut tree, &mut model, op);
            }
            tree.for_each_match(&topic, |_, _| {}, |g| {
                assert!(!g.is_empty());
                assert!(g.pick(|_| true).is_some());
            });
        }
    }
}
