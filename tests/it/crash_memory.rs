//! What the api remembers in memory across a crash of Redis's host: a
//! crash under `appendfsync everysec` takes back the last second, and a
//! version the api keeps something under must not mean something else
//! once the restarted server reaches it again (the task-list case is
//! finding 13, in `chaos.rs`).

use std::time::Duration;

use hyper::{Method, StatusCode};
use taskmaster_tests::{Auth, eventually};

use crate::chaos::{Rig, crash_back_to, first_task, rig};

/// Found by reading after finding 13 (seed 1206, `everysec`, long): the
/// api remembers a password as verified against the user's credential
/// version (`cv`) for a minute. A crash took back a password change and
/// its `cv`; counted up by one, the next change reached the same number,
/// and the lost password passed again on every shard that remembered it.
/// A change now sets `cv` to Redis's clock in microseconds, never a number
/// a lost change had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_a_crash_took_back_never_passes_after_the_next_change() {
    use crate::redis_loss::newest_aof;

    let Rig {
        redis, app, syncd, ..
    } = rig("everysec").await;
    let (_admin, g, user) = app.seed_team().await;
    let task = first_task(&app, &syncd, (user.id, g), "mine").await;
    let login = user.id.to_string();
    let with = |password: &str| Auth::Basic(login.clone(), password.to_owned());
    // The user's own data: what a remembered password is checked for
    // (only the version is read), a read and a create.
    let status = |auth: Auth| {
        let app = &app;
        let user = user.id;
        async move {
            let read = app
                .call(
                    Method::GET,
                    &format!("/users/{user}/tasks/{task}"),
                    &auth,
                    None,
                )
                .await
                .status;
            let list = app
                .call(Method::GET, &format!("/users/{user}/tasks"), &auth, None)
                .await
                .status;
            (read, list)
        }
    };
    let change_to = |password: &'static str| {
        let app = &app;
        let path = format!("/users/{}", user.id);
        async move {
            app.call(
                Method::PUT,
                &path,
                &Auth::Owner,
                Some(serde_json::json!({ "password": password })),
            )
            .await
            .status
        }
    };

    let mark = newest_aof(&redis);
    assert_eq!(change_to("lost-password").await, StatusCode::OK);
    // Remembered by whichever shards answer (each keeps its own).
    for _ in 0..4 {
        assert_eq!(
            status(with("lost-password")).await,
            (StatusCode::OK, StatusCode::OK)
        );
    }
    let mut redis = crash_back_to(redis, mark).await;
    // The crash took the change: the password before it is the user's.
    let back = eventually(Duration::from_secs(30), || async {
        (status(user.auth()).await.0 == StatusCode::OK).then_some(())
    })
    .await;
    back.expect("the password from before the crash passes again");
    let changed = eventually(Duration::from_secs(30), || async {
        (change_to("third-password").await == StatusCode::OK).then_some(())
    })
    .await;
    changed.expect("writes resume once syncd checked the restarted server");

    // Two rounds: each refusal counts against the account's 10 attempts.
    for _ in 0..2 {
        assert_eq!(
            status(with("lost-password")).await,
            (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED),
            "the password the crash took back passed"
        );
        let res = app
            .call(
                Method::POST,
                &format!("/users/{}/tasks", user.id),
                &with("lost-password"),
                Some(serde_json::json!({"title": "by the lost password", "group_id": g})),
            )
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
    }
    assert_eq!(
        status(with("third-password")).await,
        (StatusCode::OK, StatusCode::OK)
    );
    drop(syncd);
    let _ = tokio::task::spawn_blocking(move || redis.stop()).await;
}
