//! The state every handler, job and worker shares, reached through `web::Data<AppState>`. It depends only on
//! the settings, storage, the signing keys and the clock; `startup.rs` builds it and wires the server, and nothing
//! here knows the route table.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::Db;

/// Shared state of a running instance.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub clock: SharedClock,
    /// The signing keys; `keys.current()` never touches the database.
    pub keys: Arc<crate::keys::Keys>,
}

impl AppState {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
