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
