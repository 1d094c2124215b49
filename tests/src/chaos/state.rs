//! The final state, read row by row from Redis (as its unrestricted user,
//! through the key layout) and from PostgreSQL, in the canonical shape of
//! [`super::model::project`], and the invariants Redis's indexes must
//! keep.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Result;
use redis::AsyncCommands;
use serde_json::{Value, json};
use taskmaster_shared::keys::{Keys, RowType};

use super::model::{Kind, RowKey, project};

pub type Rows = BTreeMap<RowKey, Value>;

async fn scan(redis: &mut redis::aio::MultiplexedConnection, pattern: &str) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(redis)
            .await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

fn num(s: Option<&String>) -> Value {
    s.and_then(|s| s.parse::<u64>().ok())
        .map_or(Value::Null, |n| json!(n))
}

/// Every row in Redis, and the invariants it breaks.
pub async fn redis_rows(
    redis: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
) -> Result<(Rows, Vec<String>)> {
    let mut rows = Rows::new();
    let mut broken = Vec::new();
    let mut members_of: HashMap<u64, BTreeSet<u64>> = HashMap::new();

    let users: BTreeSet<u64> = redis.smembers(keys.all(RowType::User)).await?;
    let emails: HashMap<String, u64> = redis.hgetall(keys.email_index()).await?;
    let mut seen_emails = BTreeSet::new();
    for id in &users {
        let h: HashMap<String, String> = redis.hgetall(keys.row(RowType::User, *id)).await?;
        if h.is_empty() {
            broken.push(format!("user {id} is in the set of users but has no row"));
            continue;
        }
        let groups: BTreeSet<u64> = redis.smembers(keys.user_groups(*id)).await?;
        let email = h.get("email").cloned().unwrap_or_default();
        seen_emails.insert(email.to_lowercase());
        if emails.get(&email.to_lowercase()) != Some(id) {
            broken.push(format!("user {id}: its e-mail is not indexed to it"));
        }
        let work_times: Value = h
            .get("work_times")
            .and_then(|w| serde_json::from_str(w).ok())
            .unwrap_or(json!({}));
        rows.insert(
            (Kind::User, id.to_string()),
            json!({"id": id, "full_name": h.get("full_name"), "email": email, "role": h.get("role"),
                   "number": h.get("number").cloned().unwrap_or_default(), "work_times": work_times,
                   "active": h.get("active").map(String::as_str) != Some("0"), "group_ids": groups}),
        );
        members_of.insert(*id, groups);
    }
    for (email, id) in &emails {
        if !seen_emails.contains(email) {
            broken.push(format!(
                "e-mail index names user {id} for {email:?}, which no user has"
            ));
        }
    }

    let groups: BTreeSet<u64> = redis.smembers(keys.all(RowType::Group)).await?;
    let names: HashMap<String, u64> = redis.hgetall(keys.group_name_index()).await?;
    for id in &groups {
        let h: HashMap<String, String> = redis.hgetall(keys.row(RowType::Group, *id)).await?;
        if h.is_empty() {
            broken.push(format!("group {id} is in the set of groups but has no row"));
            continue;
        }
        let name = h.get("name").cloned().unwrap_or_default();
        if names.get(&name.to_lowercase()) != Some(id) {
            broken.push(format!("group {id}: its name is not indexed to it"));
        }
        let admin = h
            .get("admin_id")
            .and_then(|a| a.parse::<u64>().ok())
            .unwrap_or(0);
        let admin_of: BTreeSet<u64> = redis.smembers(keys.user_admin_of(admin)).await?;
        if !users.contains(&admin) || !admin_of.contains(id) {
            broken.push(format!(
                "group {id}: its admin {admin} is missing or does not list it"
            ));
        }
        let members: BTreeSet<u64> = redis.smembers(keys.group_members(*id)).await?;
        for m in &members {
            if !members_of.get(m).is_some_and(|g| g.contains(id)) {
                broken.push(format!(
                    "group {id} lists member {m}, whose groups do not hold it"
                ));
            }
        }
        rows.insert(
            (Kind::Group, id.to_string()),
            json!({"id": id, "name": name, "admin_id": admin}),
        );
    }
    if names.len() != groups.len() {
        broken.push(format!(
            "the group name index has {} names for {} groups",
            names.len(),
            groups.len()
        ));
    }
    for (user, gs) in &members_of {
        for g in gs {
            let members: BTreeSet<u64> = redis.smembers(keys.group_members(*g)).await?;
            if !groups.contains(g) || !members.contains(user) {
                broken.push(format!(
                    "user {user} is in group {g}, which is gone or does not list it"
                ));
            }
        }
    }

    let mut task_sets: HashMap<String, BTreeSet<u64>> = HashMap::new();
    for key in scan(redis, &keys.task_row_pattern()).await? {
        let Some(id) = key.rsplit(':').next().and_then(|i| i.parse::<u64>().ok()) else {
            continue;
        };
        let Some(text): Option<String> = redis.get(&key).await? else {
            continue;
        };
        let task: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let (user, group) = (
            task["user_id"].as_u64().unwrap_or(0),
            task["group_id"].as_u64().unwrap_or(0),
        );
        for set in [keys.user_tasks(user), keys.group_tasks(group)] {
            if !task_sets.contains_key(&set) {
                let ids: BTreeSet<u64> = redis.smembers(&set).await?;
                task_sets.insert(set.clone(), ids);
            }
            if !task_sets[&set].contains(&id) {
                broken.push(format!("task {id} is not in {set}"));
            }
        }
        if !users.contains(&user) || !groups.contains(&group) {
            broken.push(format!(
                "task {id}: its user {user} or group {group} is gone"
            ));
        } else if !members_of.get(&user).is_some_and(|g| g.contains(&group)) {
            broken.push(format!(
                "task {id} is in group {group}, which its user {user} is not in"
            ));
        }
        rows.insert((Kind::Task, id.to_string()), project(Kind::Task, &task));
    }
    for (set, ids) in &task_sets {
        for id in ids {
            if !rows.contains_key(&(Kind::Task, id.to_string())) {
                broken.push(format!("{set} holds task {id}, which is gone"));
            }
        }
    }

    for key in scan(redis, &keys.api_token_pattern()).await? {
        let id = key.rsplit(':').next().unwrap_or_default().to_owned();
        let Some(text): Option<String> = redis.get(&key).await? else {
            continue;
        };
        let Some(t) = taskmaster_shared::api_token::TokenRecord::parse(&text) else {
            broken.push(format!("token {id}: its record does not parse"));
            continue;
        };
        let listed: bool = redis.sismember(keys.user_tokens(t.user), &id).await?;
        if !users.contains(&t.user) || !listed {
            broken.push(format!(
                "token {id}: its user {} is gone or does not list it",
                t.user
            ));
        }
        rows.insert(
            (Kind::Token, id.clone()),
            json!({"id": id, "user_id": t.user, "name": t.name, "read_only": t.read_only}),
        );
    }

    let hooks: BTreeSet<u64> = redis.smembers(keys.all(RowType::Webhook)).await?;
    for id in &hooks {
        let h: HashMap<String, String> = redis.hgetall(keys.row(RowType::Webhook, *id)).await?;
        let group = num(h.get("group"));
        if let Some(g) = group.as_u64() {
            let listed: bool = redis.sismember(keys.group_webhooks(g), id).await?;
            if !groups.contains(&g) || !listed {
                broken.push(format!(
                    "webhook {id}: its group {g} is gone or does not list it"
                ));
            }
        }
        let mut events: Vec<&str> = h
            .get("events")
            .map(|e| e.split(',').collect())
            .unwrap_or_default();
        events.sort_unstable();
        rows.insert(
            (Kind::Webhook, id.to_string()),
            json!({"id": id, "group_id": group, "url": h.get("url"), "events": events,
                   "active": h.get("active").map(String::as_str) == Some("1")}),
        );
    }

    for t in RowType::ALL {
        let (dirty, inflight): (u64, u64) = redis::pipe()
            .scard(keys.dirty(t))
            .scard(keys.inflight(t))
            .query_async(redis)
            .await?;
        if dirty + inflight > 0 {
            broken.push(format!(
                "{dirty} dirty and {inflight} in-flight {} after the final flush",
                t.plural()
            ));
        }
        let seq: Option<u64> = redis.get(keys.sequence(t)).await?;
        let kind = match t {
            RowType::User => Kind::User,
            RowType::Group => Kind::Group,
            RowType::Task => Kind::Task,
            RowType::Webhook => Kind::Webhook,
        };
        let max = rows
            .keys()
            .filter(|k| k.0 == kind)
            .filter_map(|k| k.1.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        if seq.unwrap_or(0) < max {
            broken.push(format!(
                "the {} counter {seq:?} is below the largest id {max}",
                t.plural()
            ));
        }
    }
    let (maintenance, leaving): (bool, u64) = redis::pipe()
        .exists(keys.maintenance())
        .hlen(keys.leaving())
        .query_async(redis)
        .await?;
    if maintenance || leaving > 0 {
        broken.push(format!(
            "maintenance flag {maintenance}, {leaving} leaves unfinished"
        ));
    }
    Ok((rows, broken))
}

const TIME: &str = "(extract(epoch FROM {}) * 1000000)::bigint";

fn t(col: &str) -> String {
    TIME.replace("{}", col)
}

/// Every row in PostgreSQL.
pub async fn pg_rows(pg: &tokio_postgres::Client) -> Result<Rows> {
    let mut rows = Rows::new();
    for r in pg
        .query(
            "SELECT id, full_name, email, role, number, work_times, active, \
             COALESCE((SELECT json_agg(group_id ORDER BY group_id) FROM user_groups WHERE user_id = u.id), '[]'::json)::jsonb \
             FROM users u",
            &[],
        )
        .await?
    {
        let id: i64 = r.get(0);
        rows.insert(
            (Kind::User, id.to_string()),
            json!({"id": id, "full_name": r.get::<_, String>(1), "email": r.get::<_, String>(2),
                   "role": r.get::<_, String>(3), "number": r.get::<_, String>(4),
                   "work_times": r.get::<_, Value>(5), "active": r.get::<_, bool>(6), "group_ids": r.get::<_, Value>(7)}),
        );
    }
    for r in pg
        .query("SELECT id, name, admin_id FROM groups", &[])
        .await?
    {
        let id: i64 = r.get(0);
        rows.insert(
            (Kind::Group, id.to_string()),
            json!({"id": id, "name": r.get::<_, String>(1), "admin_id": r.get::<_, i64>(2)}),
        );
    }
    let sql = format!(
        "SELECT id, title, status, priority, COALESCE(to_char(deadline, 'YYYY-MM-DD'), ''), information, user_id, group_id, \
                state, created_by, to_jsonb(labels), {}, {}, {} FROM tasks",
        t("created_at"),
        t("updated_at"),
        t("completed_at")
    );
    for r in pg.query(&sql, &[]).await? {
        let id: i64 = r.get(0);
        rows.insert(
            (Kind::Task, id.to_string()),
            json!({"id": id, "title": r.get::<_, String>(1), "status": r.get::<_, bool>(2),
                   "priority": r.get::<_, i16>(3), "deadline": r.get::<_, String>(4),
                   "information": r.get::<_, String>(5), "user_id": r.get::<_, i64>(6), "group_id": r.get::<_, i64>(7),
                   "state": r.get::<_, String>(8), "created_by": r.get::<_, Option<i64>>(9),
                   "labels": r.get::<_, Value>(10), "created_at": r.get::<_, Option<i64>>(11),
                   "updated_at": r.get::<_, Option<i64>>(12), "completed_at": r.get::<_, Option<i64>>(13)}),
        );
    }
    for r in pg
        .query("SELECT id, user_id, name, read_only FROM api_tokens", &[])
        .await?
    {
        let id: String = r.get(0);
        rows.insert(
            (Kind::Token, id.clone()),
            json!({"id": id, "user_id": r.get::<_, i64>(1), "name": r.get::<_, String>(2), "read_only": r.get::<_, bool>(3)}),
        );
    }
    for r in pg
        .query(
            "SELECT id, group_id, url, events, active FROM webhooks",
            &[],
        )
        .await?
    {
        let id: i64 = r.get(0);
        let mut events: Vec<String> = r.get(3);
        events.sort();
        rows.insert(
            (Kind::Webhook, id.to_string()),
            json!({"id": id, "group_id": r.get::<_, Option<i64>>(1), "url": r.get::<_, String>(2), "events": events,
                   "active": r.get::<_, bool>(4)}),
        );
    }
    Ok(rows)
}

/// The request ids of PostgreSQL's audit records (`chaos-{op}`), with
/// how many records each has.
pub async fn audited_ops(pg: &tokio_postgres::Client) -> Result<HashMap<u64, u64>> {
    let mut ops = HashMap::new();
    for r in pg
        .query(
            "SELECT substr(request_id, 7)::bigint, count(*) FROM audit_log \
             WHERE request_id ~ '^chaos-[0-9]+$' GROUP BY 1",
            &[],
        )
        .await?
    {
        ops.insert(r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64);
    }
    Ok(ops)
}
