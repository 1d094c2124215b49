//! The schema, embedded from `migrations/` at build time and applied with
//! refinery (which records what ran in `refinery_schema_history`).

use postgres::Client;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Applies every migration that has not run yet. Returns the applied names.
pub fn migrate(client: &mut Client) -> Result<Vec<String>, refinery::Error> {
    let report = embedded::migrations::runner().run(client)?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect())
}
