//! ACL files: every rule of the format, each decision naming its line.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use lantern_auth::{filter_covers, filters_intersect, AclFile, AclFileError, AclProblem};
use lantern_broker::auth::{Access, Acl, AclSubject};
use lantern_broker::topic::TopicError;

fn parse_acl(text: &str) -> AclFile {
    AclFile::parse(text, "acl.conf").unwrap_or_else(|e| panic!("{e}"))
}

fn user<'a>(name: &'a str, client_id: &'a str) -> AclSubject<'a> {
    AclSubject {
        username: Some(name),
        client_id,
    }
}

fn anonymous(client_id: &str) -> AclSubject<'_> {
    AclSubject {
        username: None,
        client_id,
    }
}

/// Asserts a `check` outcome and returns the rule text.
#[track_caller]
fn check(
    acl: &AclFile,
    who: &AclSubject<'_>,
    access: Access,
    topic: &str,
    allowed: bool,
) -> String {
    let d = acl.check(who, access, topic);
    assert_eq!(
        d.allowed, allowed,
        "{:?} {access:?} {topic:?}: {}",
        who.username, d.rule
    );
    d.rule.to_string()
}

#[track_caller]
fn subscribe(acl: &AclFile, who: &AclSubject<'_>, filter: &str, allowed: bool) -> String {
    let d = acl.check_subscribe(who, filter);
    assert_eq!(
        d.allowed, allowed,
        "{:?} subscribe {filter:?}: {}",
        who.username, d.rule
    );
    d.rule.to_string()
}

fn problem(text: &str) -> (usize, AclProblem) {
    match AclFile::parse(text, "acl.conf") {
        Err(AclFileError::Line { line, problem, .. }) => (line, problem),
        other => panic!("expected a line error, got {other:?}"),
    }
}

const EXAMPLE: &str = "\
# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret
topic sensors/+/temp

user bob smith
topic write bob/out

pattern write devices/%c/telemetry
pattern read users/%u/#
";

#[test]
fn rules_before_any_user_line_apply_to_anonymous_clients() {
    let acl = parse_acl(EXAMPLE);
    let anon = anonymous("c1");
    let rule = check(&acl, &anon, Access::Read, "public/news", true);
    assert_eq!(rule, "acl.conf:2: topic read public/#");
    check(&acl, &anon, Access::Write, "public/news", false);
    // A named user does not get the anonymous section.
    check(
        &acl,
        &user("alice", "c1"),
        Access::Read,
        "public/news",
        false,
    );
}

#[test]
fn user_section_rules_apply_to_that_user_only() {
    let acl = parse_acl(EXAMPLE);
    let alice = user("alice", "a1");
    assert_eq!(
        check(&acl, &alice, Access::Write, "alice/x/y", true),
        "acl.conf:5: topic readwrite alice/#"
    );
    check(&acl, &alice, Access::Read, "alice", true);
    check(
        &acl,
        &user("bob smith", "b1"),
        Access::Read,
        "alice/x",
        false,
    );
    check(&acl, &anonymous("a1"), Access::Read, "alice/x", false);
}

#[test]
fn user_name_may_contain_spaces() {
    let acl = parse_acl(EXAMPLE);
    let bob = user("bob smith", "b1");
    assert_eq!(
        check(&acl, &bob, Access::Write, "bob/out", true),
        "acl.conf:10: topic write bob/out"
    );
    check(&acl, &user("bob", "b1"), Access::Write, "bob/out", false);
}

#[test]
fn access_defaults_to_readwrite() {
    let acl = parse_acl(EXAMPLE);
    let alice = user("alice", "a1");
    check(&acl, &alice, Access::Read, "sensors/k/temp", true);
    let rule = check(&acl, &alice, Access::Write, "sensors/k/temp", true);
    assert_eq!(rule, "acl.conf:7: topic sensors/+/temp");
}

#[test]
fn read_and_write_grant_only_their_access() {
    let acl = parse_acl("topic read r/#\ntopic write w/#\n");
    let anon = anonymous("c");
    check(&acl, &anon, Access::Read, "r/1", true);
    check(&acl, &anon, Access::Write, "r/1", false);
    check(&acl, &anon, Access::Write, "w/1", true);
    check(&acl, &anon, Access::Read, "w/1", false);
}

#[test]
fn deny_wins_over_grants_wherever_it_is() {
    let acl = parse_acl(EXAMPLE);
    let alice = user("alice", "a1");
    for access in [Access::Read, Access::Write] {
        let rule = check(&acl, &alice, access, "alice/secret", false);
        assert_eq!(rule, "acl.conf:6: topic deny alice/secret");
    }
    // Deny also beats a grant from a pattern, and a pattern's deny beats a section grant.
    let acl = parse_acl("pattern deny devices/%c/secret\nuser u\ntopic read devices/#\n");
    let rule = check(
        &acl,
        &user("u", "d1"),
        Access::Read,
        "devices/d1/secret",
        false,
    );
    assert_eq!(rule, "acl.conf:1: pattern deny devices/%c/secret");
    check(
        &acl,
        &user("u", "d1"),
        Access::Read,
        "devices/d2/secret",
        true,
    );
}

#[test]
fn no_matching_rule_denies_and_says_so() {
    let acl = parse_acl(EXAMPLE);
    let rule = check(&acl, &user("alice", "a1"), Access::Write, "a/b", false);
    assert_eq!(
        rule,
        r#"acl.conf: no rule for user "alice" allows write on "a/b""#
    );
    let rule = check(&acl, &anonymous("c"), Access::Read, "x", false);
    assert!(
        rule.starts_with(r#"acl.conf: no rule for anonymous clients allows read on "x""#),
        "{rule}"
    );
    let rule = check(&acl, &user("carol", "c"), Access::Read, "x", false);
    assert!(rule.contains("there is no `user carol` section"), "{rule}");
    // An empty file allows nothing.
    check(&parse_acl(""), &anonymous("c"), Access::Read, "x", false);
}

#[test]
fn pattern_client_id_is_substituted_as_a_whole_level() {
    let acl = parse_acl(EXAMPLE);
    let rule = check(
        &acl,
        &anonymous("dev7"),
        Access::Write,
        "devices/dev7/telemetry",
        true,
    );
    assert_eq!(rule, "acl.conf:12: pattern write devices/%c/telemetry");
    check(
        &acl,
        &user("alice", "dev7"),
        Access::Write,
        "devices/dev7/telemetry",
        true,
    );
    check(
        &acl,
        &anonymous("dev7"),
        Access::Write,
        "devices/dev8/telemetry",
        false,
    );
    check(
        &acl,
        &anonymous("dev7"),
        Access::Read,
        "devices/dev7/telemetry",
        false,
    );
}

#[test]
fn pattern_username_is_substituted_and_never_matches_anonymous() {
    let acl = parse_acl(EXAMPLE);
    let rule = check(
        &acl,
        &user("alice", "x"),
        Access::Read,
        "users/alice/inbox",
        true,
    );
    assert_eq!(rule, "acl.conf:13: pattern read users/%u/#");
    check(
        &acl,
        &user("alice", "x"),
        Access::Read,
        "users/bob/inbox",
        false,
    );
    let rule = check(
        &acl,
        &anonymous("x"),
        Access::Read,
        "users/alice/inbox",
        false,
    );
    assert!(
        rule.contains("%u do not apply to anonymous clients"),
        "{rule}"
    );
    // The literal "%u" level is not reachable either.
    check(&acl, &anonymous("x"), Access::Read, "users/%u/inbox", false);
}

#[test]
fn pattern_substitution_in_part_of_a_level_is_refused() {
    assert_eq!(
        problem("pattern read devices/dev-%c/#"),
        (
            1,
            AclProblem::PartialSubstitution {
                level: "dev-%c".into()
            }
        )
    );
    assert_eq!(
        problem("\npattern read %u%c"),
        (
            2,
            AclProblem::PartialSubstitution {
                level: "%u%c".into()
            }
        )
    );
    // In `topic` lines, %c is literal text, as in mosquitto.
    let acl = parse_acl("topic read devices/%c");
    check(&acl, &anonymous("d"), Access::Read, "devices/%c", true);
    check(&acl, &anonymous("d"), Access::Read, "devices/d", false);
}

#[test]
fn pattern_with_wildcard_or_slash_in_identity_never_matches() {
    let acl = parse_acl(EXAMPLE);
    for id in ["#", "+", "a/b", "dev#", ""] {
        let rule = check(
            &acl,
            &anonymous(id),
            Access::Write,
            &format!("devices/{id}/telemetry")
                .replace("#", "x")
                .replace('+', "y"),
            false,
        );
        assert!(
            rule.contains("%c do not apply to client id"),
            "{id:?}: {rule}"
        );
    }
    // A client id "a/b" must not reach devices/a/b/telemetry through devices/%c/telemetry.
    let acl2 = parse_acl("pattern write devices/%c/#");
    check(
        &acl2,
        &anonymous("a/b"),
        Access::Write,
        "devices/a/b/x",
        false,
    );
    check(&acl2, &anonymous("#"), Access::Write, "devices/x/y", false);
    for name in ["+", "#", "a/b"] {
        check(&acl, &user(name, "c"), Access::Read, "users/a/b", false);
    }
    check(&acl, &user("a", "c"), Access::Read, "users/a/b", true);
}

#[test]
fn dollar_sys_topics_follow_the_same_rules() {
    let acl =
        parse_acl("user admin\ntopic read $SYS/#\ntopic read #\nuser plain\ntopic readwrite #\n");
    let admin = user("admin", "c");
    let plain = user("plain", "c");
    assert_eq!(
        check(&acl, &admin, Access::Read, "$SYS/broker/uptime", true),
        "acl.conf:2: topic read $SYS/#"
    );
    // `#` does not match topics starting with `$` [MQTT-4.7.2-1].
    check(&acl, &plain, Access::Read, "$SYS/broker/uptime", false);
    check(&acl, &plain, Access::Write, "$SYS/x", false);
    subscribe(&acl, &admin, "$SYS/#", true);
    subscribe(&acl, &admin, "$SYS/broker/+", true);
    subscribe(&acl, &plain, "$SYS/#", false);
    subscribe(&acl, &plain, "#", true);
}

#[test]
fn subscribe_hash_under_narrower_read_rule_is_allowed_and_deliveries_are_checked() {
    let acl = parse_acl("user u\ntopic read a/#\n");
    let u = user("u", "c");
    assert_eq!(subscribe(&acl, &u, "#", true), "acl.conf:2: topic read a/#");
    // Each delivery of the broad subscription is checked topic by topic.
    check(&acl, &u, Access::Read, "a/x", true);
    check(&acl, &u, Access::Read, "a", true);
    check(&acl, &u, Access::Read, "b/x", false);
}

#[test]
fn subscribe_plus_b_against_read_a_hash_intersects() {
    let acl = parse_acl("user u\ntopic read a/#\n");
    let u = user("u", "c");
    subscribe(&acl, &u, "+/b", true);
    subscribe(&acl, &u, "+/+/+", true);
    subscribe(&acl, &u, "a", true);
    let rule = subscribe(&acl, &u, "b/+", false);
    assert_eq!(
        rule,
        r#"acl.conf: no rule for user "u" allows reading any topic that "b/+" matches"#
    );
}

#[test]
fn subscribe_needs_a_read_rule_not_a_write_rule() {
    let acl = parse_acl("user u\ntopic write a/#\n");
    subscribe(&acl, &user("u", "c"), "a/#", false);
}

#[test]
fn subscribe_denied_when_a_deny_rule_covers_the_whole_filter() {
    let acl = parse_acl("user u\ntopic read a/#\ntopic deny a/secret/#\n");
    let u = user("u", "c");
    let rule = subscribe(&acl, &u, "a/secret/+", false);
    assert_eq!(rule, "acl.conf:3: topic deny a/secret/#");
    subscribe(&acl, &u, "a/secret", false);
    // A deny covering only part of the filter leaves it allowed; deliveries are checked.
    subscribe(&acl, &u, "a/#", true);
    check(&acl, &u, Access::Read, "a/secret/x", false);
}

#[test]
fn shared_subscription_is_checked_on_its_topic_filter() {
    let acl = parse_acl("user u\ntopic read a/#\n");
    subscribe(&acl, &user("u", "c"), "$share/group/a/b", true);
    subscribe(&acl, &user("u", "c"), "$share/group/b", false);
}

#[test]
fn invalid_topics_and_filters_are_denied_with_the_reason() {
    let acl = parse_acl("topic #\n");
    let rule = check(&acl, &anonymous("c"), Access::Write, "a/+", false);
    assert!(rule.contains("not a valid topic name"), "{rule}");
    let rule = subscribe(&acl, &anonymous("c"), "a/#/b", false);
    assert!(rule.contains("not a valid topic filter"), "{rule}");
}

#[test]
fn filters_intersect_level_by_level() {
    for (a, b) in [
        ("#", "a/#"),
        ("+/b", "a/#"),
        ("a/+", "+/b"),
        ("a/#", "a"),
        ("a/+", "a/b"),
        ("+", "+"),
        ("#", "+"),
        ("$SYS/#", "$SYS/+"),
        ("a//b", "a/+/b"),
    ] {
        assert!(filters_intersect(a, b), "{a} ∩ {b}");
        assert!(filters_intersect(b, a), "{b} ∩ {a}");
    }
    for (a, b) in [
        ("a/b", "a/c"),
        ("a/+", "a"),
        ("+", "a/b"),
        ("#", "$SYS/#"),
        ("+/x", "$SYS/x"),
        ("a/b/c", "a/b"),
    ] {
        assert!(!filters_intersect(a, b), "{a} ∩ {b}");
        assert!(!filters_intersect(b, a), "{b} ∩ {a}");
    }
}

#[test]
fn filter_covers_means_every_matched_topic() {
    for (outer, inner) in [
        ("#", "a/#"),
        ("a/#", "a"),
        ("a/#", "a/+/c"),
        ("a/+", "a/b"),
        ("+/+", "a/+"),
        ("$SYS/#", "$SYS/+"),
    ] {
        assert!(filter_covers(outer, inner), "{outer} ⊇ {inner}");
    }
    for (outer, inner) in [
        ("a/+", "a/#"),
        ("a/b", "a/+"),
        ("#", "$SYS/x"),
        ("+/x", "$SYS/x"),
        ("a", "a/#"),
    ] {
        assert!(!filter_covers(outer, inner), "{outer} ⊉ {inner}");
    }
}

#[test]
fn parse_errors_name_the_line_and_problem() {
    assert_eq!(
        problem("# c\n\ntopik read a"),
        (
            3,
            AclProblem::UnknownKeyword {
                keyword: "topik".into()
            }
        )
    );
    assert_eq!(
        problem("topic reed a/b"),
        (
            1,
            AclProblem::BadAccess {
                word: "reed".into()
            }
        )
    );
    assert_eq!(
        problem("topic"),
        (1, AclProblem::MissingFilter { keyword: "topic" })
    );
    assert_eq!(
        problem("pattern   "),
        (1, AclProblem::MissingFilter { keyword: "pattern" })
    );
    assert_eq!(problem("user"), (1, AclProblem::MissingUsername));
    assert_eq!(
        problem("topic read a/#/b"),
        (
            1,
            AclProblem::InvalidFilter {
                filter: "a/#/b".into(),
                error: TopicError::MultiLevelWildcardNotLast { offset: 2 }
            }
        )
    );
    assert_eq!(
        problem("topic read $share/g/a"),
        (
            1,
            AclProblem::SharedSubscriptionFilter {
                filter: "$share/g/a".into()
            }
        )
    );
    let text = AclFile::parse("user a\ntopic reed a/b\n", "acl.conf")
        .unwrap_err()
        .to_string();
    assert!(
        text.starts_with("acl.conf:2: unknown access \"reed\""),
        "{text}"
    );
}

#[test]
fn spaces_in_filters_need_an_access_word() {
    let acl = parse_acl("topic readwrite my topic/x\n");
    check(&acl, &anonymous("c"), Access::Write, "my topic/x", true);
    // As in mosquitto, a lone word after `topic` is the filter.
    let acl = parse_acl("topic read\n");
    check(&acl, &anonymous("c"), Access::Write, "read", true);
}

#[test]
fn repeated_user_sections_are_merged() {
    let acl = parse_acl("user u\ntopic read a\nuser v\ntopic read b\nuser u\ntopic read c\n");
    check(&acl, &user("u", "x"), Access::Read, "a", true);
    check(&acl, &user("u", "x"), Access::Read, "c", true);
    check(&acl, &user("u", "x"), Access::Read, "b", false);
}

#[test]
fn load_reads_a_file_and_names_it() {
    let path = std::env::temp_dir().join(format!("lantern-auth-acl-{}.conf", std::process::id()));
    std::fs::write(&path, "topic read a\n").unwrap();
    let acl = AclFile::load(&path).unwrap();
    let rule = check(&acl, &anonymous("c"), Access::Read, "a", true);
    assert_eq!(rule, format!("{}:1: topic read a", path.display()));
    std::fs::remove_file(&path).unwrap();
    let err = AclFile::load(&path).unwrap_err();
    assert!(matches!(err, AclFileError::Read { .. }), "{err:?}");
}

/// Every filter of up to three levels over a small alphabet (with an optional trailing `#`).
fn small_filters() -> Vec<String> {
    let levels = ["a", "$s", "", "+"];
    let mut out = vec!["#".to_owned()];
    let mut prefixes: Vec<Vec<&str>> = vec![vec![]];
    for _ in 0..2 {
        let mut next = Vec::new();
        for p in &prefixes {
            for l in levels {
                let mut v = p.clone();
                v.push(l);
                next.push(v);
            }
        }
        for v in &next {
            out.push(v.join("/"));
            out.push(format!("{}/#", v.join("/")));
        }
        prefixes = next;
    }
    out.retain(|f| !f.is_empty());
    out
}

/// Every topic of up to four levels over the filters' literals plus one they lack.
fn small_topics() -> Vec<String> {
    let levels = ["a", "$s", "", "z"];
    let mut out = Vec::new();
    let mut current: Vec<String> = vec![String::new()];
    for depth in 0..4 {
        let mut next = Vec::new();
        for p in &current {
            for l in levels {
                next.push(if depth == 0 {
                    l.to_owned()
                } else {
                    format!("{p}/{l}")
                });
            }
        }
        out.extend(next.iter().filter(|t| !t.is_empty()).cloned());
        current = next;
    }
    out
}

#[test]
fn filters_intersect_and_filter_covers_agree_with_brute_force() {
    use lantern_broker::topic::matches;
    let filters = small_filters();
    let topics = small_topics();
    let matched: Vec<Vec<bool>> = filters
        .iter()
        .map(|f| topics.iter().map(|t| matches(f, t)).collect())
        .collect();
    for (i, a) in filters.iter().enumerate() {
        for (j, b) in filters.iter().enumerate() {
            let some = matched[i].iter().zip(&matched[j]).any(|(x, y)| *x && *y);
            assert_eq!(filters_intersect(a, b), some, "{a:?} ∩ {b:?}");
            let all = matched[j]
                .iter()
                .zip(&matched[i])
                .all(|(inner, outer)| !inner || *outer);
            assert_eq!(filter_covers(a, b), all, "{a:?} ⊇ {b:?}");
        }
    }
}
