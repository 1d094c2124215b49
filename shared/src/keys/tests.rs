//! The key layout's unit tests.

use super::*;

#[test]
fn names_follow_the_documented_layout() {
    let k = Keys::new("tm:");
    assert_eq!(k.row(RowType::Task, 5), "tm:task:5");
    assert_eq!(k.all(RowType::User), "tm:users");
    assert_eq!(k.user_groups(3), "tm:user:3:groups");
    // The Lua scripts spell it `k('user', id, 'cv')`.
    assert_eq!(k.user_cv(3), "tm:user:3:cv");
    assert_eq!(k.group_tasks(2), "tm:group:2:tasks");
    assert_eq!(k.group_labels(2), "tm:group:2:labels");
    assert_eq!(k.group_label(2, "a:b c"), "tm:group:2:label:a:b c");
    assert_eq!(k.dirty(RowType::Group), "tm:dirty:groups");
    assert_eq!(k.inflight(RowType::Task), "tm:inflight:tasks");
    assert_eq!(k.sequence(RowType::User), "tm:seq:users");
    assert_eq!(k.changes(), "tm:changes");
    assert_eq!(k.control_reply_channel("abc"), "tm:control:reply:abc");
    assert_eq!(k.limit_account(7), "tm:limit:user:7");
    assert_eq!(k.session("AbC-_9"), "tm:session:AbC-_9");
    assert_eq!(k.session_prefix() + "x", k.session("x"));
    assert_eq!(k.user_sessions(4), "tm:user:4:sessions");
    assert_eq!(k.user_tokens(4), "tm:user:4:tokens");
    assert_eq!(k.api_token("Ab_-"), "tm:token:Ab_-");
    assert_eq!(k.api_token_pattern().replace('*', "x"), k.api_token("x"));
    assert_eq!(k.rate_user(4), "tm:rate:user:4");
    assert_eq!(k.rate_owner(), "tm:rate:owner");
    assert_eq!(k.rate_token("Ab_-"), "tm:rate:token:Ab_-");
    assert_eq!(
        k.rate_auth(std::net::Ipv4Addr::LOCALHOST.into()),
        "tm:rate:auth:127.0.0.1"
    );
    assert_eq!(k.limit_login("ab12"), "tm:limit:login:ab12");
    assert_eq!(
        k.limit_owner(Some(std::net::Ipv6Addr::LOCALHOST.into())),
        "tm:limit:owner:::1"
    );
    assert_eq!(k.limit_owner(None), "tm:limit:owner:all");
}

#[test]
fn row_types_round_trip_through_their_names() {
    for t in RowType::ALL {
        assert_eq!(RowType::parse(t.plural()), Some(t));
        assert_eq!(RowType::parse(t.singular()), Some(t));
    }
    assert_eq!(RowType::parse("tasks!"), None);
}

/// Every name the layout builds, for two rows (or principals, or tokens)
/// each: one module owns every key, so this list is the whole keyspace.
fn every_name(k: &Keys) -> Vec<(&'static str, String)> {
    let ip = |n: u8| std::net::IpAddr::from([127, 0, 0, n]);
    let mut names = vec![
        ("task_row_pattern", k.task_row_pattern()),
        ("api_token_pattern", k.api_token_pattern()),
        ("email_index", k.email_index()),
        ("group_name_index", k.group_name_index()),
        ("dirty_since", k.dirty_since()),
        ("inflight_since", k.inflight_since()),
        ("inflight_handoff", k.inflight_handoff()),
        ("handoffs", k.handoffs()),
        ("changes", k.changes()),
        ("webhooks_due_hooks", k.webhooks_due_hooks()),
        ("control_channel", k.control_channel()),
        ("syncd_status", k.syncd_status()),
        ("syncd_lease", k.syncd_lease()),
        ("syncd_fence", k.syncd_fence()),
        ("owner_bootstrap", k.owner_bootstrap()),
        ("jobs_active", k.jobs_active()),
        ("leaving", k.leaving()),
        ("maintenance", k.maintenance()),
        ("ids_run", k.ids_run()),
        ("order_built", k.order_built()),
        ("task_id_gaps", k.task_id_gaps()),
        ("flushes", k.flushes()),
        ("session_prefix", k.session_prefix()),
        ("rate_owner", k.rate_owner()),
        ("limit_owner all", k.limit_owner(None)),
    ];
    for t in RowType::ALL {
        names.push(("all", k.all(t)));
        names.push(("sequence", k.sequence(t)));
        names.push(("dirty", k.dirty(t)));
        names.push(("inflight", k.inflight(t)));
    }
    for n in [1u64, 2] {
        let s = n.to_string();
        for t in RowType::ALL {
            names.push(("row", k.row(t, n)));
        }
        names.extend([
            ("user_groups", k.user_groups(n)),
            ("user_tasks", k.user_tasks(n)),
            ("user_order", k.user_order(n)),
            ("user_sort", k.user_sort(n, 'p')),
            ("user_sort other", k.user_sort(n, 'd')),
            ("user_sorts", k.user_sorts(n)),
            ("user_cv", k.user_cv(n)),
            ("user_tokens", k.user_tokens(n)),
            ("api_token", k.api_token(&format!("tok{s}"))),
            ("user_admin_of", k.user_admin_of(n)),
            ("group_members", k.group_members(n)),
            ("group_tasks", k.group_tasks(n)),
            ("group_order", k.group_order(n)),
            ("group_sort", k.group_sort(n, 'p')),
            ("group_sorts", k.group_sorts(n)),
            ("group_webhooks", k.group_webhooks(n)),
            ("group_labels", k.group_labels(n)),
            ("group_label", k.group_label(n, "ops")),
            ("webhook_delivery", k.webhook_delivery(&format!("d{s}"))),
            ("webhook_deliveries", k.webhook_deliveries(n)),
            ("webhooks_due", k.webhooks_due(n)),
            ("ws_ticket", k.ws_ticket(&format!("digest{s}"))),
            (
                "control_reply_channel",
                k.control_reply_channel(&format!("r{s}")),
            ),
            ("job", k.job(n)),
            ("job_file", k.job_file(n)),
            ("job_upload", k.job_upload(&format!("t{s}"))),
            ("job_errors", k.job_errors(n)),
            ("jobs_by", k.jobs_by(&format!("p{s}"))),
            ("idempotency", k.idempotency(&s, "digest")),
            ("idempotency other key", k.idempotency(&s, "other")),
            ("session", k.session(&format!("sid{s}"))),
            ("user_sessions", k.user_sessions(n)),
            ("rate_user", k.rate_user(n)),
            ("rate_token", k.rate_token(&format!("tok{s}"))),
            ("rate_auth", k.rate_auth(ip(n as u8))),
            ("limit_account", k.limit_account(n)),
            ("limit_login", k.limit_login(&format!("h{s}"))),
            ("limit_owner", k.limit_owner(Some(ip(n as u8)))),
        ]);
    }
    names
}

/// Two keyspaces share a Redis server only apart by their prefix, and a
/// restore clears (and the ACL grants) by prefix: every name is under the
/// prefix, and no two things share a name.
#[test]
fn every_name_is_under_the_prefix_and_names_one_thing() {
    let k = Keys::new("tm:");
    let names = every_name(&k);
    let mut seen = std::collections::HashMap::new();
    for (what, name) in &names {
        assert!(
            name.starts_with("tm:") && name.len() > 3,
            "{what}: {name:?}"
        );
        if let Some(other) = seen.insert(name.clone(), *what) {
            panic!("{what} and {other} share {name:?}");
        }
    }
    let other = Keys::new("other:");
    for ((what, a), (_, b)) in names.iter().zip(every_name(&other)) {
        assert_eq!(b, format!("other:{}", &a[3..]), "{what}");
    }
}
