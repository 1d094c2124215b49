//! Making test data through the api itself (as the owner, so every row
//! is made by the same scripts as in production), and signing in as it.

use hyper::{Method, StatusCode};
use serde_json::Value;

use crate::{Auth, TestApp, unique};

/// A user made by [`TestApp::seed_user`].
#[derive(Debug, Clone)]
pub struct Seeded {
    pub id: u64,
    pub email: String,
    pub password: String,
}

impl Seeded {
    pub fn auth(&self) -> Auth {
        Auth::Basic(self.id.to_string(), self.password.clone())
    }
}

impl TestApp {
    /// Waits (20 s at most) until a syncd reports itself active on
    /// `/admin/status`; fails the test with `syncd`'s output otherwise.
    pub async fn wait_for_active_syncd(&self, syncd: &crate::ChildProcess) {
        let active = crate::eventually(std::time::Duration::from_secs(20), || async {
            let s = self
                .call(Method::GET, "/admin/status", &Auth::Owner, None)
                .await
                .json();
            (s["data"]["running"] == true).then_some(())
        })
        .await;
        assert!(active.is_some(), "syncd never active:\n{}", syncd.output());
    }

    /// Creates a user through the api as the owner; panics unless 201.
    pub async fn seed_user(&self, role: &str, groups: &[u64]) -> Seeded {
        let n = unique();
        let email = format!("user{n}@example.com");
        let password = format!("pw-{n}-secret");
        let res = self
            .call(
                Method::POST,
                "/users",
                &Auth::Owner,
                Some(serde_json::json!({
                    "full_name": format!("User {n}"),
                    "email": email,
                    "password": password,
                    "role": role,
                    "group_ids": groups,
                })),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "seed user: {}", res.text());
        let id = res.json()["data"]["user"]["id"].as_u64().expect("user id");
        Seeded {
            id,
            email,
            password,
        }
    }

    /// Opens a login session for `user` (`POST /auth/login`); panics unless
    /// 200. The answer's `data`: the tokens and the user.
    pub async fn login(&self, user: &Seeded) -> Value {
        let res = self
            .call(
                Method::POST,
                "/auth/login",
                &Auth::None,
                Some(serde_json::json!({"login": user.id, "password": user.password})),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "login: {}", res.text());
        res.json()["data"].clone()
    }

    /// A bearer access token of a new session of `user`.
    pub async fn bearer(&self, user: &Seeded) -> Auth {
        let data = self.login(user).await;
        Auth::Bearer(
            data["access_token"]
                .as_str()
                .expect("access token")
                .to_owned(),
        )
    }

    /// A new personal API token of `user` (made with its password): the
    /// bearer auth and the token's id.
    pub async fn api_token(&self, user: &Seeded, read_only: bool) -> (Auth, String) {
        let res = self
            .call(
                Method::POST,
                "/auth/tokens",
                &user.auth(),
                Some(serde_json::json!({"name": "test", "read_only": read_only})),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "token: {}", res.text());
        let data = res.json()["data"].clone();
        (
            Auth::Bearer(data["token"].as_str().expect("token").to_owned()),
            data["api_token"]["id"].as_str().expect("id").to_owned(),
        )
    }

    /// The usual cast: a group admin, a group it administers, and a user
    /// who is a member of it.
    pub async fn seed_team(&self) -> (Seeded, u64, Seeded) {
        let admin = self.seed_user("group_admin", &[]).await;
        let group = self.seed_group(admin.id).await;
        let user = self.seed_user("user", &[group]).await;
        (admin, group, user)
    }

    /// Creates a group through the api as the owner; panics unless 201.
    pub async fn seed_group(&self, admin: u64) -> u64 {
        let name = format!("Group {}", unique());
        let res = self
            .call(
                Method::POST,
                "/groups",
                &Auth::Owner,
                Some(serde_json::json!({"name": name, "admin_id": admin})),
            )
            .await;
        assert_eq!(
            res.status,
            StatusCode::CREATED,
            "seed group: {}",
            res.text()
        );
        res.json()["data"]["group"]["id"]
            .as_u64()
            .expect("group id")
    }

    /// Adds a member as the owner; panics unless 200.
    pub async fn seed_member(&self, group: u64, user: u64) {
        let res = self
            .call(
                Method::POST,
                &format!("/groups/{group}/users"),
                &Auth::Owner,
                Some(serde_json::json!({"user_id": user})),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "seed member: {}", res.text());
    }

    /// Creates a task as the owner; panics unless 201.
    pub async fn seed_task(&self, user: u64, group: u64, title: &str) -> u64 {
        let res = self
            .call(
                Method::POST,
                &format!("/users/{user}/tasks"),
                &Auth::Owner,
                Some(serde_json::json!({"title": title, "group_id": group, "priority": 2})),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "seed task: {}", res.text());
        res.json()["data"]["task"]["id"].as_u64().expect("task id")
    }

    /// `GET /users/{user}/tasks/{tid}` as `auth`: the task; panics
    /// unless 200.
    pub async fn task(&self, user: u64, tid: u64, auth: &Auth) -> Value {
        let res = self
            .call(
                Method::GET,
                &format!("/users/{user}/tasks/{tid}"),
                auth,
                None,
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "task {tid}: {}", res.text());
        res.json()["data"].clone()
    }
}
