//! A syncd that loses its lease mid-flush (paused past it: SIGSTOP, a long
//! stall) must neither clear ids the new holder took nor commit what it
//! read before the pause (issue 17 item 8).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::{Method, StatusCode};
use taskmaster_syncd::FlushError;
use taskmaster_syncd::flush::{self, Holder};
use taskmaster_tests::{Auth, ChildProcess, TestApp, eventually, spawn_app};

use crate::admin::{app_syncd_env_with, churn};
use crate::sync::{assert_same, syncd_for};

fn holder(instance: &str, token: u64) -> Holder {
    Holder {
        instance: instance.to_owned(),
        token,
    }
}

/// Hands the lease to `h`, as `lua/lease.lua` would once the old one ran out.
async fn give_lease(app: &TestApp, h: &Holder) {
    let mut redis = app.redis().await;
    let _: () = redis::cmd("SET")
        .arg(app.keys.syncd_lease())
        .arg(format!("{}|{}", h.instance, h.token))
        .query_async(&mut redis)
        .await
        .expect("SET lease");
}

#[tokio::test]
async fn a_flush_that_lost_its_lease_after_committing_leaves_the_new_holders_ids_alone() {
    let app = spawn_app().await;
    let (syncd, pg) = syncd_for(&app).await;
    syncd.migrate().await.expect("migrations");
    let (old, new) = (holder("paused", 1), holder("standby", 2));
    let admin = app.seed_user("group_admin", &[]).await;
    let g = app.seed_group(admin.id).await;
    app.seed_task(admin.id, g, "taken by the old holder").await;

    give_lease(&app, &old).await;
    let (redis, keys, chunk) = (&syncd.redis, &syncd.keys, 100);
    let taken = flush::take(redis, keys, Some(&old)).await.expect("take");
    let committed = flush::write_taken(redis, keys, &syncd.pg, Some(&old), &taken, chunk)
        .await
        .expect("the old holder commits");
    // It stalls here, past its lease; the standby takes over and takes
    // what was written meanwhile.
    give_lease(&app, &new).await;
    let t = app.seed_task(admin.id, g, "taken by the new holder").await;
    app.call(
        Method::DELETE,
        &format!("/users/{}/tasks/{t}", admin.id),
        &Auth::Owner,
        None,
    )
    .await;
    let later = app.seed_task(admin.id, g, "also the new holder's").await;
    let taken = flush::take(redis, keys, Some(&new)).await.expect("take");
    // The old holder wakes up and clears: refused, the ids stay.
    let cleared = flush::clear(redis, keys, Some(&old), &committed).await;
    assert!(matches!(cleared, Err(FlushError::LeaseLost)), "{cleared:?}");
    // Nor may it take again.
    let retaken = flush::take(redis, keys, Some(&old)).await;
    assert!(matches!(retaken, Err(FlushError::LeaseLost)), "{retaken:?}");
    let committed = flush::write_taken(redis, keys, &syncd.pg, Some(&new), &taken, chunk)
        .await
        .expect("the new holder commits");
    flush::clear(redis, keys, Some(&new), &committed)
        .await
        .expect("clear");
    assert_same(&app, &pg).await;
    let found: i64 = pg
        .query_one(
            "SELECT count(*) FROM tasks WHERE id = $1",
            &[&(later as i64)],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(found, 1);
}

#[tokio::test]
async fn a_flush_that_lost_its_lease_before_committing_rolls_back() {
    let app = spawn_app().await;
    let (syncd, pg) = syncd_for(&app).await;
    syncd.migrate().await.expect("migrations");
    let (old, new) = (holder("paused", 1), holder("standby", 2));
    let admin = app.seed_user("user", &[]).await;
    give_lease(&app, &old).await;
    let (redis, keys) = (&syncd.redis, &syncd.keys);
    let taken = flush::take(redis, keys, Some(&old)).await.expect("take");
    give_lease(&app, &new).await;
    let written = flush::write_taken(redis, keys, &syncd.pg, Some(&old), &taken, 100).await;
    assert!(matches!(written, Err(FlushError::LeaseLost)), "{written:?}");
    let users: i64 = pg
        .query_one(
            "SELECT count(*) FROM users WHERE id = $1",
            &[&(admin.id as i64)],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(users, 0, "nothing of the old holder's flush was committed");
    flush::flush_once(redis, keys, &syncd.pg, Some(&new), 100)
        .await
        .expect("the new holder flushes");
    assert_same(&app, &pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_the_active_syncd_past_its_lease_mid_flush_loses_no_acknowledged_write() {
    let (app, first, pg, mut env) = app_syncd_env_with(&[]).await;
    // Flush on every write in small chunks, so that a pause lands mid-flush.
    env.insert("SYNC_MAX_PENDING".into(), "1".into());
    env.insert("SYNC_CHUNK_ROWS".into(), "2".into());
    first.signal(libc::SIGKILL);
    drop(first);
    let mut redis = app.redis().await;
    let _: () = redis::cmd("DEL")
        .arg(app.keys.syncd_lease())
        .query_async(&mut redis)
        .await
        .expect("del");
    let daemons = [
        ChildProcess::spawn("taskmaster-syncd", &env).expect("syncd starts"),
        ChildProcess::spawn("taskmaster-syncd", &env).expect("syncd starts"),
    ];
    let app = Arc::new(app);
    let admin = app.seed_user("group_admin", &[]).await;
    let g = app.seed_group(admin.id).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = churn(app.clone(), admin.id, g, stop.clone());

    let mut pauses = 0;
    for round in 0..3 {
        let active = eventually(Duration::from_secs(20), || async {
            let s = app
                .call(Method::GET, "/admin/status", &Auth::Owner, None)
                .await
                .json();
            let pid = s["data"]["syncd"]["pid"].as_u64()?;
            daemons.iter().find(|d| i64::from(d.pid()) == pid as i64)
        })
        .await
        .unwrap_or_else(|| panic!("round {round}: no daemon is active"));
        tokio::time::sleep(Duration::from_millis(200 + 150 * round)).await;
        active.signal(libc::SIGSTOP);
        // Past the lease (6 s): the other daemon takes over meanwhile.
        tokio::time::sleep(Duration::from_secs(8)).await;
        active.signal(libc::SIGCONT);
        pauses += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writer.await.expect("writer");
    let flushed = eventually(Duration::from_secs(30), || async {
        let res = app
            .call(Method::POST, "/admin/sync?action=force", &Auth::Owner, None)
            .await;
        (res.status == StatusCode::OK).then_some(())
    })
    .await;
    assert!(
        flushed.is_some(),
        "no daemon flushed at the end:\n{}\n{}",
        daemons[0].output(),
        daemons[1].output()
    );
    assert_same(&app, &pg).await;
    eprintln!("{pauses} pauses past the lease during {writes} writes: nothing lost");
}
