//! The index identity's per-row checks (sql/index_catalog.sql and sql/index_history/schema.sql
//! declare them): `ntsb_perf._is_index_named(idx, qname)` and `ntsb_perf._index_definition(idx)`.
//! Every row written to the index history, the rebuild log and the baselines calls both (the
//! history's BEFORE INSERT triggers and the snapshot's INSERT), so they read the catalog caches
//! directly: as SQL functions they were not inlined there and cost an executor start per row,
//! over half of a snapshot of 2,000 small indexes (bench/README.md, issue 27). What they return
//! is what the SQL versions returned (tests/regress/sql/index_history.sql compares them).

use pgrx::prelude::*;

use crate::c_function::{arg, expect_args, text_bytes, FINFO_V1};

// Names and definitions are handled as bytes in the database's encoding, never as Rust strings:
// a LATIN1 or SQL_ASCII database may hold names that are not UTF-8, and the SQL versions
// compared and returned them as they are.

/// A catalog string's bytes (NULL: none).
fn cbytes(p: *const std::ffi::c_char) -> Option<Vec<u8>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: callers pass NUL-terminated strings from the catalog caches or from palloc.
    Some(unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes().to_vec())
}

/// `format('%I', name)`: PostgreSQL's own quoting.
fn quote_ident(name: &[u8]) -> Vec<u8> {
    let Ok(c) = std::ffi::CString::new(name) else {
        return name.to_vec(); // a catalog name holds no NUL
    };
    // SAFETY: quote_identifier reads a NUL-terminated string and returns it or a palloc'd copy.
    cbytes(unsafe { pg_sys::quote_identifier(c.as_ptr()) }).unwrap_or_default()
}

/// Relation `oid`'s kind and quoted `schema.name`; None when there is no such relation. (Read
/// from the catalog caches, i.e. the latest committed catalog, as `pg_get_indexdef` reads it;
/// the SQL versions read the names in the statement's snapshot.)
fn relation_names(oid: pg_sys::Oid) -> Option<(u8, Vec<u8>, Vec<u8>)> {
    // SAFETY: lsyscache lookups by OID (guarded FFI calls): 0 / InvalidOid / NULL when missing.
    unsafe {
        let kind = pg_sys::get_rel_relkind(oid) as u8;
        if kind == 0 {
            return None;
        }
        let name = cbytes(pg_sys::get_rel_name(oid))?;
        let schema = cbytes(pg_sys::get_namespace_name(pg_sys::get_rel_namespace(oid)))?;
        Some((kind, quote_ident(&name), quote_ident(&schema)))
    }
}

/// Whether `idx` is the index (leaf or partitioned) whose quoted, qualified name is `qname`.
pub fn is_index_named(idx: pg_sys::Oid, qname: &[u8]) -> bool {
    match relation_names(idx) {
        Some((b'i' | b'I', name, schema)) => qname == [schema.as_slice(), b".", &name].concat(),
        _ => false,
    }
}

/// The definition of index `idx` without its own name and its table's (`USING btree (k)`,
/// `UNIQUE USING btree (a) INCLUDE (b) WHERE (b > 0)`), as `pg_get_indexdef` writes it under the
/// caller's search_path; None for an OID that is not an index.
pub fn index_definition(idx: pg_sys::Oid) -> Option<Vec<u8>> {
    let (kind, name, _) = relation_names(idx)?;
    if kind != b'i' && kind != b'I' {
        return None;
    }
    // SAFETY: IndexGetRelation with missing_ok returns InvalidOid for an OID without a pg_index
    // row; pg_get_indexdef takes any OID and returns NULL (None here) for one that is not an
    // index; Vec<u8> takes the text result's bytes as they are.
    let (table, def) = unsafe {
        let table = pg_sys::IndexGetRelation(idx, true);
        let def =
            pgrx::direct_function_call::<Vec<u8>>(pg_sys::pg_get_indexdef, &[idx.into_datum()]);
        (table, def)
    };
    let def = def?;
    let (_, table_name, table_schema) = relation_names(table)?;
    let unique = def.starts_with(b"CREATE UNIQUE INDEX ");
    let head = [
        b"CREATE ".as_slice(),
        if unique { b"UNIQUE " } else { b"" },
        b"INDEX ",
        &name,
        b" ON ",
        if kind == b'I' { b"ONLY " } else { b"" },
        &table_schema,
        b".",
        &table_name,
        b" ",
    ]
    .concat();
    let rest = def.strip_prefix(head.as_slice()).unwrap_or(&def);
    Some([if unique { b"UNIQUE ".as_slice() } else { b"" }, rest].concat())
}

/// `ntsb_perf._is_index_named(idx oid, qname text) RETURNS boolean` (false when either is NULL).
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn ntsb_perf_is_index_named(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: PostgreSQL passes its fcinfo; the count is checked before any argument is read,
    // argument 0 is an oid and argument 1 a text datum (the SQL declaration's types).
    let named = unsafe {
        expect_args(fcinfo, 2, "ntsb_perf._is_index_named");
        match (arg(fcinfo, 0), arg(fcinfo, 1)) {
            (Some(idx), Some(qname)) => {
                let idx = pg_sys::Oid::from_datum(idx, false).unwrap_or_default();
                is_index_named(idx, text_bytes(qname))
            }
            _ => false,
        }
    };
    pg_sys::Datum::from(named)
}

#[no_mangle]
pub extern "C" fn pg_finfo_ntsb_perf_is_index_named() -> &'static pg_sys::Pg_finfo_record {
    &FINFO_V1
}

/// `ntsb_perf._index_definition(idx oid) RETURNS text` (NULL for NULL or an OID that is not an
/// index).
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn ntsb_perf_index_definition(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: PostgreSQL passes its fcinfo; the count is checked before the oid argument is read.
    let def = unsafe {
        expect_args(fcinfo, 1, "ntsb_perf._index_definition");
        arg(fcinfo, 0)
            .and_then(|d| pg_sys::Oid::from_datum(d, false))
            .and_then(index_definition)
    };
    match def {
        // SAFETY: cstring_to_text_with_len copies len bytes into a new text value (palloc).
        Some(d) => unsafe {
            pg_sys::Datum::from(pg_sys::cstring_to_text_with_len(
                d.as_ptr().cast(),
                i32::try_from(d.len()).unwrap_or(i32::MAX),
            ))
        },
        None => {
            // SAFETY: the function's own fcinfo: a NULL result.
            unsafe { (*fcinfo).isnull = true };
            pg_sys::Datum::from(0)
        }
    }
}

#[no_mangle]
pub extern "C" fn pg_finfo_ntsb_perf_index_definition() -> &'static pg_sys::Pg_finfo_record {
    &FINFO_V1
}
