//! Read-only queries through SPI, and reading their rows' columns by name.

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::{SpiHeapTupleData, SpiResult};

use crate::error::raise_error;

/// Runs a read-only query with bound arguments and maps every row with `f`.
/// Errors raised by PostgreSQL inside the query keep their own SQLSTATE.
pub fn query_rows<R>(
    sql: &str,
    args: &[DatumWithOid],
    f: impl Fn(&SpiHeapTupleData) -> SpiResult<R>,
) -> Vec<R> {
    let result: SpiResult<Vec<R>> = Spi::connect(|client| {
        let table = client.select(sql, None, args)?;
        table.map(|row| f(&row)).collect()
    });
    result.unwrap_or_else(|e| {
        raise_error(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("ntsb_perf: reading the catalog failed: {e}"),
            None,
        )
    })
}

/// Column `name` of a row, one the query guarantees to be NOT NULL.
pub fn not_null_column<T: FromDatum + IntoDatum + Default>(
    row: &SpiHeapTupleData,
    name: &str,
) -> SpiResult<T> {
    Ok(row.get_by_name::<T, _>(name)?.unwrap_or_default())
}
