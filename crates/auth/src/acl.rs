//! mosquitto ACL files (`acl_file` in mosquitto.conf(5)); see [`AclFile`] for the format.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lantern_broker::auth::{Access, Acl, AclDecision, AclSubject};
use lantern_broker::topic::{
    matches, parse_filter, validate_topic_name, TopicError, LEVEL_SEPARATOR, MULTI_LEVEL_WILDCARD,
    SINGLE_LEVEL_WILDCARD,
};

/// A parsed mosquitto ACL file.
///
/// ```text
/// # Rules before any `user` line are for anonymous clients (no user name).
/// topic read public/#
///
/// user alice
/// topic readwrite alice/#
/// topic deny alice/secret
///
/// # Rules for every client; %c and %u stand for the client id and user name.
/// pattern write devices/%c/telemetry
/// pattern read users/%u/#
/// ```
///
/// Lines are `topic [read|write|readwrite|deny] FILTER`, `pattern [read|write|readwrite|deny]
/// FILTER` and `user NAME` (the name is the rest of the line, spaces included); the access word
/// defaults to `readwrite`. A filter containing spaces needs an explicit access word, as in
/// mosquitto. Evaluation:
///
/// - a client's rules are those of its section (the `user` section naming it, or the anonymous
///   section for a client without user name) plus every `pattern` line; a client with a user
///   name but no section gets the patterns only;
/// - a matching `deny` rule wins over any grant, wherever it is in the file;
/// - otherwise a matching rule granting the access allows it, and without one access is denied.
///
/// Patterns differ from mosquitto 2.0 in two deliberate ways, both failing closed:
/// `%c` and `%u` are substituted only when they fill a whole topic level (a level such as
/// `dev-%c` is refused when the file is loaded rather than silently never matching), and a
/// pattern using `%c` (or `%u`) does not apply at all to a client whose client id (or user
/// name) is empty or contains `/`, `+` or `#` (mosquitto refuses every pattern for `+` and `#`
/// only), nor does a `%u` pattern apply to an anonymous client.
///
/// A SUBSCRIBE is allowed when a read rule can match some topic that the subscription filter
/// also matches ([`filters_intersect`]) and no deny rule covers the whole filter
/// ([`filter_covers`]); each delivery is then checked topic by topic, so `#` under a rule
/// `topic read a/#` is accepted but delivers only `a/...` messages. (mosquitto 2.0's default ACL
/// does not check subscriptions at all.)
#[derive(Debug)]
pub struct AclFile {
    origin: String,
    /// `topic` lines before the first `user` line.
    anonymous: Vec<Rule>,
    /// `topic` lines per `user` section; a user named twice has its sections merged.
    users: HashMap<String, Vec<Rule>>,
    /// `pattern` lines, wherever they are.
    patterns: Vec<Rule>,
}

impl AclFile {
    /// Reads and parses the ACL file at `path`; errors and decisions name the file as given.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, AclFileError> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|source| AclFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses the text of an ACL file; `origin` names it in errors and decisions.
    pub fn parse(text: &str, origin: &str) -> Result<Self, AclFileError> {
        let mut file = Self {
            origin: origin.to_owned(),
            anonymous: Vec::new(),
            users: HashMap::new(),
            patterns: Vec::new(),
        };
        let mut section: Option<String> = None;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let error = |problem| AclFileError::Line {
                origin: origin.to_owned(),
                line,
                problem,
            };
            let content = raw.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let (keyword, rest) = split_word(content);
            match keyword {
                "user" => {
                    if rest.is_empty() {
                        return Err(error(AclProblem::MissingUsername));
                    }
                    file.users.entry(rest.to_owned()).or_default();
                    section = Some(rest.to_owned());
                }
                "topic" | "pattern" => {
                    let is_pattern = keyword == "pattern";
                    let (access, filter) = parse_rule(rest, is_pattern).map_err(error)?;
                    let rule = Rule {
                        line,
                        text: content.to_owned(),
                        access,
                        filter,
                    };
                    if is_pattern {
                        file.patterns.push(rule);
                    } else if let Some(user) = &section {
                        file.users.entry(user.clone()).or_default().push(rule);
                    } else {
                        file.anonymous.push(rule);
                    }
                }
                other => {
                    return Err(error(AclProblem::UnknownKeyword {
                        keyword: other.to_owned(),
                    }))
                }
            }
        }
        Ok(file)
    }

    /// The name the file was loaded or parsed under.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Runs the rules that apply to `subject`: the first deny rule for which `denies` holds
    /// decides; failing that, the first grant for which `grants` holds.
    fn evaluate<'r>(
        &'r self,
        subject: &AclSubject<'_>,
        denies: impl Fn(&str) -> bool,
        grants: impl Fn(&str, RuleAccess) -> bool,
    ) -> Outcome<'r> {
        let section: &[Rule] = match subject.username {
            None => &self.anonymous,
            Some(user) => self.users.get(user).map_or(&[], Vec::as_slice),
        };
        let mut skipped = None;
        let mut granted = None;
        for rule in section.iter().chain(&self.patterns) {
            let filter = match rule.filter.resolve(subject) {
                Ok(filter) => filter,
                Err(skip) => {
                    skipped.get_or_insert(skip);
                    continue;
                }
            };
            if rule.access == RuleAccess::Deny {
                if denies(&filter) {
                    return Outcome::Decided(rule, false);
                }
            } else if granted.is_none() && grants(&filter, rule.access) {
                granted = Some(rule);
            }
        }
        match granted {
            Some(rule) => Outcome::Decided(rule, true),
            None => Outcome::NoRule { skipped },
        }
    }

    /// Turns an outcome into a decision whose rule text names the line, or explains why no
    /// line allowed `what`.
    fn decision(&self, subject: &AclSubject<'_>, outcome: Outcome<'_>, what: &str) -> AclDecision {
        match outcome {
            Outcome::Decided(rule, allowed) => AclDecision {
                allowed,
                rule: format!("{}:{}: {}", self.origin, rule.line, rule.text).into(),
            },
            Outcome::NoRule { skipped } => {
                let mut text = match subject.username {
                    None => format!(
                        "{}: no rule for anonymous clients allows {what}",
                        self.origin
                    ),
                    Some(user) => {
                        let mut text =
                            format!("{}: no rule for user {user:?} allows {what}", self.origin);
                        if !self.users.contains_key(user) {
                            text.push_str(&format!(
                                " (there is no `user {user}` section, so only pattern lines apply)"
                            ));
                        }
                        text
                    }
                };
                if let Some(skip) = skipped {
                    text.push_str(&format!(" ({})", skip.explain(subject)));
                }
                denied(text)
            }
        }
    }
}

impl Acl for AclFile {
    fn check(&self, subject: &AclSubject<'_>, access: Access, topic: &str) -> AclDecision {
        if let Err(error) = validate_topic_name(topic) {
            return denied(format!(
                "{}: {topic:?} is not a valid topic name: {error}",
                self.origin
            ));
        }
        let outcome = self.evaluate(
            subject,
            |filter| matches(filter, topic),
            |filter, granted| granted.allows(access) && matches(filter, topic),
        );
        self.decision(
            subject,
            outcome,
            &format!("{} on {topic:?}", access.as_str()),
        )
    }

    fn check_subscribe(&self, subject: &AclSubject<'_>, filter: &str) -> AclDecision {
        let requested = match parse_filter(filter) {
            Ok(parsed) => parsed.filter,
            Err(error) => {
                return denied(format!(
                    "{}: {filter:?} is not a valid topic filter: {error}",
                    self.origin
                ))
            }
        };
        let outcome = self.evaluate(
            subject,
            |rule| filter_covers(rule, requested),
            |rule, granted| granted.allows(Access::Read) && filters_intersect(rule, requested),
        );
        self.decision(
            subject,
            outcome,
            &format!("reading any topic that {filter:?} matches"),
        )
    }
}

/// Whether some topic name matches both filters `a` and `b` (valid filters without a
/// `$share/` prefix).
///
/// Compared level by level: `#` matches the rest (including its parent level, so `a/#` meets
/// `a`), `+` meets any one level, other levels must be equal. A filter whose first level is a
/// wildcard matches no topic starting with `$` [MQTT-4.7.2-1], so `#` does not meet `$SYS/#`.
/// Only valid topic names count, so `+` does not meet `/#`: the one topic both match is the
/// empty string [MQTT-4.7.3-1].
pub fn filters_intersect(a: &str, b: &str) -> bool {
    let a_first = first_level(a);
    let b_first = first_level(b);
    if (is_wildcard(a_first) && b_first.starts_with('$'))
        || (is_wildcard(b_first) && a_first.starts_with('$'))
    {
        return false;
    }
    // A witness of exactly one level is the empty topic if either filter fixes that level empty.
    let one_level_witness_ok = !a_first.is_empty() && !b_first.is_empty();
    let mut a_levels = a.split(LEVEL_SEPARATOR);
    let mut b_levels = b.split(LEVEL_SEPARATOR);
    let mut levels = 0usize;
    loop {
        match (a_levels.next(), b_levels.next()) {
            // The other filter ended: the witness has exactly its levels.
            (Some(MULTI_LEVEL_WILDCARD), None)
            | (None, Some(MULTI_LEVEL_WILDCARD))
            | (None, None) => return levels > 1 || one_level_witness_ok,
            (Some(MULTI_LEVEL_WILDCARD), _) | (_, Some(MULTI_LEVEL_WILDCARD)) => return true,
            (Some(SINGLE_LEVEL_WILDCARD), Some(_)) | (Some(_), Some(SINGLE_LEVEL_WILDCARD)) => {}
            (Some(x), Some(y)) if x == y => {}
            _ => return false,
        }
        levels += 1;
    }
}

/// Whether every topic name that `inner` matches is also matched by `outer` (both valid
/// filters without a `$share/` prefix): `a/#` covers `a`, `a/b/+` and `a/#`; `a/+` does not
/// cover `a/#`; `#` does not cover `$SYS/x` [MQTT-4.7.2-1].
pub fn filter_covers(outer: &str, inner: &str) -> bool {
    // `#` and `/#` also match the empty topic, which is not a valid name [MQTT-4.7.3-1]; what
    // they match among valid names is what `+/#` and `/+/#` match.
    let inner = match inner {
        "#" => "+/#",
        "/#" => "/+/#",
        other => other,
    };
    if is_wildcard(first_level(outer)) && first_level(inner).starts_with('$') {
        return false;
    }
    let mut outer_levels = outer.split(LEVEL_SEPARATOR);
    let mut inner_levels = inner.split(LEVEL_SEPARATOR);
    loop {
        match (outer_levels.next(), inner_levels.next()) {
            (Some(MULTI_LEVEL_WILDCARD), _) => return true,
            (Some(_), Some(MULTI_LEVEL_WILDCARD)) => return false,
            (Some(SINGLE_LEVEL_WILDCARD), Some(_)) => {}
            (Some(x), Some(y)) if x == y => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Why an ACL file could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum AclFileError {
    /// The file could not be read.
    Read {
        /// The path as given.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A line is not a valid ACL line.
    Line {
        /// The file (or other origin) the text came from.
        origin: String,
        /// The line number, from 1.
        line: usize,
        /// What is wrong with it.
        problem: AclProblem,
    },
}

impl fmt::Display for AclFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, source } => {
                write!(f, "cannot read ACL file {}: {source}", path.display())
            }
            Self::Line {
                origin,
                line,
                problem,
            } => write!(f, "{origin}:{line}: {problem}"),
        }
    }
}

impl std::error::Error for AclFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::Line { problem, .. } => match problem {
                AclProblem::InvalidFilter { error, .. } => Some(error),
                _ => None,
            },
        }
    }
}

/// What is wrong with one line of an ACL file.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum AclProblem {
    /// The line starts with a word other than `user`, `topic` and `pattern`.
    UnknownKeyword {
        /// The word.
        keyword: String,
    },
    /// `user` without a name.
    MissingUsername,
    /// `topic` or `pattern` without a filter.
    MissingFilter {
        /// `"topic"` or `"pattern"`.
        keyword: &'static str,
    },
    /// The word before the filter is not `read`, `write`, `readwrite` or `deny`.
    BadAccess {
        /// The word.
        word: String,
    },
    /// The filter breaks the topic filter rules.
    InvalidFilter {
        /// The filter.
        filter: String,
        /// The rule it breaks.
        error: TopicError,
    },
    /// The filter is a shared subscription (`$share/...`); rules name topics.
    SharedSubscriptionFilter {
        /// The filter.
        filter: String,
    },
    /// A pattern level holds `%c` or `%u` beside other characters.
    PartialSubstitution {
        /// The level.
        level: String,
    },
}

impl fmt::Display for AclProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKeyword { keyword } => write!(
                f,
                "unknown keyword {keyword:?}; lines start with `topic`, `pattern` or `user`"
            ),
            Self::MissingUsername => f.write_str("`user` needs a user name"),
            Self::MissingFilter { keyword } => write!(f, "`{keyword}` needs a topic filter"),
            Self::BadAccess { word } => write!(
                f,
                "unknown access {word:?}; expected read, write, readwrite or deny (a filter \
                 containing spaces needs an explicit access word)"
            ),
            Self::InvalidFilter { filter, error } => {
                write!(f, "invalid topic filter {filter:?}: {error}")
            }
            Self::SharedSubscriptionFilter { filter } => write!(
                f,
                "{filter:?} is a shared subscription; ACL rules name the topics themselves"
            ),
            Self::PartialSubstitution { level } => write!(
                f,
                "the level {level:?} mixes %c or %u with other characters; they are substituted \
                 only when they fill a whole level"
            ),
        }
    }
}

/// One `topic` or `pattern` line.
#[derive(Debug)]
struct Rule {
    line: usize,
    /// The line as written (trimmed), for decisions.
    text: String,
    access: RuleAccess,
    filter: RuleFilter,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum RuleAccess {
    Read,
    Write,
    ReadWrite,
    Deny,
}

impl RuleAccess {
    fn allows(self, access: Access) -> bool {
        matches!(
            (self, access),
            (Self::ReadWrite, _) | (Self::Read, Access::Read) | (Self::Write, Access::Write)
        )
    }
}

#[derive(Debug)]
enum RuleFilter {
    /// A `topic` filter, or a `pattern` without substitutions.
    Fixed(String),
    /// A `pattern` filter with at least one `%c` or `%u` level.
    Pattern(Vec<PatternLevel>),
}

#[derive(Debug)]
enum PatternLevel {
    Literal(String),
    ClientId,
    Username,
}

impl RuleFilter {
    /// The filter this rule has for `subject`, or why it does not apply.
    fn resolve(&self, subject: &AclSubject<'_>) -> Result<Cow<'_, str>, Skip> {
        let levels = match self {
            Self::Fixed(filter) => return Ok(Cow::Borrowed(filter)),
            Self::Pattern(levels) => levels,
        };
        let mut out = String::new();
        for (i, level) in levels.iter().enumerate() {
            if i > 0 {
                out.push(LEVEL_SEPARATOR);
            }
            match level {
                PatternLevel::Literal(text) => out.push_str(text),
                PatternLevel::ClientId => {
                    if !safe_identity(subject.client_id) {
                        return Err(Skip::UnsafeClientId);
                    }
                    out.push_str(subject.client_id);
                }
                PatternLevel::Username => {
                    let user = subject.username.ok_or(Skip::Anonymous)?;
                    if !safe_identity(user) {
                        return Err(Skip::UnsafeUsername);
                    }
                    out.push_str(user);
                }
            }
        }
        Ok(Cow::Owned(out))
    }
}

/// Why a pattern did not apply to a client.
#[derive(Clone, Copy, Debug)]
enum Skip {
    Anonymous,
    UnsafeClientId,
    UnsafeUsername,
}

impl Skip {
    fn explain(self, subject: &AclSubject<'_>) -> String {
        match self {
            Self::Anonymous => "pattern lines using %u do not apply to anonymous clients".into(),
            Self::UnsafeClientId => format!(
                "pattern lines using %c do not apply to client id {:?}: it is empty or contains \
                 '/', '+' or '#'",
                subject.client_id
            ),
            Self::UnsafeUsername => format!(
                "pattern lines using %u do not apply to user name {:?}: it contains '/', '+' or '#'",
                subject.username.unwrap_or_default()
            ),
        }
    }
}

enum Outcome<'r> {
    /// This rule decided: allowed (a grant) or not (a deny).
    Decided(&'r Rule, bool),
    /// No rule decided; `skipped` says why a pattern was passed over, if one was.
    NoRule { skipped: Option<Skip> },
}

fn denied(rule: String) -> AclDecision {
    AclDecision {
        allowed: false,
        rule: Arc::from(rule),
    }
}

/// Splits off the first word; the rest is trimmed.
fn split_word(text: &str) -> (&str, &str) {
    match text.split_once(|c: char| c.is_ascii_whitespace()) {
        Some((word, rest)) => (word, rest.trim()),
        None => (text, ""),
    }
}

/// Parses what follows `topic` or `pattern`.
fn parse_rule(rest: &str, is_pattern: bool) -> Result<(RuleAccess, RuleFilter), AclProblem> {
    let keyword = if is_pattern { "pattern" } else { "topic" };
    if rest.is_empty() {
        return Err(AclProblem::MissingFilter { keyword });
    }
    let (first, after) = split_word(rest);
    let (access, filter) = if after.is_empty() {
        // As in mosquitto, a lone word is the filter: `topic read` grants readwrite on "read".
        (RuleAccess::ReadWrite, first)
    } else {
        let access = match first {
            "read" => RuleAccess::Read,
            "write" => RuleAccess::Write,
            "readwrite" => RuleAccess::ReadWrite,
            "deny" => RuleAccess::Deny,
            other => {
                return Err(AclProblem::BadAccess {
                    word: other.to_owned(),
                })
            }
        };
        (access, after)
    };
    let parsed = parse_filter(filter).map_err(|error| AclProblem::InvalidFilter {
        filter: filter.to_owned(),
        error,
    })?;
    if parsed.is_shared() {
        return Err(AclProblem::SharedSubscriptionFilter {
            filter: filter.to_owned(),
        });
    }
    if !is_pattern {
        return Ok((access, RuleFilter::Fixed(filter.to_owned())));
    }
    let mut substituted = false;
    let mut levels = Vec::new();
    for level in filter.split(LEVEL_SEPARATOR) {
        levels.push(match level {
            "%c" => PatternLevel::ClientId,
            "%u" => PatternLevel::Username,
            _ if level.contains("%c") || level.contains("%u") => {
                return Err(AclProblem::PartialSubstitution {
                    level: level.to_owned(),
                })
            }
            _ => PatternLevel::Literal(level.to_owned()),
        });
        substituted |= matches!(
            levels.last(),
            Some(PatternLevel::ClientId | PatternLevel::Username)
        );
    }
    let filter = if substituted {
        RuleFilter::Pattern(levels)
    } else {
        RuleFilter::Fixed(filter.to_owned())
    };
    Ok((access, filter))
}

/// Whether a client id or user name may fill a pattern level: a non-empty single level with no
/// wildcard, so a client cannot widen its own rule (`#`) or reach another's subtree (`a/b`).
fn safe_identity(identity: &str) -> bool {
    !identity.is_empty() && !identity.contains(['/', '+', '#'])
}

fn first_level(filter: &str) -> &str {
    filter.split(LEVEL_SEPARATOR).next().unwrap_or_default()
}

fn is_wildcard(level: &str) -> bool {
    level == SINGLE_LEVEL_WILDCARD || level == MULTI_LEVEL_WILDCARD
}
