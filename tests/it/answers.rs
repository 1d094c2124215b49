//! A task's JSON is written in two places, the Rust side (a create's row
//! and answer) and the Lua scripts (every later change re-encodes the
//! row), and the busiest answers are spliced from those stored rows rather
//! than serialised from `taskmaster_api::answers`. These tests hold all of
//! them to the Rust types: the same fields, with the same values, in the
//! same order, for text that is hard to encode.

use std::fmt;

use hyper::{Method, StatusCode};
use serde::Serialize;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::json;
use taskmaster_api::answers::{PageFields, TaskMessage, UserTasks};
use taskmaster_shared::model::Task;
use taskmaster_tests::{Auth, spawn_app};

/// JSON with its objects' members kept in the order they were written
/// (`serde_json::Value` sorts them), numbers as their text.
#[derive(Debug, PartialEq)]
pub(crate) enum Ordered {
    Null,
    Bool(bool),
    Number(String),
    Text(String),
    List(Vec<Ordered>),
    Object(Vec<(String, Ordered)>),
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Ordered, E> {
                Ok(Ordered::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Ordered, E> {
                Ok(Ordered::Number(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Ordered, E> {
                Ok(Ordered::Number(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Ordered, E> {
                Ok(Ordered::Number(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Ordered, E> {
                Ok(Ordered::Text(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Ordered::List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Ordered::Object(members))
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) fn ordered(bytes: &[u8]) -> Ordered {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// `value` as `answers`' types write it, inside the envelope.
fn enveloped<T: Serialize>(value: T) -> Ordered {
    #[derive(Serialize)]
    struct Envelope<T> {
        success: bool,
        data: T,
    }
    let bytes = serde_json::to_vec(&Envelope {
        success: true,
        data: value,
    })
    .expect("serialised");
    ordered(&bytes)
}

/// Text the two encoders escape differently, or might: quotes and
/// backslashes, the slash (Lua's cjson escapes it, serde does not),
/// control characters, the DEL, non-ASCII letters and a character outside
/// the Basic Multilingual Plane.
const HARD_TEXT: &[&str] = &[
    "plain",
    "quote \" and backslash \\ and slash / together",
    "line\nbreak\ttab\rreturn \u{1} \u{1f} \u{7f} end",
    "Ünïcödé ‹guillemets› 中文 \u{1F600} \u{2028}",
    "</script><b>&amp;",
    "",
];

#[tokio::test]
async fn task_rows_written_by_lua_and_by_rust_agree_with_the_task_type_field_by_field_in_order() {
    let app = spawn_app().await;
    let (_, group, user) = app.seed_team().await;
    // Ids far past what a test reaches by counting, still exact in Lua's
    // doubles (every id below 2^53 is).
    let mut redis = app.redis().await;
    let _: () = redis::cmd("SET")
        .arg(format!("{}seq:tasks", app.keys.prefix()))
        .arg(4_503_599_627_370_000u64)
        .query_async(&mut redis)
        .await
        .expect("counter raised");
    for (i, text) in HARD_TEXT.iter().enumerate() {
        let title = if text.is_empty() { "untitled" } else { text };
        let deadline = if i % 2 == 0 { "" } else { "2028-02-29" };
        // The text as a label can hold: no control characters, no space at
        // either end, at most 50 characters.
        let label: String = text
            .chars()
            .filter(|c| !c.is_control())
            .take(50)
            .collect::<String>()
            .trim()
            .to_owned();
        let labels: Vec<String> = [label, "zz / \"q\" ✓".to_owned()]
            .into_iter()
            .filter(|l| !l.is_empty())
            .collect();
        let state = if i % 2 == 0 { "todo" } else { "in_progress" };
        let res = app
            .call(
                Method::POST,
                &format!("/users/{}/tasks", user.id),
                &user.auth(),
                Some(
                    json!({"title": title, "group_id": group, "information": text,
                            "deadline": deadline, "priority": 3, "labels": labels,
                            "state": state}),
                ),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        // The create's answer is spliced from the row the api built.
        let created: Task = serde_json::from_value(res.json()["data"]["task"].clone())
            .expect("a task in the answer");
        assert!(created.id > 4_503_599_627_370_000, "{}", created.id);
        assert_eq!(
            ordered(&res.body),
            enveloped(TaskMessage {
                message: "Task created successfully",
                task: created.clone(),
            }),
            "{text:?}"
        );
        let row = stored_row(&app, &mut redis, created.id).await;
        assert_eq!(ordered(&row), typed(&row), "row written by Rust: {text:?}");

        // An update makes the script decode and encode the whole row again
        // (and write a completion time and more labels).
        let res = app
            .call(
                Method::PUT,
                &format!("/users/{}/tasks/{}", user.id, created.id),
                &user.auth(),
                Some(json!({"status": true, "add_labels": ["a/b \"c\" ünï"]})),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        let row = stored_row(&app, &mut redis, created.id).await;
        assert_eq!(ordered(&row), typed(&row), "row written by Lua: {text:?}");
        let updated = Task::from_json(&row).expect("a task");
        assert_eq!(
            (&updated.title, &updated.information, &updated.deadline),
            (&created.title, &created.information, &created.deadline),
            "{text:?}"
        );
        assert!(updated.status);
        assert!(updated.completed_at.is_some());
        assert_eq!(updated.labels.len(), created.labels.len() + 1);
        // The single-task read passes the stored row through.
        let res = app
            .call(
                Method::GET,
                &format!("/users/{}/tasks/{}", user.id, created.id),
                &user.auth(),
                None,
            )
            .await;
        assert_eq!(ordered(&res.body), enveloped(&updated), "{text:?}");
    }

    // The list, spliced from the stored rows, reads as its typed answer.
    for auth in [Auth::Owner, user.auth()] {
        let res = app
            .call(
                Method::GET,
                &format!("/users/{}/tasks", user.id),
                &auth,
                None,
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        let tasks: Vec<Task> =
            serde_json::from_value(res.json()["data"]["tasks"].clone()).expect("tasks");
        assert_eq!(tasks.len(), HARD_TEXT.len());
        assert_eq!(
            ordered(&res.body),
            enveloped(UserTasks {
                user_id: user.id,
                tasks: &tasks,
                count: tasks.len(),
                page: PageFields::default(),
            })
        );
        // A page is spliced too: the same fields, then its own.
        let res = app
            .call(
                Method::GET,
                &format!("/users/{}/tasks?limit=100", user.id),
                &auth,
                None,
            )
            .await;
        assert_eq!(
            ordered(&res.body),
            enveloped(UserTasks {
                user_id: user.id,
                tasks: &tasks,
                count: tasks.len(),
                page: PageFields {
                    next_cursor: Some(None),
                    total: Some(tasks.len() as u64),
                },
            })
        );
    }
}

async fn stored_row(
    app: &taskmaster_tests::TestApp,
    redis: &mut redis::aio::MultiplexedConnection,
    id: u64,
) -> Vec<u8> {
    redis::cmd("GET")
        .arg(format!("{}task:{id}", app.keys.prefix()))
        .query_async(redis)
        .await
        .expect("the row")
}

/// A stored row as the `Task` type writes it.
fn typed(row: &[u8]) -> Ordered {
    let task = Task::from_json(row)
        .unwrap_or_else(|| panic!("not a task: {}", String::from_utf8_lossy(row)));
    ordered(&serde_json::to_vec(&task).expect("serialised"))
}
