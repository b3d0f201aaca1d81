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
    // The common shape first: it needs no names (only pg_get_indexdef's head is cut by them).
    // SAFETY: lsyscache lookup by OID (guarded FFI call): 0 when there is no such relation.
    if unsafe { pg_sys::get_rel_relkind(idx) } as u8 == b'i' {
        // SAFETY: reads the catalog caches only (see plain_definition).
        if let Some(def) = unsafe { plain_definition(idx) } {
            return Some(def);
        }
    }
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

/// A catalog cache entry, released when dropped.
struct CacheEntry(pg_sys::HeapTuple);

impl CacheEntry {
    /// The entry of `cache` whose key is `oid`; None when there is none.
    ///
    /// # Safety
    /// `cache` must be a cache keyed by one OID.
    unsafe fn find(cache: pg_sys::SysCacheIdentifier::Type, oid: pg_sys::Oid) -> Option<Self> {
        // SAFETY: a one-key lookup by OID (guarded FFI call): NULL when there is no entry.
        let t = unsafe { pg_sys::SearchSysCache1(cache as i32, pg_sys::Datum::from(oid.to_u32())) };
        (!t.is_null()).then_some(CacheEntry(t))
    }

    /// The entry's fixed-size part as the catalog's struct.
    ///
    /// # Safety
    /// `T` must be the `FormData_*` of the cache's catalog.
    unsafe fn form<T>(&self) -> &T {
        // SAFETY: the tuple is pinned in the cache until drop; T is its catalog's struct.
        unsafe { &*pg_sys::heap_tuple_get_struct::<T>(self.0) }
    }

    /// Whether column `attnum` of the entry is NULL.
    fn is_null(&self, attnum: u32) -> bool {
        // SAFETY: a valid cache tuple; with no tuple descriptor heap_attisnull reads the tuple's
        // own header (valid for catalog tuples, whose attributes are all in the header's count).
        unsafe { pg_sys::heap_attisnull(self.0, attnum as i32, std::ptr::null_mut()) }
    }

    /// Column `attnum` (NULL: None), read through the cache's tuple descriptor.
    ///
    /// # Safety
    /// `cache` must be the cache the entry came from.
    unsafe fn attr(
        &self,
        cache: pg_sys::SysCacheIdentifier::Type,
        attnum: u32,
    ) -> Option<pg_sys::Datum> {
        let mut isnull = true;
        // SAFETY: the entry's own cache and a column of its catalog (guarded FFI call).
        let d =
            unsafe { pg_sys::SysCacheGetAttr(cache as i32, self.0, attnum as i16, &mut isnull) };
        (!isnull).then_some(d)
    }
}

impl Drop for CacheEntry {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // An ERROR is unwinding: the transaction's abort releases the entry (as RelGuard
            // leaves its relation), and no FFI call is made that could raise another.
            return;
        }
        // SAFETY: the tuple came from SearchSysCache1 and is released once.
        unsafe { pg_sys::ReleaseSysCache(self.0) }
    }
}

/// The elements of an `oidvector` or `int2vector` datum of a catalog cache entry.
///
/// # Safety
/// `d` must point at a vector of `T` (never toasted: catalog vectors are stored inline).
unsafe fn vector<'a, T: Copy>(d: pg_sys::Datum) -> &'a [T] {
    // oidvector and int2vector share their header; only the element type differs.
    let v = d.cast_mut_ptr::<pg_sys::oidvector>();
    // SAFETY: a one-dimensional vector whose dim1 elements follow its header.
    unsafe {
        let n = usize::try_from((*v).dim1).unwrap_or(0);
        std::slice::from_raw_parts((*v).values.as_ptr().cast::<T>(), n)
    }
}

/// `pg_get_indexdef`'s text for a leaf index of the common shape, written from the catalog
/// caches, without its deparser: a snapshot writes the definition of every index, and the
/// deparser's search for each column's default operator class (a scan of pg_opclass per
/// column) was most of a snapshot's cost per index. The shape: only columns (no expression, no
/// predicate), each with its type's default operator class (exactly that type, no domain), its
/// own collation, ascending with nulls last, no operator class options; no storage options; not
/// NULLS NOT DISTINCT; its table not in this session's temporary schema (`pg_get_indexdef`
/// always names the table with its schema, whatever the search_path, but this session's own
/// temporary schema as `pg_temp`, so `index_definition` does not cut that head off and returns
/// the whole text: left to it, to stay the same). Then the text is
/// `[UNIQUE ]USING am (a, b)[ INCLUDE (c)]`, which `pg_get_indexdef` also writes for it
/// (tests/regress/sql/index_history.sql compares the two on every shape). None otherwise: the
/// caller asks `pg_get_indexdef`.
///
/// # Safety
/// Reads the catalog caches; call inside a transaction.
unsafe fn plain_definition(idx: pg_sys::Oid) -> Option<Vec<u8>> {
    use pg_sys::SysCacheIdentifier::{CLAOID, INDEXRELID, RELOID};
    // SAFETY: catalog cache lookups by OID and lsyscache calls (guarded FFI calls); each entry
    // is read while it is held, with its catalog's struct; indkey holds indnatts elements.
    unsafe {
        let index = CacheEntry::find(INDEXRELID, idx)?;
        let form = index.form::<pg_sys::FormData_pg_index>();
        if !index.is_null(pg_sys::Anum_pg_index_indexprs)
            || !index.is_null(pg_sys::Anum_pg_index_indpred)
            || form.indnullsnotdistinct
        {
            return None;
        }
        let table = form.indrelid;
        let natts = usize::try_from(form.indnatts).ok()?;
        let nkeys = usize::try_from(form.indnkeyatts).ok()?;
        let keys = std::slice::from_raw_parts(form.indkey.values.as_ptr(), natts);
        let classes =
            vector::<pg_sys::Oid>(index.attr(INDEXRELID, pg_sys::Anum_pg_index_indclass)?);
        let collations =
            vector::<pg_sys::Oid>(index.attr(INDEXRELID, pg_sys::Anum_pg_index_indcollation)?);
        let options = vector::<i16>(index.attr(INDEXRELID, pg_sys::Anum_pg_index_indoption)?);
        if classes.len() < nkeys || collations.len() < nkeys || options.len() < nkeys {
            return None;
        }
        let rel = CacheEntry::find(RELOID, idx)?;
        if !rel.is_null(pg_sys::Anum_pg_class_reloptions) {
            return None;
        }
        let am = rel.form::<pg_sys::FormData_pg_class>().relam;
        if pg_sys::isTempNamespace(pg_sys::get_rel_namespace(table)) {
            return None;
        }
        let mut out = Vec::with_capacity(64);
        if form.indisunique {
            out.extend_from_slice(b"UNIQUE ");
        }
        out.extend_from_slice(b"USING ");
        out.extend(quote_ident(&cbytes(pg_sys::get_am_name(am))?));
        out.extend_from_slice(b" (");
        for (i, &attnum) in keys.iter().enumerate() {
            if attnum <= 0 {
                return None; // an expression (0) or a system column
            }
            if i == nkeys {
                out.extend_from_slice(b") INCLUDE (");
            } else if i > 0 {
                out.extend_from_slice(b", ");
            }
            out.extend(quote_ident(&cbytes(pg_sys::get_attname(
                table, attnum, true,
            ))?));
            if i >= nkeys {
                continue; // an included column has no class, collation or order
            }
            let (mut typ, mut typmod, mut coll) = (pg_sys::InvalidOid, 0, pg_sys::InvalidOid);
            pg_sys::get_atttypetypmodcoll(table, attnum, &mut typ, &mut typmod, &mut coll);
            if options[i] != 0
                || (collations[i] != pg_sys::InvalidOid && collations[i] != coll)
                || pg_sys::get_typtype(typ) as u8 == pg_sys::TYPTYPE_DOMAIN
                || pg_sys::get_attoptions(idx, i as i16 + 1) != pg_sys::Datum::from(0)
            {
                return None;
            }
            let class = CacheEntry::find(CLAOID, classes[i])?;
            let class = class.form::<pg_sys::FormData_pg_opclass>();
            if !class.opcdefault || class.opcintype != typ || class.opcmethod != am {
                return None;
            }
        }
        out.push(b')');
        Some(out)
    }
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
