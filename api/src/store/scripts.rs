//! The Lua scripts, hashed once. The client runs them with EVALSHA and
//! loads a script again after a Redis restart.
//!
//! Every script starts with `lua/common.lua` (the prefix and time
//! arguments, key names, the dirty mark and notification, the maintenance
//! check), so each file holds only its own rules; `create_tasks` also
//! takes `lua/gcra.lua`, the rate limiter, to count the creates no earlier
//! step counted, and the scripts that take a member out of a group
//! `lua/leave.lua`, which moves its tasks there in steps. The create's
//! checks (`lua/create_check.lua`) serve an import's check too, and the
//! job scripts share `lua/jobs.lua`.

use std::sync::LazyLock;

use redis::{Script, ScriptInvocation};

use super::Store;

macro_rules! script {
    ($name:literal) => {
        Script::new(concat!(
            include_str!("lua/common.lua"),
            "\n",
            include_str!(concat!("lua/", $name, ".lua"))
        ))
    };
    // With parts only some scripts share, between the two.
    ($name:literal, $($part:literal),+) => {
        Script::new(concat!(
            include_str!("lua/common.lua"),
            "\n",
            $(include_str!(concat!("lua/", $part, ".lua")), "\n",)+
            include_str!(concat!("lua/", $name, ".lua"))
        ))
    };
}

pub(super) struct Scripts {
    pub rows: Script,
    pub task_page: Script,
    pub order_retire: Script,
    pub sort_build: Script,
    pub changes_page: Script,
    pub audit_tail: Script,
    pub group_detail: Script,
    pub create_user: Script,
    pub update_user: Script,
    pub delete_user: Script,
    pub create_group: Script,
    pub update_group: Script,
    pub delete_group: Script,
    pub add_member: Script,
    pub remove_member: Script,
    pub leave_step: Script,
    pub create_tasks: Script,
    pub import_check: Script,
    pub import_step: Script,
    pub job_open: Script,
    pub job_control: Script,
    pub job_undo: Script,
    pub write_tasks: Script,
    pub rename_label: Script,
    pub bootstrap_owner: Script,
    pub rotate_owner_password: Script,
    pub remember_owner_password: Script,
    pub token_create: Script,
    pub token_delete: Script,
    pub token_touch: Script,
    pub webhook_write: Script,
    pub webhook_redeliver: Script,
}

pub(super) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    rows: script!("rows"),
    task_page: Script::new(include_str!("lua/task_page.lua")),
    order_retire: Script::new(include_str!("lua/order_retire.lua")),
    sort_build: script!("sort_build"),
    changes_page: script!("changes_page"),
    audit_tail: script!("audit_tail"),
    group_detail: script!("group_detail"),
    create_user: script!("create_user"),
    update_user: script!("update_user", "leave"),
    delete_user: script!("delete_user"),
    create_group: script!("create_group"),
    update_group: script!("update_group"),
    delete_group: script!("delete_group"),
    add_member: script!("add_member"),
    remove_member: script!("remove_member", "leave"),
    leave_step: script!("leave_step", "leave"),
    create_tasks: script!("create_tasks", "gcra", "create_check"),
    import_check: script!("import_check", "create_check"),
    // An import's step makes its creates with create_tasks.lua's very
    // code, as a function its own script calls.
    import_step: Script::new(concat!(
        include_str!("lua/common.lua"),
        "\n",
        include_str!("lua/gcra.lua"),
        "\n",
        include_str!("lua/create_check.lua"),
        "\n",
        include_str!("lua/jobs.lua"),
        "\nlocal function create_batch()\n",
        include_str!("lua/create_tasks.lua"),
        "\nend\n",
        include_str!("lua/import_step.lua")
    )),
    job_open: script!("job_open", "jobs"),
    job_control: script!("job_control", "jobs"),
    job_undo: script!("job_undo", "jobs"),
    write_tasks: script!("write_tasks"),
    rename_label: script!("rename_label"),
    bootstrap_owner: script!("bootstrap_owner"),
    rotate_owner_password: script!("rotate_owner_password"),
    remember_owner_password: script!("remember_owner_password"),
    token_create: script!("token_create"),
    token_delete: script!("token_delete"),
    token_touch: script!("token_touch"),
    webhook_write: script!("webhook_write"),
    webhook_redeliver: Script::new(include_str!("lua/webhook_redeliver.lua")),
});

impl Store {
    /// A read script's invocation: the prefix first.
    pub(super) fn read_call<'s>(&self, script: &'s Script) -> ScriptInvocation<'s> {
        let mut inv = script.prepare_invoke();
        inv.arg(self.keys.prefix());
        inv
    }

    /// A create script's invocation under an `Idempotency-Key` (its
    /// record and the request's digest, see `crate::idempotency`): they
    /// follow the context (see `idem_replay` in `lua/common.lua`).
    pub(super) fn create_call<'s>(
        &self,
        script: &'s Script,
        now: &str,
        idempotency: Option<&(String, String)>,
    ) -> ScriptInvocation<'s> {
        let mut inv = self.read_call(script);
        match idempotency {
            Some((record, digest)) => {
                inv.arg(format!("{} {record} {digest}", crate::acting::stamp(now)))
            }
            None => inv.arg(crate::acting::stamp(now)),
        };
        inv
    }

    /// A write script's invocation: the prefix, then the time the write
    /// stamps on what it changes with the request's context (see
    /// `lua/common.lua`).
    pub(super) fn write_call<'s>(&self, script: &'s Script, now: &str) -> ScriptInvocation<'s> {
        let mut inv = self.read_call(script);
        inv.arg(crate::acting::stamp(now));
        inv
    }
}
