//! Topic names and topic filters: validation and the reference matcher.
//!
//! This module checks the strings a device sends against MQTT 3.1.1 §4.7 and 5.0 §4.7
//! (topic names and filters) and 5.0 §4.8.2 (shared subscriptions). The rules are the
//! same in both versions except where noted.
//!
//! [`matches()`] is the *reference* matcher: it is simple and obviously correct, and the
//! subscription tree ([`crate::tree`]) and the retained index ([`crate::retained`]) are
//! tested against it. It is not the hot path; the tree is.
//!
//! This module does not know about tenants, authorization or per-listener limits (such
//! as a maximum number of topic levels); those are checked by the caller.
//!
//! Spec: <https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html#_Toc398718106>
//! and <https://docs.oasis-open.org/mqtt/mqtt/v5.0/os/mqtt-v5.0-os.html#_Toc3901241>.

use std::fmt;

/// The longest topic name or filter, in bytes [MQTT-4.7.3-3].
pub const MAX_TOPIC_LEN: usize = 65_535;

/// The level separator.
pub const LEVEL_SEPARATOR: char = '/';

/// The single-level wildcard.
pub const SINGLE_LEVEL_WILDCARD: &str = "+";

/// The multi-level wildcard.
pub const MULTI_LEVEL_WILDCARD: &str = "#";

/// The prefix that marks a shared subscription: `$share/{ShareName}/{filter}` (5.0 §4.8.2).
pub const SHARE_PREFIX: &str = "$share/";

/// Why a topic name or topic filter was refused.
///
/// Offsets are byte offsets into the string the device sent (for a shared subscription,
/// including the `$share/` prefix), so a diagnostic can point at the offending character.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum TopicError {
    /// The name or filter is the empty string [MQTT-4.7.3-1].
    Empty,
    /// The name or filter is longer than [`MAX_TOPIC_LEN`] bytes [MQTT-4.7.3-3].
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The name or filter contains U+0000 [MQTT-4.7.3-2].
    NulCharacter {
        /// Byte offset of the NUL.
        offset: usize,
    },
    /// A topic name contains `+` or `#` [MQTT-4.7.1-1] (5.0: [MQTT-4.7.0-1]).
    WildcardInName {
        /// Byte offset of the wildcard.
        offset: usize,
        /// The wildcard found, `'+'` or `'#'`.
        wildcard: char,
    },
    /// A `#` shares its level with other characters, as in `a/b#` [MQTT-4.7.1-2].
    MultiLevelWildcardNotAlone {
        /// Byte offset of the `#`.
        offset: usize,
    },
    /// A `#` level is followed by more levels, as in `a/#/b` [MQTT-4.7.1-2].
    MultiLevelWildcardNotLast {
        /// Byte offset of the `#`.
        offset: usize,
    },
    /// A `+` shares its level with other characters, as in `a/b+` [MQTT-4.7.1-3].
    SingleLevelWildcardNotAlone {
        /// Byte offset of the `+`.
        offset: usize,
    },
    /// A shared subscription has an empty ShareName, as in `$share//a` [MQTT-4.8.2-1].
    EmptyShareName,
    /// The ShareName contains `+` or `#` [MQTT-4.8.2-2].
    InvalidShareName {
        /// Byte offset of the character.
        offset: usize,
        /// The character found.
        character: char,
    },
    /// A shared subscription has no topic filter after its ShareName, as in `$share/g`
    /// or `$share/g/` [MQTT-4.8.2-2].
    MissingShareFilter,
}

impl TopicError {
    /// The identifier of the normative statement this error breaks, such as `"MQTT-4.7.3-1"`.
    ///
    /// Where 3.1.1 and 5.0 number the statement differently, this is the 3.1.1 number,
    /// except for shared subscriptions, which only 5.0 has.
    pub const fn rule(&self) -> &'static str {
        match self {
            Self::Empty => "MQTT-4.7.3-1",
            Self::NulCharacter { .. } => "MQTT-4.7.3-2",
            Self::TooLong { .. } => "MQTT-4.7.3-3",
            Self::WildcardInName { .. } => "MQTT-4.7.1-1",
            Self::MultiLevelWildcardNotAlone { .. } | Self::MultiLevelWildcardNotLast { .. } => {
                "MQTT-4.7.1-2"
            }
            Self::SingleLevelWildcardNotAlone { .. } => "MQTT-4.7.1-3",
            Self::EmptyShareName => "MQTT-4.8.2-1",
            Self::InvalidShareName { .. } | Self::MissingShareFilter => "MQTT-4.8.2-2",
        }
    }
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(
                f,
                "the topic is empty, but topic names and filters must be at least one character long [MQTT-4.7.3-1]"
            ),
            Self::TooLong { len } => write!(
                f,
                "the topic is {len} bytes long, but topic names and filters must not exceed {MAX_TOPIC_LEN} bytes [MQTT-4.7.3-3]"
            ),
            Self::NulCharacter { offset } => write!(
                f,
                "the topic contains a NUL character (U+0000) at byte {offset}, which topic names and filters must not include [MQTT-4.7.3-2]"
            ),
            Self::WildcardInName { offset, wildcard } => write!(
                f,
                "the topic name contains the wildcard '{wildcard}' at byte {offset}, but wildcards are only allowed in topic filters [MQTT-4.7.1-1]"
            ),
            Self::MultiLevelWildcardNotAlone { offset } => write!(
                f,
                "the '#' at byte {offset} shares its level with other characters, but it must stand alone after a '/' or at the start [MQTT-4.7.1-2]"
            ),
            Self::MultiLevelWildcardNotLast { offset } => write!(
                f,
                "the '#' at byte {offset} is followed by more levels, but it must be the last character of the filter [MQTT-4.7.1-2]"
            ),
            Self::SingleLevelWildcardNotAlone { offset } => write!(
                f,
                "the '+' at byte {offset} shares its level with other characters, but it must occupy an entire level [MQTT-4.7.1-3]"
            ),
            Self::EmptyShareName => write!(
                f,
                "the shared subscription has an empty ShareName, but it must be at least one character long [MQTT-4.8.2-1]"
            ),
            Self::InvalidShareName { offset, character } => write!(
                f,
                "the ShareName contains '{character}' at byte {offset}, but it must not contain '/', '+' or '#' [MQTT-4.8.2-2]"
            ),
            Self::MissingShareFilter => write!(
                f,
                "the shared subscription has no topic filter after its ShareName, but '$share/{{ShareName}}/' must be followed by one [MQTT-4.8.2-2]"
            ),
        }
    }
}

impl std::error::Error for TopicError {}

/// A validated topic filter, borrowed from the SUBSCRIBE or UNSUBSCRIBE packet.
///
/// Build it with [`parse_filter`]. The fields are public so the broker can take it apart;
/// a `Filter` built by hand with an invalid `filter` is stored and removed correctly by
/// the tree, but what it matches is unspecified.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub struct Filter<'a> {
    /// The ShareName of a shared subscription (`g` in `$share/g/a/b`), `None` for an
    /// ordinary subscription (5.0 §4.8.2).
    pub share_group: Option<&'a str>,
    /// The topic filter proper, without any `$share/{ShareName}/` prefix (`a/b` above).
    pub filter: &'a str,
}

impl Filter<'_> {
    /// Whether this is a shared subscription (5.0 §4.8.2).
    pub fn is_shared(&self) -> bool {
        self.share_group.is_some()
    }
}

/// Checks a topic name from a PUBLISH packet (or a will topic).
///
/// Refuses the empty string [MQTT-4.7.3-1], wildcards [MQTT-4.7.1-1], NUL [MQTT-4.7.3-2]
/// and names longer than 65 535 bytes [MQTT-4.7.3-3]. A name starting with `$` is
/// accepted: whether a device may publish to `$SYS/...` is authorization policy, not syntax.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    check_string(name)?;
    match name.find(['+', '#']) {
        Some(offset) => Err(TopicError::WildcardInName {
            offset,
            // INVARIANT: `find` returned the offset of one of these two ASCII bytes.
            wildcard: if name.as_bytes()[offset] == b'+' {
                '+'
            } else {
                '#'
            },
        }),
        None => Ok(()),
    }
}

/// A topic name or filter that is valid MQTT but beyond the broker's configured limits
/// (`max_topic_length`, `max_topic_levels`).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum TopicLimit {
    /// Longer than `max_topic_length` bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More levels than `max_topic_levels`.
    TooManyLevels {
        /// Its number of levels.
        levels: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for TopicLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { len, max } => write!(
                f,
                "the topic is {len} bytes long, and this broker accepts at most {max} (max_topic_length)"
            ),
            Self::TooManyLevels { levels, max } => write!(
                f,
                "the topic has {levels} levels, and this broker accepts at most {max} (max_topic_levels)"
            ),
        }
    }
}

/// Checks a topic name, or the filter part of a [`Filter`], against the broker's limits.
/// Cheap for the usual short topic: levels are only counted when there could be too many.
pub fn check_topic_limits(
    topic: &str,
    max_len: usize,
    max_levels: usize,
) -> Result<(), TopicLimit> {
    if topic.len() > max_len {
        return Err(TopicLimit::TooLong {
            len: topic.len(),
            max: max_len,
        });
    }
    // n levels need n - 1 separators, so a topic shorter than the limit cannot exceed it.
    if topic.len() >= max_levels {
        let levels = topic.bytes().filter(|&b| b == b'/').count() + 1;
        if levels > max_levels {
            return Err(TopicLimit::TooManyLevels {
                levels,
                max: max_levels,
            });
        }
    }
    Ok(())
}

/// Parses and checks a topic filter from a SUBSCRIBE or UNSUBSCRIBE packet.
///
/// Checks the string rules of §4.7.3, the wildcard rules [MQTT-4.7.1-2] and
/// [MQTT-4.7.1-3], and splits a shared subscription `$share/{ShareName}/{filter}` into
/// its group and filter [MQTT-4.8.2-1] [MQTT-4.8.2-2]. A filter that merely starts with
/// `$share` without the slash (`$shared/x`, `$share`) is an ordinary filter.
pub fn parse_filter(raw: &str) -> Result<Filter<'_>, TopicError> {
    check_string(raw)?;
    let Some(rest) = raw.strip_prefix(SHARE_PREFIX) else {
        check_filter_levels(raw, 0)?;
        return Ok(Filter {
            share_group: None,
            filter: raw,
        });
    };
    let (group, filter) = match rest.split_once(LEVEL_SEPARATOR) {
        Some((group, filter)) => (group, filter),
        None => (rest, ""),
    };
    if group.is_empty() {
        return Err(TopicError::EmptyShareName);
    }
    if let Some(pos) = group.find(['+', '#']) {
        return Err(TopicError::InvalidShareName {
            offset: SHARE_PREFIX.len() + pos,
            // INVARIANT: `find` returned the offset of one of these two ASCII bytes.
            character: if group.as_bytes()[pos] == b'+' {
                '+'
            } else {
                '#'
            },
        });
    }
    if filter.is_empty() {
        return Err(TopicError::MissingShareFilter);
    }
    check_filter_levels(filter, SHARE_PREFIX.len() + group.len() + 1)?;
    Ok(Filter {
        share_group: Some(group),
        filter,
    })
}

/// Whether `topic` (a valid topic name) matches `filter` (the filter part of a valid
/// [`Filter`], without any `$share/` prefix).
///
/// Levels are separated by `/` and compared byte for byte (topics are case sensitive).
/// `+` matches exactly one level, which may be empty; `#` matches any number of levels,
/// including none, so `a/#` matches `a` (§4.7.1.2). A filter starting with a wildcard does
/// not match a topic starting with `$` [MQTT-4.7.2-1].
///
/// This is the reference matcher the tree and the retained index are tested against.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut filter_levels = filter.split(LEVEL_SEPARATOR);
    let mut topic_levels = topic.split(LEVEL_SEPARATOR);
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            (Some(MULTI_LEVEL_WILDCARD), _) => return true,
            (Some(SINGLE_LEVEL_WILDCARD), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The rules shared by names and filters (§4.7.3): non-empty, at most 65 535 bytes, no NUL.
fn check_string(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong { len: s.len() });
    }
    if let Some(offset) = s.find('\0') {
        return Err(TopicError::NulCharacter { offset });
    }
    Ok(())
}

/// The wildcard rules for the levels of a filter; `base` is the filter's offset in the
/// string the device sent, for error offsets.
fn check_filter_levels(filter: &str, base: usize) -> Result<(), TopicError> {
    let mut offset = base;
    let mut levels = filter.split(LEVEL_SEPARATOR).peekable();
    while let Some(level) = levels.next() {
        if let Some(pos) = level.find('#') {
            if level != MULTI_LEVEL_WILDCARD {
                return Err(TopicError::MultiLevelWildcardNotAlone {
                    offset: offset + pos,
                });
            }
            if levels.peek().is_some() {
                return Err(TopicError::MultiLevelWildcardNotLast { offset });
            }
        }
        if let Some(pos) = level.find('+') {
            if level != SINGLE_LEVEL_WILDCARD {
                return Err(TopicError::SingleLevelWildcardNotAlone {
                    offset: offset + pos,
                });
            }
        }
        offset += level.len() + 1;
    }
    Ok(())
}

/// Proptest strategies shared by the tests of this module, the tree and the retained index.
#[cfg(test)]
pub(crate) mod strategies {
    use proptest::prelude::*;

    /// Valid filters of up to five levels over a small alphabet: `a`, `b`, `$sys`, the
    /// empty level and `+`, optionally followed by `#`. The alphabet is small so that
    /// random filters and topics often match.
    pub(crate) fn filter_strategy() -> impl Strategy<Value = String> {
        let level = prop::sample::select(vec!["a", "b", "$sys", "", "+"]);
        (prop::collection::vec(level, 0..5), any::<bool>()).prop_map(|(mut levels, hash)| {
            if hash || levels.is_empty() {
                levels.push("#");
            }
            non_empty(levels.join("/"))
        })
    }

    /// Topic names of one to five levels over `a`, `b`, `$sys` and the empty level.
    pub(crate) fn topic_strategy() -> impl Strategy<Value = String> {
        let level = prop::sample::select(vec!["a", "b", "$sys", ""]);
        prop::collection::vec(level, 1..6).prop_map(|levels| non_empty(levels.join("/")))
    }

    /// A single empty level joins to the empty string, which is invalid; use `/` (two
    /// empty levels) instead.
    fn non_empty(joined: String) -> String {
        if joined.is_empty() {
            "/".to_owned()
        } else {
            joined
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::strategies::{filter_strategy, topic_strategy};
    use super::*;

    fn plain(filter: &str) -> Filter<'_> {
        Filter {
            share_group: None,
            filter,
        }
    }

    #[test]
    fn mqtt_4_7_3_1_empty_name_and_filter_are_refused() {
        assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
        assert_eq!(parse_filter(""), Err(TopicError::Empty));
    }

    #[test]
    fn mqtt_4_7_3_2_nul_is_refused() {
        assert_eq!(
            validate_topic_name("a/\0"),
            Err(TopicError::NulCharacter { offset: 2 })
        );
        assert_eq!(
            parse_filter("a\0/#"),
            Err(TopicError::NulCharacter { offset: 1 })
        );
    }

    #[test]
    fn mqtt_4_7_3_3_longest_name_is_65535_bytes() {
        let longest = "a".repeat(MAX_TOPIC_LEN);
        assert_eq!(validate_topic_name(&longest), Ok(()));
        assert!(parse_filter(&longest).is_ok());
        let too_long = "a".repeat(MAX_TOPIC_LEN + 1);
        assert_eq!(
            validate_topic_name(&too_long),
            Err(TopicError::TooLong { len: 65_536 })
        );
        assert_eq!(
            parse_filter(&too_long),
            Err(TopicError::TooLong { len: 65_536 })
        );
    }

    #[test]
    fn mqtt_4_7_1_1_wildcards_refused_in_topic_names() {
        assert_eq!(
            validate_topic_name("a/+/b"),
            Err(TopicError::WildcardInName {
                offset: 2,
                wildcard: '+'
            })
        );
        assert_eq!(
            validate_topic_name("a#"),
            Err(TopicError::WildcardInName {
                offset: 1,
                wildcard: '#'
            })
        );
        assert_eq!(validate_topic_name("a/b"), Ok(()));
    }

    #[test]
    fn names_may_have_empty_levels_spaces_and_dollar() {
        for name in ["/", "//", "a//b", "/a", "a/", " ", "$SYS/x", "é/ü"] {
            assert_eq!(validate_topic_name(name), Ok(()), "{name:?}");
        }
    }

    #[test]
    fn mqtt_4_7_1_2_hash_must_be_last() {
        assert_eq!(
            parse_filter("a/#/b"),
            Err(TopicError::MultiLevelWildcardNotLast { offset: 2 })
        );
        assert_eq!(
            parse_filter("#/"),
            Err(TopicError::MultiLevelWildcardNotLast { offset: 0 })
        );
        assert_eq!(parse_filter("a/#"), Ok(plain("a/#")));
        assert_eq!(parse_filter("#"), Ok(plain("#")));
        assert_eq!(parse_filter("/#"), Ok(plain("/#")));
    }

    #[test]
    fn mqtt_4_7_1_2_hash_must_be_alone_in_its_level() {
        assert_eq!(
            parse_filter("a/b#"),
            Err(TopicError::MultiLevelWildcardNotAlone { offset: 3 })
        );
        assert_eq!(
            parse_filter("a#"),
            Err(TopicError::MultiLevelWildcardNotAlone { offset: 1 })
        );
        assert_eq!(
            parse_filter("##"),
            Err(TopicError::MultiLevelWildcardNotAlone { offset: 0 })
        );
    }

    #[test]
    fn mqtt_4_7_1_3_plus_must_occupy_an_entire_level() {
        assert_eq!(
            parse_filter("a/b+"),
            Err(TopicError::SingleLevelWildcardNotAlone { offset: 3 })
        );
        assert_eq!(
            parse_filter("+a"),
            Err(TopicError::SingleLevelWildcardNotAlone { offset: 0 })
        );
        for ok in ["+", "+/+", "/+", "+/", "a/+/b", "+/#", "+//+"] {
            assert_eq!(parse_filter(ok), Ok(plain(ok)), "{ok:?}");
        }
    }

    #[test]
    fn mqtt_4_8_2_shared_subscription_is_split() {
        assert_eq!(
            parse_filter("$share/g1/a/+/#"),
            Ok(Filter {
                share_group: Some("g1"),
                filter: "a/+/#"
            })
        );
        assert!(parse_filter("$share/g/#")
            .map(|f| f.is_shared())
            .unwrap_or(false));
    }

    #[test]
    fn mqtt_4_8_2_1_share_name_must_not_be_empty() {
        assert_eq!(parse_filter("$share//a"), Err(TopicError::EmptyShareName));
        assert_eq!(parse_filter("$share/"), Err(TopicError::EmptyShareName));
    }

    #[test]
    fn mqtt_4_8_2_2_share_name_must_not_contain_wildcards() {
        assert_eq!(
            parse_filter("$share/g+/a"),
            Err(TopicError::InvalidShareName {
                offset: 8,
                character: '+'
            })
        );
        assert_eq!(
            parse_filter("$share/#/a"),
            Err(TopicError::InvalidShareName {
                offset: 7,
                character: '#'
            })
        );
    }

    #[test]
    fn mqtt_4_8_2_2_share_name_must_be_followed_by_a_filter() {
        assert_eq!(
            parse_filter("$share/g"),
            Err(TopicError::MissingShareFilter)
        );
        assert_eq!(
            parse_filter("$share/g/"),
            Err(TopicError::MissingShareFilter)
        );
    }

    #[test]
    fn shared_filter_is_checked_with_offsets_into_the_raw_string() {
        assert_eq!(
            parse_filter("$share/g/a/#/b"),
            Err(TopicError::MultiLevelWildcardNotLast { offset: 11 })
        );
        assert_eq!(
            parse_filter("$share/g/x+"),
            Err(TopicError::SingleLevelWildcardNotAlone { offset: 10 })
        );
    }

    #[test]
    fn share_prefix_without_slash_is_an_ordinary_filter() {
        assert_eq!(parse_filter("$share"), Ok(plain("$share")));
        assert_eq!(parse_filter("$shared/x"), Ok(plain("$shared/x")));
    }

    #[test]
    fn every_error_names_its_rule_in_display() {
        let errors = [
            TopicError::Empty,
            TopicError::TooLong { len: 70_000 },
            TopicError::NulCharacter { offset: 1 },
            TopicError::WildcardInName {
                offset: 1,
                wildcard: '+',
            },
            TopicError::MultiLevelWildcardNotAlone { offset: 1 },
            TopicError::MultiLevelWildcardNotLast { offset: 1 },
            TopicError::SingleLevelWildcardNotAlone { offset: 1 },
            TopicError::EmptyShareName,
            TopicError::InvalidShareName {
                offset: 7,
                character: '#',
            },
            TopicError::MissingShareFilter,
        ];
        for e in errors {
            let text = e.to_string();
            assert!(text.ends_with(&format!("[{}]", e.rule())), "{text}");
            assert!(!text.contains('\n'));
        }
    }

    #[test]
    fn matching_follows_section_4_7_examples() {
        // §4.7.1.2 and §4.7.1.3 examples.
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(matches(
            "sport/tennis/player1/#",
            "sport/tennis/player1/ranking"
        ));
        assert!(matches(
            "sport/tennis/player1/#",
            "sport/tennis/player1/score/wimbledon"
        ));
        assert!(matches("sport/#", "sport"));
        assert!(matches("sport/tennis/+", "sport/tennis/player1"));
        assert!(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(!matches("sport/+", "sport"));
        assert!(matches("sport/+", "sport/"));
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("+", "/finance"));
        assert!(matches("#", "a/b/c"));
        assert!(!matches("a/b", "A/b"));
    }

    #[test]
    fn plus_plus_matches_a_lone_slash() {
        assert!(matches("+/+", "/"));
        assert!(!matches("+", "/"));
        assert!(matches("/", "/"));
        assert!(matches("#", "/"));
        assert!(matches("/#", "/"));
    }

    #[test]
    fn empty_levels_are_levels() {
        assert!(matches("a//b", "a//b"));
        assert!(matches("a/+/b", "a//b"));
        assert!(!matches("a/b", "a//b"));
        assert!(!matches("a/+", "a//b"));
        assert!(matches("a/#", "a//b"));
        assert!(matches("a/", "a/"));
        assert!(!matches("a", "a/"));
        assert!(matches("a/#", "a/"));
    }

    #[test]
    fn mqtt_4_7_2_1_dollar_topics_not_matched_by_leading_wildcard() {
        assert!(!matches("#", "$SYS/broker/load"));
        assert!(!matches("+/broker/load", "$SYS/broker/load"));
        assert!(!matches("+", "$SYS"));
        assert!(matches("$SYS/#", "$SYS/broker/load"));
        assert!(matches("$SYS/+/load", "$SYS/broker/load"));
        // Only a leading `$` is special.
        assert!(matches("#", "a/$SYS"));
        assert!(matches("+/+", "a/$x"));
    }

    proptest! {
        #[test]
        fn generated_names_and_filters_are_valid(
            topic in topic_strategy(),
            filter in filter_strategy(),
        ) {
            prop_assert_eq!(validate_topic_name(&topic), Ok(()));
            prop_assert_eq!(parse_filter(&filter), Ok(plain(&filter)));
            // A topic name is also a filter, and matches itself.
            prop_assert_eq!(parse_filter(&topic), Ok(plain(&topic)));
            prop_assert!(matches(&topic, &topic));
            let shared = format!("$share/g/{filter}");
            prop_assert_eq!(
                parse_filter(&shared),
                Ok(Filter { share_group: Some("g"), filter: &filter })
            );
        }

        #[test]
        fn parsing_and_matching_never_panic(raw in "[a$/+#\\x00]{0,12}", topic in "[a$/]{0,8}") {
            let _ = validate_topic_name(&raw);
            if let Ok(f) = parse_filter(&raw) {
                let _ = matches(f.filter, &topic);
            }
        }
    }
}
