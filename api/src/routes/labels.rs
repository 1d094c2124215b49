//! `/groups/{id}/labels`: the labels in use in a group, and renaming one
//! across the group, each task atomically (in steps of 100: `Store::rename_label`).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use taskmaster_shared::domain::{GroupId, Label};
use utoipa::ToSchema;

use crate::access::{forbidden, visible_group, visible_group_tasks};
use crate::answers::{GroupLabels, LabelCount, LabelRenamed, ok};
use crate::auth::Caller;
use crate::authz;
use crate::clock::now;
use crate::error::{ApiError, Write, refused};
use crate::extract::{JsonBody, group_id};
use crate::state::AppState;

/// `POST /groups/{id}/labels/rename`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"from": "bug", "to": "defect"}))]
pub struct RenameLabel {
    /// The label to rename (1 to 50 characters).
    #[schema(required = true, min_length = 1, max_length = 50)]
    from: Option<String>,
    /// Its new name; a task that already carries it keeps one.
    #[schema(required = true, min_length = 1, max_length = 50)]
    to: Option<String>,
}

/// `GET /groups/{id}/labels`. The owner and the group's admin get every
/// label of the group's tasks, from its label index; another member the
/// labels of its own tasks there (the only ones it may read).
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let group = group_id(&id)?;
    visible_group(&state, &caller, group).await?;
    let counts: Vec<(String, u64)> = if authz::can_manage_group(&caller, group.get()) {
        state.store.group_labels(group).await?
    } else {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for t in visible_group_tasks(&state, &caller, group.get()).await? {
            for l in t.labels {
                *counts.entry(l).or_default() += 1;
            }
        }
        counts.into_iter().collect()
    };
    let labels: Vec<LabelCount> = counts
        .into_iter()
        .map(|(name, count)| LabelCount { count, name })
        .collect();
    Ok(ok(GroupLabels {
        count: labels.len(),
        group_id: group.get(),
        labels,
    }))
}

/// `POST /groups/{id}/labels/rename`: the owner or the group's admin.
pub async fn rename(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RenameLabel>,
) -> Result<Response, ApiError> {
    let group: GroupId = group_id(&id)?;
    visible_group(&state, &caller, group).await?;
    if !authz::can_manage_group(&caller, group.get()) {
        return Err(forbidden());
    }
    let from = Label::parse("from", body.from.as_deref().unwrap_or_default())?;
    let to = Label::parse("to", body.to.as_deref().unwrap_or_default())?;
    let by = caller.must_administer();
    let renamed = state
        .store
        .rename_label(group, by, &from, &to, &now())
        .await?
        .map_err(|r| refused(Write::RenameLabel, r))?;
    Ok(ok(LabelRenamed {
        from: from.as_str().to_owned(),
        group_id: group.get(),
        message: "Label renamed successfully",
        renamed_tasks: renamed,
        to: to.as_str().to_owned(),
    }))
}
