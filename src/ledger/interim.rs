//! Interim readers until the fast cold path lands (see the `ledger-fast` branch).

use super::{Ledger, Record, Summary};
use crate::error::Result;

impl Ledger {
    /// The summary when the cache is current. Interim: folds.
    pub fn cached_summary(&self) -> Option<Summary> {
        self.summary().ok()
    }

    /// Stream records up to a byte offset. Interim: streams everything.
    pub fn for_each_upto(
        &self,
        _upto: u64,
        f: impl FnMut(u64, Record) -> bool,
    ) -> Result<Vec<String>> {
        self.for_each(f)
    }
}

impl Ledger {
    /// The branch records without one count as.
    pub fn default_branch(&self) -> &str {
        &self.default_branch
    }
}
