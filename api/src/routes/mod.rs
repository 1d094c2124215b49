//! The router: every path of the API. What happens around it is in
//! [`crate::middleware`].
//!
//! [`spec`] is the OpenAPI document of these routes, built from the
//! types the route modules read and answer. Route modules import nothing
//! from each other: what two of them share
//! (loading a row with its permission check, the answer envelope, the
//! statistics' arithmetic) lives at the crate level ([`crate::access`],
//! [`crate::answers`], [`crate::report`]).

mod admin;
mod auth;
mod exports;
mod feed;
mod groups;
mod health;
mod imports;
mod jobs;
mod labels;
mod observe;
pub mod spec;
mod tasks;
mod tokens;
mod users;
mod webhooks;

use axum::Router;
use axum::routing::{MethodRouter, delete, get, post, put};

use crate::error::ApiError;
use crate::state::AppState;

/// The router and the table of its path patterns, built from one list so
/// the two cannot disagree.
pub struct Api {
    pub router: Router,
    /// Path pattern of every route, for the request span (see
    /// [`crate::middleware`]).
    pub routes: matchit::Router<&'static str>,
    /// Every path pattern, in order (the spec's paths must be these).
    pub paths: Vec<&'static str>,
}

/// Collects routes into both halves of [`Api`].
struct Builder {
    router: Router<AppState>,
    routes: matchit::Router<&'static str>,
    paths: Vec<&'static str>,
}

/// Where the whole API is mounted a second time, answering identically, so
/// that new clients can pin a version while the reference's paths stay.
pub const VERSIONED: &str = "/api/v1";

impl Builder {
    fn route(mut self, path: &'static str, methods: MethodRouter<AppState>) -> Self {
        let versioned = format!("{VERSIONED}{path}");
        // Both name the unversioned pattern in the request span.
        self.routes
            .insert(path, path)
            .expect("route patterns are distinct and valid");
        self.routes
            .insert(versioned.as_str(), path)
            .expect("route patterns are distinct and valid");
        self.paths.push(path);
        self.router = self
            .router
            .route(path, methods.clone())
            .route(&versioned, methods);
        self
    }
}

/// Every path of the API, each also under [`VERSIONED`]. The edge ([`crate::middleware::Edge`]) does
/// what would otherwise be layers here.
pub fn api(state: AppState) -> Api {
    let Builder {
        router,
        routes,
        paths,
    } = Builder {
        router: Router::new(),
        routes: matchit::Router::new(),
        paths: Vec::new(),
    }
    .route("/health", get(health::health))
    .route("/openapi.json", get(spec::openapi_json))
    .route("/auth/register", post(auth::register))
    .route("/auth/login", post(auth::login))
    .route("/auth/refresh", post(auth::refresh))
    .route("/auth/logout", post(auth::logout))
    .route("/auth/me", get(auth::me))
    .route("/auth/ws-ticket", post(feed::ticket))
    .route("/auth/tokens", get(tokens::list).post(tokens::create))
    .route("/auth/tokens/{id}", delete(tokens::revoke))
    .route("/users", get(users::list).post(users::create))
    .route("/users/search", get(users::search))
    .route(
        "/users/{id}",
        get(users::get_one).put(users::update).delete(users::delete),
    )
    .route(
        "/users/{id}/worktimes",
        get(users::get_work_times).put(users::put_work_times),
    )
    .route(
        "/users/{id}/tasks",
        get(tasks::list_for_user).post(tasks::create),
    )
    .route("/users/{id}/tasks/export", get(exports::user_tasks))
    .route("/users/{id}/tasks/import", post(imports::import))
    .route(
        "/users/{id}/tasks/{tid}",
        get(tasks::get_one).put(tasks::update).delete(tasks::delete),
    )
    .route("/users/{id}/tasks/{tid}/done", put(tasks::mark_done))
    .route("/users/{id}/tasks/{tid}/history", get(tasks::history))
    .route("/groups", get(groups::list).post(groups::create))
    .route(
        "/groups/{id}",
        get(groups::get_one)
            .put(groups::update)
            .delete(groups::delete),
    )
    .route(
        "/groups/{id}/users",
        get(groups::members).post(groups::add_member),
    )
    .route(
        "/groups/{id}/users/{uid}",
        axum::routing::delete(groups::remove_member),
    )
    .route("/groups/{id}/tasks", get(groups::tasks))
    .route("/groups/{id}/tasks/export", get(exports::group_tasks))
    .route("/groups/{id}/stats", get(groups::stats))
    .route("/groups/{id}/labels", get(labels::list))
    .route("/groups/{id}/labels/rename", post(labels::rename))
    .route("/tasks/search", get(tasks::search))
    .route("/tasks/stats", get(tasks::stats))
    .route("/tasks/batch", post(tasks::batch))
    .route("/tasks/filter", get(tasks::filter))
    .route("/jobs/{id}", get(jobs::get_one).delete(jobs::cancel))
    .route("/admin/status", get(admin::status))
    .route("/admin/stats", get(admin::stats))
    .route("/admin/sync", post(admin::sync))
    .route("/admin/audit", get(admin::audit))
    .route("/webhooks", get(webhooks::list).post(webhooks::create))
    .route(
        "/webhooks/{id}",
        get(webhooks::get_one)
            .put(webhooks::update)
            .delete(webhooks::delete),
    )
    .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
    .route(
        "/webhooks/{id}/deliveries/{delivery_id}/redeliver",
        post(webhooks::redeliver),
    )
    .route("/changes", get(feed::changes))
    .route("/events", get(feed::events))
    .route("/ws", get(feed::socket))
    .route("/metrics", get(observe::metrics))
    .route("/status", get(observe::page))
    .route("/status/data", get(observe::data));
    let router = router
        .merge(spec::docs_page())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    Api {
        router,
        routes,
        paths,
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("Not found".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskmaster_shared::config::{ApiConfig, lookup_from_pairs};

    #[tokio::test]
    async fn the_span_table_names_the_pattern_the_router_matches() {
        let config = ApiConfig::from_lookup(lookup_from_pairs(&[])).expect("defaults are valid");
        let Api { routes, .. } = api(
            AppState::new(config.clone(), crate::Services::new(&config)).expect("state builds")
        );
        let route = |path: &str| routes.at(path).ok().map(|m| *m.value);
        assert_eq!(route("/users/5/tasks/7"), Some("/users/{id}/tasks/{tid}"));
        assert_eq!(
            route("/users/5/tasks/7/done"),
            Some("/users/{id}/tasks/{tid}/done")
        );
        assert_eq!(route("/users/search"), Some("/users/search"));
        assert_eq!(route("/users/abc"), Some("/users/{id}"));
        assert_eq!(route("/groups/1/users/2"), Some("/groups/{id}/users/{uid}"));
        assert_eq!(route("/health"), Some("/health"));
        assert_eq!(route("/no/such/path"), None);
        assert_eq!(route("/users/5/"), None);
        assert_eq!(
            route("/api/v1/users/5/tasks/7"),
            Some("/users/{id}/tasks/{tid}")
        );
        assert_eq!(route("/api/v1/openapi.json"), Some("/openapi.json"));
        assert_eq!(route("/api/v2/users"), None);
    }

    #[tokio::test]
    async fn the_spec_has_exactly_the_routers_paths() {
        let config = ApiConfig::from_lookup(lookup_from_pairs(&[])).expect("defaults are valid");
        let Api { paths, .. } = api(
            AppState::new(config.clone(), crate::Services::new(&config)).expect("state builds")
        );
        let mut routed: Vec<&str> = paths;
        let mut specified: Vec<&str> = spec::OPERATIONS.iter().map(|o| o.path).collect();
        routed.sort_unstable();
        specified.sort_unstable();
        specified.dedup();
        assert_eq!(routed, specified);
    }
}
