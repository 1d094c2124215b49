//! The permission matrix as one table: endpoint × caller role × relation →
//! expected status; and no answer anywhere carries a password or a hash.

use hyper::Method;
use serde_json::{Value, json};
use taskmaster_tests::{Auth, Seeded, spawn_app};

#[derive(Clone, Copy, Debug)]
enum Who {
    Anonymous,
    Owner,
    /// Admin of g1 (and member of it).
    Ga,
    /// Admin of g2.
    Ga2,
    /// Group admin by role, member of g1, administers nothing.
    GaMember,
    /// Member of g1.
    U1,
    /// Member of g1.
    U2,
    /// Member of g2.
    U3,
}

#[tokio::test]
async fn the_permission_matrix_holds_for_every_endpoint_role_and_relation_with_basic_auth() {
    matrix(Credential::Basic).await;
}

#[tokio::test]
async fn the_permission_matrix_holds_the_same_with_bearer_tokens_of_login_sessions() {
    matrix(Credential::Session).await;
}

#[tokio::test]
async fn the_permission_matrix_holds_the_same_with_personal_api_tokens() {
    matrix(Credential::Token).await;
}

/// How the seeded users authenticate in one run of the matrix.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Credential {
    Basic,
    /// An access token of a session each user opens first.
    Session,
    /// A personal API token (full scope) each user makes first.
    Token,
}

async fn matrix(credential: Credential) {
    let app = spawn_app().await;
    let ga = app.seed_user("group_admin", &[]).await;
    let ga2 = app.seed_user("group_admin", &[]).await;
    let g1 = app.seed_group(ga.id).await;
    let g2 = app.seed_group(ga2.id).await;
    let g_victim = app.seed_group(ga2.id).await;
    let ga_member = app.seed_user("group_admin", &[g1]).await;
    let u1 = app.seed_user("user", &[g1]).await;
    let u2 = app.seed_user("user", &[g1]).await;
    let u3 = app.seed_user("user", &[g2]).await;
    let victim = app.seed_user("user", &[g1]).await;
    let sleeper = app.seed_user("user", &[g1]).await;
    let t1 = app.seed_task(u1.id, g1, "t1").await;
    let t3 = app.seed_task(u3.id, g2, "t3").await;
    let t_del = app.seed_task(u1.id, g1, "to delete").await;

    let mut tokens = std::collections::HashMap::new();
    for u in [&ga, &ga2, &ga_member, &u1, &u2, &u3] {
        let auth = match credential {
            Credential::Basic => u.auth(),
            Credential::Session => app.bearer(u).await,
            Credential::Token => app.api_token(u, false).await.0,
        };
        tokens.insert(u.id, auth);
    }
    let auth = |who: Who| -> Auth {
        let s = |u: &Seeded| tokens[&u.id].clone();
        match who {
            Who::Anonymous => Auth::None,
            Who::Owner => Auth::Owner,
            Who::Ga => s(&ga),
            Who::Ga2 => s(&ga2),
            Who::GaMember => s(&ga_member),
            Who::U1 => s(&u1),
            Who::U2 => s(&u2),
            Who::U3 => s(&u3),
        }
    };
    let new_user = |groups: Value, role: &str| {
        json!({"full_name": "N", "email": format!("n{}@example.com", taskmaster_tests::unique()),
               "password": "secret1", "role": role, "group_ids": groups})
    };
    let (u1p, u3p) = (format!("/users/{}", u1.id), format!("/users/{}", u3.id));
    let csv_g1 = format!("title,group_id\nimported,{g1}\n");
    let csv_g2 = format!("title,group_id\nimported,{g2}\n");
    // A job of u1's (a small import runs as one, and ends before it answers).
    let res = app
        .upload(
            &format!("{u1p}/tasks/import"),
            &auth(Who::U1),
            "text/csv",
            csv_g1.clone(),
        )
        .await;
    assert_eq!(res.status.as_u16(), 201, "{}", res.text());
    let job = res.json()["data"]["id"].as_u64().expect("a job id");
    use Who::*;
    let rows: Vec<(Who, Method, String, Option<Value>, u16)> = vec![
        (Anonymous, Method::GET, "/users".into(), None, 401),
        (Anonymous, Method::GET, "/health".into(), None, 200),
        (Anonymous, Method::GET, format!("{u1p}/tasks"), None, 401),
        // Listing and creating users.
        (Owner, Method::GET, "/users".into(), None, 200),
        (Ga, Method::GET, "/users".into(), None, 200),
        (U1, Method::GET, "/users".into(), None, 403),
        (
            Owner,
            Method::POST,
            "/users".into(),
            Some(new_user(json!([g1]), "group_admin")),
            201,
        ),
        (
            Ga,
            Method::POST,
            "/users".into(),
            Some(new_user(json!([g1]), "user")),
            201,
        ),
        (
            Ga,
            Method::POST,
            "/users".into(),
            Some(new_user(json!([g2]), "user")),
            403,
        ),
        (
            Ga,
            Method::POST,
            "/users".into(),
            Some(new_user(json!([g1]), "group_admin")),
            403,
        ),
        (
            Ga,
            Method::POST,
            "/users".into(),
            Some(new_user(json!([]), "user")),
            403,
        ),
        (
            U1,
            Method::POST,
            "/users".into(),
            Some(new_user(json!([g1]), "user")),
            403,
        ),
        (Owner, Method::GET, "/users/search?q=user".into(), None, 200),
        (Ga, Method::GET, "/users/search?q=user".into(), None, 200),
        (U1, Method::GET, "/users/search?q=user".into(), None, 403),
        // One user.
        (Owner, Method::GET, u1p.clone(), None, 200),
        (Ga, Method::GET, u1p.clone(), None, 200),
        (Ga2, Method::GET, u1p.clone(), None, 403),
        (GaMember, Method::GET, u1p.clone(), None, 403),
        (U1, Method::GET, u1p.clone(), None, 200),
        (U2, Method::GET, u1p.clone(), None, 403),
        (Ga, Method::GET, u3p.clone(), None, 403),
        (Ga, Method::GET, "/users/999999".into(), None, 404),
        (U1, Method::GET, "/users/999999".into(), None, 404),
        (Owner, Method::GET, "/users/abc".into(), None, 400),
        (
            Owner,
            Method::PUT,
            u1p.clone(),
            Some(json!({"full_name": "by owner"})),
            200,
        ),
        (
            Ga,
            Method::PUT,
            u1p.clone(),
            Some(json!({"full_name": "by admin"})),
            200,
        ),
        (
            Ga2,
            Method::PUT,
            u1p.clone(),
            Some(json!({"full_name": "x"})),
            403,
        ),
        (
            U1,
            Method::PUT,
            u1p.clone(),
            Some(json!({"full_name": "by self"})),
            200,
        ),
        (
            U2,
            Method::PUT,
            u1p.clone(),
            Some(json!({"full_name": "x"})),
            403,
        ),
        (
            U1,
            Method::PUT,
            u1p.clone(),
            Some(json!({"role": "owner"})),
            403,
        ),
        (
            Ga,
            Method::PUT,
            u1p.clone(),
            Some(json!({"role": "group_admin"})),
            403,
        ),
        (
            U1,
            Method::PUT,
            u1p.clone(),
            Some(json!({"group_ids": [g1, g2]})),
            403,
        ),
        (
            Ga,
            Method::PUT,
            u1p.clone(),
            Some(json!({"group_ids": [g1, g_victim]})),
            403,
        ),
        (
            Ga,
            Method::PUT,
            u1p.clone(),
            Some(json!({"password": "takeover1"})),
            403,
        ),
        (
            Ga,
            Method::PUT,
            u1p.clone(),
            Some(json!({"email": "takeover@example.com"})),
            403,
        ),
        (
            Ga,
            Method::PUT,
            format!("/users/{}", ga_member.id),
            Some(json!({"full_name": "x"})),
            403,
        ),
        (
            Ga,
            Method::PUT,
            format!("/users/{}", ga.id),
            Some(json!({"full_name": "me"})),
            200,
        ),
        (
            Ga,
            Method::DELETE,
            format!("/users/{}", victim.id),
            None,
            403,
        ),
        (U1, Method::DELETE, u1p.clone(), None, 403),
        (
            Owner,
            Method::DELETE,
            format!("/users/{}", victim.id),
            None,
            200,
        ),
        (Owner, Method::GET, format!("{u1p}/worktimes"), None, 200),
        (Ga, Method::GET, format!("{u1p}/worktimes"), None, 200),
        (U1, Method::GET, format!("{u1p}/worktimes"), None, 200),
        (U2, Method::GET, format!("{u1p}/worktimes"), None, 403),
        (
            U1,
            Method::PUT,
            format!("{u1p}/worktimes"),
            Some(json!({"work_times": {"Monday": 8}})),
            200,
        ),
        (
            Ga,
            Method::PUT,
            format!("{u1p}/worktimes"),
            Some(json!({"work_times": {"Monday": 7}})),
            200,
        ),
        (
            U2,
            Method::PUT,
            format!("{u1p}/worktimes"),
            Some(json!({"work_times": {}})),
            403,
        ),
        // A user's tasks.
        (Owner, Method::GET, format!("{u1p}/tasks"), None, 200),
        (Ga, Method::GET, format!("{u1p}/tasks"), None, 200),
        (U1, Method::GET, format!("{u1p}/tasks"), None, 200),
        (U2, Method::GET, format!("{u1p}/tasks"), None, 403),
        (Ga2, Method::GET, format!("{u1p}/tasks"), None, 403),
        // Exports: who may read the list (what each sees: exports.rs).
        (
            Anonymous,
            Method::GET,
            format!("{u1p}/tasks/export"),
            None,
            401,
        ),
        (Owner, Method::GET, format!("{u1p}/tasks/export"), None, 200),
        (
            Ga,
            Method::GET,
            format!("{u1p}/tasks/export?format=json"),
            None,
            200,
        ),
        (U1, Method::GET, format!("{u1p}/tasks/export"), None, 200),
        (U2, Method::GET, format!("{u1p}/tasks/export"), None, 403),
        (Ga2, Method::GET, format!("{u1p}/tasks/export"), None, 403),
        (
            Owner,
            Method::GET,
            "/users/999999/tasks/export".into(),
            None,
            404,
        ),
        (
            Owner,
            Method::GET,
            format!("/groups/{g1}/tasks/export"),
            None,
            200,
        ),
        (
            Ga,
            Method::GET,
            format!("/groups/{g1}/tasks/export"),
            None,
            200,
        ),
        (
            U1,
            Method::GET,
            format!("/groups/{g1}/tasks/export?format=json"),
            None,
            200,
        ),
        (
            U3,
            Method::GET,
            format!("/groups/{g1}/tasks/export"),
            None,
            403,
        ),
        (
            Ga2,
            Method::GET,
            format!("/groups/{g1}/tasks/export"),
            None,
            403,
        ),
        (
            Owner,
            Method::GET,
            "/groups/999999/tasks/export".into(),
            None,
            404,
        ),
        // Imports (a CSV body): who may create the user's tasks
        // (imports.rs covers the rest); jobs: their creator and the owner.
        (
            Anonymous,
            Method::POST,
            format!("{u1p}/tasks/import"),
            Some(json!(csv_g1)),
            401,
        ),
        (
            Owner,
            Method::POST,
            format!("{u1p}/tasks/import"),
            Some(json!(csv_g1)),
            201,
        ),
        (
            U1,
            Method::POST,
            format!("{u1p}/tasks/import"),
            Some(json!(csv_g1)),
            201,
        ),
        (
            U1,
            Method::POST,
            format!("{u1p}/tasks/import?dry_run=true"),
            Some(json!(csv_g1)),
            200,
        ),
        (
            Ga,
            Method::POST,
            format!("{u1p}/tasks/import"),
            Some(json!(csv_g1)),
            201,
        ),
        (
            Ga,
            Method::POST,
            format!("{u1p}/tasks/import"),
            Some(json!(csv_g2)),
            422,
        ),
        (
            U2,
            Method::POST,
            format!("{u1p}/tasks/import"),
            Some(json!(csv_g1)),
            403,
        ),
        (
            Ga2,
            Method::POST,
            format!("{u1p}/tasks/import"),
            Some(json!(csv_g1)),
            403,
        ),
        (
            GaMember,
            Method::POST,
            format!("{u1p}/tasks/import"),
            Some(json!(csv_g1)),
            403,
        ),
        (
            Owner,
            Method::POST,
            "/users/999999/tasks/import".into(),
            Some(json!(csv_g1)),
            404,
        ),
        (Anonymous, Method::GET, format!("/jobs/{job}"), None, 401),
        (U1, Method::GET, format!("/jobs/{job}"), None, 200),
        (Owner, Method::GET, format!("/jobs/{job}"), None, 200),
        (U2, Method::GET, format!("/jobs/{job}"), None, 404),
        (Ga, Method::GET, format!("/jobs/{job}"), None, 404),
        (Owner, Method::GET, "/jobs/999999".into(), None, 404),
        (Owner, Method::GET, "/jobs/abc".into(), None, 400),
        (U2, Method::DELETE, format!("/jobs/{job}"), None, 404),
        (Ga, Method::DELETE, format!("/jobs/{job}"), None, 404),
        (U1, Method::DELETE, format!("/jobs/{job}"), None, 409),
        (Owner, Method::DELETE, format!("/jobs/{job}"), None, 409),
        (
            Owner,
            Method::POST,
            format!("{u1p}/tasks"),
            Some(json!({"title": "x", "group_id": g1})),
            201,
        ),
        (
            Ga,
            Method::POST,
            format!("{u1p}/tasks"),
            Some(json!({"title": "x", "group_id": g1})),
            201,
        ),
        (
            U1,
            Method::POST,
            format!("{u1p}/tasks"),
            Some(json!({"title": "x", "group_id": g1})),
            201,
        ),
        (
            U1,
            Method::POST,
            format!("{u1p}/tasks"),
            Some(json!({"title": "x", "group_id": g2})),
            403,
        ),
        (
            U2,
            Method::POST,
            format!("{u1p}/tasks"),
            Some(json!({"title": "x", "group_id": g1})),
            403,
        ),
        (
            Ga2,
            Method::POST,
            format!("{u1p}/tasks"),
            Some(json!({"title": "x", "group_id": g1})),
            403,
        ),
        (Owner, Method::GET, format!("{u1p}/tasks/{t1}"), None, 200),
        (Ga, Method::GET, format!("{u1p}/tasks/{t1}"), None, 200),
        (U1, Method::GET, format!("{u1p}/tasks/{t1}"), None, 200),
        (U2, Method::GET, format!("{u1p}/tasks/{t1}"), None, 403),
        (U1, Method::GET, format!("{u1p}/tasks/{t3}"), None, 404),
        (Ga, Method::GET, format!("{u3p}/tasks/{t3}"), None, 403),
        (U1, Method::GET, format!("{u1p}/tasks/abc"), None, 400),
        // A task's history: whoever may read the task (tests/it/audit.rs
        // holds what it says).
        (
            Anonymous,
            Method::GET,
            format!("{u1p}/tasks/{t1}/history"),
            None,
            401,
        ),
        (
            Owner,
            Method::GET,
            format!("{u1p}/tasks/{t1}/history"),
            None,
            200,
        ),
        (
            Ga,
            Method::GET,
            format!("{u1p}/tasks/{t1}/history"),
            None,
            200,
        ),
        (
            U1,
            Method::GET,
            format!("{u1p}/tasks/{t1}/history"),
            None,
            200,
        ),
        (
            U2,
            Method::GET,
            format!("{u1p}/tasks/{t1}/history"),
            None,
            403,
        ),
        (
            Ga2,
            Method::GET,
            format!("{u1p}/tasks/{t1}/history"),
            None,
            403,
        ),
        (
            U1,
            Method::GET,
            format!("{u1p}/tasks/{t3}/history"),
            None,
            404,
        ),
        (
            Ga,
            Method::GET,
            format!("{u3p}/tasks/{t3}/history"),
            None,
            403,
        ),
        (
            U1,
            Method::GET,
            format!("{u1p}/tasks/abc/history"),
            None,
            400,
        ),
        (
            U1,
            Method::GET,
            format!("{u1p}/tasks/{t1}/history?limit=0"),
            None,
            422,
        ),
        (
            U1,
            Method::PUT,
            format!("{u1p}/tasks/{t1}"),
            Some(json!({"priority": 1})),
            200,
        ),
        (
            Ga,
            Method::PUT,
            format!("{u1p}/tasks/{t1}"),
            Some(json!({"priority": 3})),
            200,
        ),
        (
            U2,
            Method::PUT,
            format!("{u1p}/tasks/{t1}"),
            Some(json!({"priority": 3})),
            403,
        ),
        (U1, Method::PUT, format!("{u1p}/tasks/{t1}/done"), None, 200),
        (U2, Method::PUT, format!("{u1p}/tasks/{t1}/done"), None, 403),
        (
            U2,
            Method::DELETE,
            format!("{u1p}/tasks/{t_del}"),
            None,
            403,
        ),
        (
            Ga,
            Method::DELETE,
            format!("{u1p}/tasks/{t_del}"),
            None,
            200,
        ),
        // Groups.
        (Owner, Method::GET, "/groups".into(), None, 200),
        (Ga, Method::GET, "/groups".into(), None, 200),
        (U1, Method::GET, "/groups".into(), None, 200),
        (
            Owner,
            Method::POST,
            "/groups".into(),
            Some(json!({"name": "New G", "admin_id": ga.id})),
            201,
        ),
        (
            Ga,
            Method::POST,
            "/groups".into(),
            Some(json!({"name": "GA's G", "admin_id": ga.id})),
            403,
        ),
        (
            U1,
            Method::POST,
            "/groups".into(),
            Some(json!({"name": "U's G", "admin_id": ga.id})),
            403,
        ),
        (Owner, Method::GET, format!("/groups/{g1}"), None, 200),
        (Ga, Method::GET, format!("/groups/{g1}"), None, 200),
        (GaMember, Method::GET, format!("/groups/{g1}"), None, 200),
        (U1, Method::GET, format!("/groups/{g1}"), None, 200),
        (U3, Method::GET, format!("/groups/{g1}"), None, 403),
        (Ga2, Method::GET, format!("/groups/{g1}"), None, 403),
        (Owner, Method::GET, "/groups/999999".into(), None, 404),
        (Owner, Method::GET, "/groups/x".into(), None, 400),
        (
            Owner,
            Method::PUT,
            format!("/groups/{g1}"),
            Some(json!({"name": "G one"})),
            200,
        ),
        (
            Ga,
            Method::PUT,
            format!("/groups/{g1}"),
            Some(json!({"name": "mine"})),
            403,
        ),
        (
            U1,
            Method::PUT,
            format!("/groups/{g1}"),
            Some(json!({"name": "mine"})),
            403,
        ),
        (
            Ga2,
            Method::DELETE,
            format!("/groups/{g_victim}"),
            None,
            403,
        ),
        (
            Owner,
            Method::DELETE,
            format!("/groups/{g_victim}"),
            None,
            200,
        ),
        (Ga, Method::GET, format!("/groups/{g1}/users"), None, 200),
        (U1, Method::GET, format!("/groups/{g1}/users"), None, 200),
        (U3, Method::GET, format!("/groups/{g1}/users"), None, 403),
        (
            U1,
            Method::POST,
            format!("/groups/{g1}/users"),
            Some(json!({"user_id": u3.id})),
            403,
        ),
        (
            GaMember,
            Method::POST,
            format!("/groups/{g1}/users"),
            Some(json!({"user_id": u3.id})),
            403,
        ),
        (
            Ga2,
            Method::POST,
            format!("/groups/{g1}/users"),
            Some(json!({"user_id": u3.id})),
            403,
        ),
        // u3 belongs to g2 only, which Ga does not administer: not Ga's
        // to add (and "not found" to it), the owner's.
        (
            Ga,
            Method::POST,
            format!("/groups/{g1}/users"),
            Some(json!({"user_id": u3.id})),
            422,
        ),
        (
            Owner,
            Method::POST,
            format!("/groups/{g1}/users"),
            Some(json!({"user_id": u3.id})),
            200,
        ),
        (
            U1,
            Method::DELETE,
            format!("/groups/{g1}/users/{}", u3.id),
            None,
            403,
        ),
        (
            Ga,
            Method::DELETE,
            format!("/groups/{g1}/users/{}", u3.id),
            None,
            200,
        ),
        // A group admin removes only plain users, as it adds only them.
        (
            Ga,
            Method::DELETE,
            format!("/groups/{g1}/users/{}", ga_member.id),
            None,
            403,
        ),
        (
            Ga,
            Method::DELETE,
            format!("/groups/{g1}/users/{}", ga.id),
            None,
            403,
        ),
        // Outside the group, the role stays unsaid: not a member, 404.
        (
            Ga,
            Method::DELETE,
            format!("/groups/{g1}/users/{}", ga2.id),
            None,
            404,
        ),
        (Ga, Method::GET, format!("/groups/{g1}/tasks"), None, 200),
        (
            GaMember,
            Method::GET,
            format!("/groups/{g1}/tasks"),
            None,
            200,
        ),
        (U1, Method::GET, format!("/groups/{g1}/tasks"), None, 200),
        (U3, Method::GET, format!("/groups/{g1}/tasks"), None, 403),
        (Ga, Method::GET, format!("/groups/{g1}/stats"), None, 200),
        (
            GaMember,
            Method::GET,
            format!("/groups/{g1}/stats"),
            None,
            200,
        ),
        (U1, Method::GET, format!("/groups/{g1}/stats"), None, 200),
        (U3, Method::GET, format!("/groups/{g1}/stats"), None, 403),
        (
            Owner,
            Method::POST,
            format!("/groups/{g1}/stats"),
            None,
            405,
        ),
        // A group's labels: read by whoever may read the group (a plain
        // member sees those of its own tasks), renamed by the owner and
        // the group's admin only.
        (
            Anonymous,
            Method::GET,
            format!("/groups/{g1}/labels"),
            None,
            401,
        ),
        (
            Owner,
            Method::GET,
            format!("/groups/{g1}/labels"),
            None,
            200,
        ),
        (Ga, Method::GET, format!("/groups/{g1}/labels"), None, 200),
        (
            GaMember,
            Method::GET,
            format!("/groups/{g1}/labels"),
            None,
            200,
        ),
        (U1, Method::GET, format!("/groups/{g1}/labels"), None, 200),
        (U3, Method::GET, format!("/groups/{g1}/labels"), None, 403),
        (Ga2, Method::GET, format!("/groups/{g1}/labels"), None, 403),
        (
            Owner,
            Method::GET,
            "/groups/999999/labels".into(),
            None,
            404,
        ),
        (
            Owner,
            Method::POST,
            format!("/groups/{g1}/labels"),
            None,
            405,
        ),
        (
            Owner,
            Method::POST,
            format!("/groups/{g1}/labels/rename"),
            Some(json!({"from": "a", "to": "b"})),
            200,
        ),
        (
            Ga,
            Method::POST,
            format!("/groups/{g1}/labels/rename"),
            Some(json!({"from": "b", "to": "a"})),
            200,
        ),
        (
            GaMember,
            Method::POST,
            format!("/groups/{g1}/labels/rename"),
            Some(json!({"from": "a", "to": "b"})),
            403,
        ),
        (
            U1,
            Method::POST,
            format!("/groups/{g1}/labels/rename"),
            Some(json!({"from": "a", "to": "b"})),
            403,
        ),
        (
            Ga2,
            Method::POST,
            format!("/groups/{g1}/labels/rename"),
            Some(json!({"from": "a", "to": "b"})),
            403,
        ),
        (
            Owner,
            Method::POST,
            "/groups/999999/labels/rename".into(),
            Some(json!({"from": "a", "to": "b"})),
            404,
        ),
        (
            Owner,
            Method::GET,
            format!("/groups/{g1}/labels/rename"),
            None,
            405,
        ),
        // A filter is judged after the caller: a stranger learns nothing
        // from a bad one.
        (
            U1,
            Method::GET,
            format!("{u1p}/tasks?state=done"),
            None,
            200,
        ),
        (
            U1,
            Method::GET,
            format!("{u1p}/tasks?state=bogus"),
            None,
            422,
        ),
        (
            U2,
            Method::GET,
            format!("{u1p}/tasks?state=bogus"),
            None,
            403,
        ),
        (
            Anonymous,
            Method::GET,
            format!("{u1p}/tasks?state=bogus"),
            None,
            401,
        ),
        (
            U3,
            Method::GET,
            format!("/groups/{g1}/tasks?label=%20x"),
            None,
            403,
        ),
        (
            U1,
            Method::GET,
            format!("/groups/{g1}/tasks?label=%20x"),
            None,
            422,
        ),
        // Global task endpoints.
        (Owner, Method::GET, "/tasks/search?q=t".into(), None, 200),
        (Ga, Method::GET, "/tasks/search?q=t".into(), None, 200),
        (U1, Method::GET, "/tasks/search?q=t".into(), None, 403),
        (Owner, Method::GET, "/tasks/stats".into(), None, 200),
        (Ga, Method::GET, "/tasks/stats".into(), None, 200),
        (U1, Method::GET, "/tasks/stats".into(), None, 200),
        (
            U1,
            Method::POST,
            "/tasks/batch".into(),
            Some(json!({"task_ids": [t1], "action": "mark_done"})),
            200,
        ),
        (
            Ga,
            Method::POST,
            "/tasks/batch".into(),
            Some(json!({"task_ids": [t1], "action": "mark_done"})),
            200,
        ),
        (
            U2,
            Method::POST,
            "/tasks/batch".into(),
            Some(json!({"task_ids": [t1], "action": "mark_done"})),
            404,
        ),
        (
            Ga2,
            Method::POST,
            "/tasks/batch".into(),
            Some(json!({"task_ids": [t1], "action": "mark_done"})),
            404,
        ),
        (
            Ga,
            Method::POST,
            "/tasks/batch".into(),
            Some(json!({"task_ids": [t1], "updates": {"group_id": g2}})),
            403,
        ),
        (Owner, Method::GET, "/tasks/filter".into(), None, 200),
        (Ga, Method::GET, "/tasks/filter?user_id=1".into(), None, 200),
        (
            U1,
            Method::GET,
            "/tasks/filter?status=pending".into(),
            None,
            200,
        ),
        (Owner, Method::GET, "/nowhere".into(), None, 404),
        (U1, Method::DELETE, "/tasks/stats".into(), None, 405),
    ];

    let (_, ga_token) = app.api_token(&ga, false).await;
    let mut failures = Vec::new();
    let mut all_bodies = String::new();
    // Accounts: who the caller is, and the public account operations.
    let rows: Vec<(Who, Method, String, Option<Value>, u16)> = rows
        .into_iter()
        .chain([
            (Anonymous, Method::GET, "/auth/me".into(), None, 401),
            (Owner, Method::GET, "/auth/me".into(), None, 200),
            (Ga, Method::GET, "/auth/me".into(), None, 200),
            (U1, Method::GET, "/auth/me".into(), None, 200),
            (
                Anonymous,
                Method::POST,
                "/auth/register".into(),
                Some(new_user(json!([]), "user")),
                403,
            ),
            (
                Anonymous,
                Method::POST,
                "/auth/login".into(),
                Some(json!({"login": u2.id, "password": "wrong"})),
                401,
            ),
            (
                Anonymous,
                Method::POST,
                "/auth/refresh".into(),
                Some(json!({"refresh_token": "tmr_1.x.y"})),
                401,
            ),
            (Anonymous, Method::POST, "/auth/logout".into(), None, 401),
            (
                Owner,
                Method::POST,
                "/auth/logout?all=true".into(),
                None,
                400,
            ),
            // Personal API tokens: one's own only; made with a password or
            // a session, never with another token.
            (Anonymous, Method::GET, "/auth/tokens".into(), None, 401),
            (Owner, Method::GET, "/auth/tokens".into(), None, 400),
            (U1, Method::GET, "/auth/tokens".into(), None, 200),
            (
                U1,
                Method::POST,
                "/auth/tokens".into(),
                Some(json!({"name": "script"})),
                if credential == Credential::Token {
                    403
                } else {
                    201
                },
            ),
            (
                Anonymous,
                Method::POST,
                "/auth/tokens".into(),
                Some(json!({"name": "script"})),
                401,
            ),
            (
                U1,
                Method::DELETE,
                format!("/auth/tokens/{ga_token}"),
                None,
                404,
            ),
            (
                Owner,
                Method::DELETE,
                format!("/auth/tokens/{ga_token}"),
                None,
                400,
            ),
            (
                Ga,
                Method::DELETE,
                format!("/auth/tokens/{ga_token}"),
                None,
                204,
            ),
            // Deactivation: the owner, or a group admin for a user it
            // manages; never one's own account.
            (
                U1,
                Method::PUT,
                format!("/users/{}", sleeper.id),
                Some(json!({"active": false})),
                403,
            ),
            (
                U1,
                Method::PUT,
                u1p.clone(),
                Some(json!({"active": false})),
                403,
            ),
            (
                Ga,
                Method::PUT,
                u3p.clone(),
                Some(json!({"active": false})),
                403,
            ),
            (
                Owner,
                Method::PUT,
                "/users/1".into(),
                Some(json!({"active": false})),
                403,
            ),
            (
                Ga,
                Method::PUT,
                format!("/users/{}", sleeper.id),
                Some(json!({"active": false})),
                200,
            ),
            (
                Owner,
                Method::PUT,
                format!("/users/{}", sleeper.id),
                Some(json!({"active": true})),
                200,
            ),
            // The change feed: anyone signed in reads it, filtered by what
            // each may see (tests/it/feed.rs holds who sees what); a
            // WebSocket needs a WebSocket handshake, an event stream never
            // ends (only its refusals are rows here).
            (Anonymous, Method::GET, "/changes".into(), None, 401),
            (Owner, Method::GET, "/changes".into(), None, 200),
            (Ga, Method::GET, format!("/changes?group={g1}"), None, 200),
            (U1, Method::GET, "/changes?types=task".into(), None, 200),
            (U1, Method::GET, "/changes?since=later".into(), None, 422),
            (Anonymous, Method::GET, "/events".into(), None, 401),
            (U1, Method::GET, "/events?since=later".into(), None, 422),
            (Anonymous, Method::GET, "/ws".into(), None, 401),
            (U1, Method::GET, "/ws".into(), None, 400),
            (
                Anonymous,
                Method::GET,
                "/ws?ticket=forged".into(),
                None,
                401,
            ),
            // Webhooks: the owner's everywhere, a group admin's for its
            // groups (tests/it/webhooks.rs holds the rest).
            (Anonymous, Method::GET, "/webhooks".into(), None, 401),
            (Owner, Method::GET, "/webhooks".into(), None, 200),
            (Ga, Method::GET, "/webhooks".into(), None, 200),
            (U1, Method::GET, "/webhooks".into(), None, 403),
            (
                U1,
                Method::POST,
                "/webhooks".into(),
                Some(
                    json!({"url": "https://93.184.216.34/h", "events": ["task.*"], "group_id": g1}),
                ),
                403,
            ),
            (
                Ga,
                Method::POST,
                "/webhooks".into(),
                Some(
                    json!({"url": "https://93.184.216.34/h", "events": ["task.*"], "group_id": g2}),
                ),
                403,
            ),
            (
                Ga,
                Method::POST,
                "/webhooks".into(),
                Some(
                    json!({"url": "https://93.184.216.34/h", "events": ["task.*"], "group_id": g1}),
                ),
                201,
            ),
            (
                Owner,
                Method::POST,
                "/webhooks".into(),
                Some(json!({"url": "https://93.184.216.34/h", "events": ["user.*"]})),
                201,
            ),
            (Owner, Method::GET, "/webhooks/999999".into(), None, 404),
            (Ga, Method::GET, "/webhooks/abc".into(), None, 400),
            (U1, Method::DELETE, "/webhooks/1".into(), None, 403),
            (
                U1,
                Method::PUT,
                "/webhooks/1".into(),
                Some(json!({"active": false})),
                403,
            ),
            (
                Owner,
                Method::PUT,
                "/webhooks/999999".into(),
                Some(json!({"active": false})),
                404,
            ),
            (
                Anonymous,
                Method::GET,
                "/webhooks/1/deliveries".into(),
                None,
                401,
            ),
            (U1, Method::GET, "/webhooks/1/deliveries".into(), None, 403),
            (
                Owner,
                Method::GET,
                "/webhooks/999999/deliveries".into(),
                None,
                404,
            ),
            (
                U1,
                Method::POST,
                "/webhooks/1/deliveries/1-0.1/redeliver".into(),
                None,
                403,
            ),
            (
                Owner,
                Method::POST,
                "/webhooks/999999/deliveries/1-0.999999/redeliver".into(),
                None,
                404,
            ),
            (
                Ga,
                Method::POST,
                "/webhooks/1/deliveries/not-a-delivery/redeliver".into(),
                None,
                404,
            ),
            // The audit log: the owner's alone.
            (Anonymous, Method::GET, "/admin/audit".into(), None, 401),
            (Owner, Method::GET, "/admin/audit".into(), None, 200),
            (
                Owner,
                Method::GET,
                "/admin/audit?entity=tasks".into(),
                None,
                422,
            ),
            (Ga, Method::GET, "/admin/audit".into(), None, 403),
            (U1, Method::GET, "/admin/audit".into(), None, 403),
            (U1, Method::GET, "/admin/audit?limit=0".into(), None, 403),
            // Metrics follow the network, not the role: every caller here
            // is on this machine (tests/it/metrics.rs holds the refusals).
            (Anonymous, Method::GET, "/metrics".into(), None, 200),
            (U1, Method::GET, "/metrics".into(), None, 200),
            (Owner, Method::GET, "/metrics".into(), None, 200),
            // The status page holds no data; what it shows is the owner's.
            (Anonymous, Method::GET, "/status".into(), None, 200),
            (U1, Method::GET, "/status".into(), None, 200),
            (Anonymous, Method::GET, "/status/data".into(), None, 401),
            (U1, Method::GET, "/status/data".into(), None, 403),
            (Ga, Method::GET, "/status/data".into(), None, 403),
            (GaMember, Method::GET, "/status/data".into(), None, 403),
            (Owner, Method::GET, "/status/data".into(), None, 200),
            (Anonymous, Method::POST, "/auth/ws-ticket".into(), None, 401),
            (Owner, Method::POST, "/auth/ws-ticket".into(), None, 200),
            (U1, Method::POST, "/auth/ws-ticket".into(), None, 200),
            // Last: it ends U3's sessions.
            (U3, Method::POST, "/auth/logout?all=true".into(), None, 204),
        ])
        .collect();
    for (who, method, path, body, want) in rows {
        // A string body is a CSV file (an import's).
        let res = match body {
            Some(Value::String(csv)) => app.upload(&path, &auth(who), "text/csv", csv).await,
            body => app.call(method.clone(), &path, &auth(who), body).await,
        };
        if res.status.as_u16() != want {
            failures.push(format!(
                "{who:?} {method} {path}: want {want}, got {} {}",
                res.status.as_u16(),
                res.text()
            ));
        }
        if !res.status.is_success() {
            let b = res.json();
            if b["success"] != false || !b["error"].is_string() {
                failures.push(format!(
                    "{who:?} {method} {path}: error body not enveloped: {}",
                    res.text()
                ));
            }
        }
        // The status page is the same static text for everyone (its
        // login form names a password field); the answers are the data.
        if path != "/status" {
            all_bodies.push_str(&res.text());
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        !all_bodies.contains("\"password\""),
        "a response carried a password field"
    );
    for auth in tokens.values() {
        if let Auth::Bearer(token) = auth {
            let secret = token.rsplit('.').next().expect("secret");
            assert!(!all_bodies.contains(secret), "a response carried a token");
        }
    }
    assert!(
        !all_bodies.contains("$argon2"),
        "a response carried a password hash"
    );
    assert!(
        !all_bodies.contains("\"pw\""),
        "a response carried a password hash field"
    );
}
