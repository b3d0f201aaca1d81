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

/// A field read from the query column of the same name: `Option<T>` for a column that may be
/// NULL, the plain type for one the query guarantees to be NOT NULL ([`not_null_column`]).
pub trait ColumnValue: Sized {
    fn read(row: &SpiHeapTupleData, name: &str) -> SpiResult<Self>;
}

impl<T: FromDatum + IntoDatum> ColumnValue for Option<T> {
    fn read(row: &SpiHeapTupleData, name: &str) -> SpiResult<Self> {
        row.get_by_name(name)
    }
}

macro_rules! not_null_column_values {
    ($($ty:ty),*) => {
        $(impl ColumnValue for $ty {
            fn read(row: &SpiHeapTupleData, name: &str) -> SpiResult<Self> {
                not_null_column(row, name)
            }
        })*
    };
}

not_null_column_values!(String, i64, bool, pg_sys::Oid);
