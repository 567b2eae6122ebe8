//! Multi-row statements: a batch's rows written [`ROWS_PER_STATEMENT`] to a statement, then
//! the rest one by one. A storm of 1,000 changes then runs a few dozen statements instead of
//! thousands, and only two texts of each statement are ever prepared (and cached).
//!
//! It owns no table: callers give the SQL and bind the values.

use crate::Result;
use rusqlite::{CachedStatement, Transaction};

/// Rows one multi-row statement takes.
pub(crate) const ROWS_PER_STATEMENT: usize = 50;

/// An `INSERT` of one tuple per row: `head tuple, tuple, …`.
pub(crate) struct MultiRow {
    /// Up to and including `VALUES`.
    pub head: &'static str,
    /// One row's parameters, such as `(?, ?, 0)`.
    pub tuple: &'static str,
}

impl MultiRow {
    /// The statement for `rows` rows (one of [`chunks`]).
    pub(crate) fn statement<'c>(
        &self,
        tx: &'c Transaction<'_>,
        rows: usize,
    ) -> Result<CachedStatement<'c>> {
        let tuples = vec![self.tuple; rows].join(", ");
        Ok(tx.prepare_cached(&format!("{} {tuples}", self.head))?)
    }
}

/// `rows` in chunks of [`ROWS_PER_STATEMENT`], then one by one.
pub(crate) fn chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let full = rows.len() / ROWS_PER_STATEMENT * ROWS_PER_STATEMENT;
    rows[..full]
        .chunks(ROWS_PER_STATEMENT)
        .chain(rows[full..].chunks(1))
}
