//! `porta db copy --to URL`: moves a deployment's data to another database (SQLite to PostgreSQL, or back). The
//! source is only read; the target is migrated, must be empty, and gets everything in one verified transaction.

use clap::Subcommand;

use crate::config::Settings;
use crate::db::Db;
use crate::db::copy::{self, CopyError, TableCopy};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy every table into an empty database (migrated first), verifying row counts and checksums.
    Copy {
        /// The target: `postgres://USER:PASS@HOST/DB` or `sqlite://PATH`.
        #[arg(long)]
        to: String,
    },
}

pub fn run(cmd: &DbCommand, json: bool, settings: &Settings) -> anyhow::Result<()> {
    match cmd {
        DbCommand::Copy { to } => {
            let report = copy_to(settings, to)?;
            super::output(json, &report, || render(&report, to))
        }
    }
}

fn copy_to(settings: &Settings, to: &str) -> anyhow::Result<Vec<TableCopy>> {
    crate::db::backend_of(to).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    if to == settings.database_url {
        anyhow::bail!("--to names the configured database itself: copy into a new, empty database");
    }
    let source = Db::connect(&settings.database_url, 1)?;
    if source.has_pending_migrations()? {
        return Err(CopyError::SourceNotMigrated.into());
    }
    let target = Db::connect(to, 1)?;
    target.migrate()?;
    let (mut src, mut dst) = (source.conn()?, target.conn()?);
    Ok(copy::copy(&mut src, &mut dst)?)
}

fn render(report: &[TableCopy], to: &str) -> String {
    let mut out = format!("{:<16} {:>8}  CHECKSUM", "TABLE", "ROWS");
    for t in report {
        out.push_str(&format!("\n{:<16} {:>8}  {}", t.table, t.rows, t.checksum));
    }
    let total: usize = report.iter().map(|t| t.rows).sum();
    let shown = crate::config::Settings {
        database_url: to.to_string(),
        ..Settings::default()
    }
    .redacted_database_url();
    out.push_str(&format!(
        "\ncopied {total} rows in {} tables to {shown}; every table verified. Point database_url at it and start Porta.",
        report.len()
    ));
    out
}
