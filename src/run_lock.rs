//! Locks that only ntsb_perf's own code can take: "one run at a time" of auto_reindex (per role
//! and database) and of snapshot_indexes (per database), and the lock that serialises the start
//! of rebuild workers (per database, while the cap is counted).
//!
//! Advisory locks will not do: any role can take any advisory key, and so keep a superuser's
//! auto_reindex from running (a hostile audit did). These are heavyweight locks on object tags
//! (`LOCKTAG_OBJECT`) with object sub-ids that PostgreSQL never uses for those objects, which no
//! SQL statement can take; pg_locks shows them (locktype `object`), so the holder can be named.

use pgrx::prelude::*;

use crate::error::raise_error;

/// auto_reindex's run lock: (database, pg_authid, the running role, this sub-id).
const RUN_SUBID: u16 = 1;
/// snapshot_indexes' lock: (database, pg_extension, ntsb_perf, this sub-id).
pub const SNAPSHOT_SUBID: u16 = 2;
/// Locks of a relation: (database, pg_class, the relation, this sub-id). A sub-id of pg_class
/// objects is a column number, at most 1,600, and PostgreSQL takes no object locks of relations
/// at all (they have LOCKTAG_RELATION), so these tags are ntsb_perf's alone.
/// The change-tracking lock of a table: writers shared, a refresh's fence exclusive (both try).
pub const TRACK_SUBID: u16 = 0x4E54;
/// One refresh (or schedule change) of a materialized view at a time.
const REFRESH_SUBID: u16 = 0x4E55;

#[derive(Clone, Copy)]
pub struct LockTag(pg_sys::LOCKTAG);

impl LockTag {
    fn object(classid: pg_sys::Oid, objid: pg_sys::Oid, subid: u16) -> Self {
        LockTag(pg_sys::LOCKTAG {
            // SAFETY: reads this backend's database OID, set once at connection.
            locktag_field1: unsafe { pg_sys::MyDatabaseId }.to_u32(),
            locktag_field2: classid.to_u32(),
            locktag_field3: objid.to_u32(),
            locktag_field4: subid,
            locktag_type: pg_sys::LockTagType::LOCKTAG_OBJECT as u8,
            locktag_lockmethodid: pg_sys::DEFAULT_LOCKMETHOD as u8,
        })
    }

    /// A lock of the extension object itself (sub-id `subid`) in this database.
    pub fn extension(subid: u16) -> Self {
        // SAFETY: a catalog lookup by a NUL-terminated name; missing_ok returns InvalidOid.
        let ext = unsafe { pg_sys::get_extension_oid(c"ntsb_perf".as_ptr(), true) };
        if ext == pg_sys::InvalidOid {
            raise_error(
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                "the extension ntsb_perf is not installed in this database",
                None,
            );
        }
        Self::object(pg_sys::ExtensionRelationId, ext, subid)
    }

    /// A lock of relation `relid` (see TRACK_SUBID).
    pub fn relation(relid: pg_sys::Oid, subid: u16) -> Self {
        Self::object(pg_sys::RelationRelationId, relid, subid)
    }

    /// Tries to take the lock for the transaction, shared or exclusive, without waiting.
    pub fn try_xact(&self, shared: bool) -> bool {
        let mode = if shared {
            pg_sys::ShareLock
        } else {
            pg_sys::ExclusiveLock
        };
        // SAFETY: the lock manager with a valid tag of the default lock method.
        let r = unsafe { pg_sys::LockAcquire(&self.0, mode as pg_sys::LOCKMODE, false, true) };
        r != pg_sys::LockAcquireResult::LOCKACQUIRE_NOT_AVAIL
    }

    /// auto_reindex's run lock of the current role.
    fn run_of_current_role() -> Self {
        // SAFETY: reads the current user id.
        Self::object(
            pg_sys::AuthIdRelationId,
            unsafe { pg_sys::GetUserId() },
            RUN_SUBID,
        )
    }

    fn acquire(&self, session: bool, wait: bool) -> bool {
        // SAFETY: the lock manager with a valid tag of the default lock method; an ERROR (a
        // deadlock, a cancel while waiting) is raised through pgrx's guard.
        let r = unsafe {
            pg_sys::LockAcquire(
                &self.0,
                pg_sys::ExclusiveLock as pg_sys::LOCKMODE,
                session,
                !wait,
            )
        };
        r != pg_sys::LockAcquireResult::LOCKACQUIRE_NOT_AVAIL
    }

    /// Takes the lock for the transaction, waiting for it.
    pub fn acquire_xact(&self) {
        self.acquire(false, true);
    }

    /// Releases a lock taken with [`acquire_xact`](Self::acquire_xact) before the end of the
    /// transaction.
    pub fn release_xact(&self) {
        self.release(false);
    }

    fn held_by_me(&self) -> bool {
        let mode = pg_sys::ExclusiveLock as pg_sys::LOCKMODE;
        #[cfg(feature = "pg15")]
        // SAFETY: reads this backend's local lock table with a valid tag of the default method.
        let held = unsafe { pg_sys::LockHeldByMe(&self.0, mode) };
        // PostgreSQL 17 added `orstronger`; false asks for exactly this mode, as 15 does.
        #[cfg(any(feature = "pg17", feature = "pg18"))]
        // SAFETY: reads this backend's local lock table with a valid tag of the default method.
        let held = unsafe { pg_sys::LockHeldByMe(&self.0, mode, false) };
        held
    }

    fn release(&self, session: bool) {
        // SAFETY: releases a lock this backend holds (checked), in the lock method it was taken.
        unsafe {
            if self.held_by_me() {
                pg_sys::LockRelease(&self.0, pg_sys::ExclusiveLock as pg_sys::LOCKMODE, session);
            }
        }
    }
}

thread_local! {
    /// The run lock this session holds (a session lock: it outlives the run's commits).
    static HELD_RUN_LOCK: std::cell::Cell<Option<LockTag>> = const { std::cell::Cell::new(None) };
}

/// Releases the run lock if this session holds it: an auto_reindex that ended in an error (a
/// cancel, statement_timeout) must not keep its role from running one until it disconnects.
pub fn release_run_lock() {
    if let Some(tag) = HELD_RUN_LOCK.with(|h| h.take()) {
        tag.release(true);
    }
}

/// auto_reindex's "one run at a time" for the current role in this database: takes the lock
/// (true), or finds another session holding it (false; pg_locks names it). Only the calling
/// role's own lock can be taken, so a role can keep nobody's runs but its own from starting.
/// An abort of this session's transaction releases it.
#[pg_extern(volatile)]
fn _reindex_run_lock() -> bool {
    if HELD_RUN_LOCK.with(|h| h.get()).is_some() {
        return true;
    }
    let tag = LockTag::run_of_current_role();
    if !tag.acquire(true, false) {
        return false;
    }
    HELD_RUN_LOCK.with(|h| h.set(Some(tag)));
    crate::reindex::ensure_abort_callback();
    ensure_exit_callback();
    true
}

thread_local! {
    static EXIT_CALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A session lock is not released when its backend exits outside a transaction: PostgreSQL
/// releases session locks of the default lock method only on an abort, and an idle session
/// that disconnects (or is terminated) aborts nothing. PostgreSQL 17 then left the lock held by
/// the exited backend's PGPROC (pg_locks shows it with a NULL pid), and every later run of the
/// role was refused. So a backend that ever held the run lock releases it on its way out.
fn ensure_exit_callback() {
    if !EXIT_CALLBACK.with(|c| c.replace(true)) {
        // SAFETY: registers a static function, called once at backend exit while the lock
        // manager still works (before_shmem_exit runs before shared memory is detached).
        unsafe { pg_sys::before_shmem_exit(Some(release_at_exit), pg_sys::Datum::from(0)) };
    }
}

/// The before_shmem_exit callback.
///
/// # Safety
/// Called by PostgreSQL once at backend exit, with the lock manager still attached.
#[pg_guard]
unsafe extern "C-unwind" fn release_at_exit(_code: std::ffi::c_int, _arg: pg_sys::Datum) {
    release_run_lock();
}

/// Ends a run: releases the run lock.
#[pg_extern(volatile)]
fn _reindex_run_unlock() {
    release_run_lock();
}

/// snapshot_indexes' "one at a time per database": takes the lock for the transaction, waiting
/// up to `wait_ms` for another snapshot to end; false when it is still held then. Closed to
/// PUBLIC: only snapshot_indexes (SECURITY DEFINER) calls it.
#[pg_extern(volatile)]
fn _snapshot_lock(wait_ms: Option<i32>) -> bool {
    let tag = LockTag::extension(SNAPSHOT_SUBID);
    let wait_ms = wait_ms.unwrap_or(0).max(0);
    let mut waited = 0;
    loop {
        if tag.acquire(false, false) {
            return true;
        }
        if waited >= wait_ms {
            return false;
        }
        pgrx::check_for_interrupts!();
        // SAFETY: sleeps this backend for 50 ms.
        unsafe { pg_sys::pg_usleep(50_000) };
        waited += 50;
    }
}

/// ntsb_perf.refresh's (and the schedule functions') "one at a time per view": the transaction
/// lock of view `v`, waited for (lock_timeout applies). Only a role that may refresh the view
/// (its owner, or a member of the owning role) can take it: another gets 42501, so no role can
/// keep the refreshes of a view it does not own waiting.
#[pg_extern(volatile)]
fn _refresh_view_lock(v: Option<crate::regclass::RegClass>) {
    let Some(v) = v else {
        raise_error(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "view must not be NULL",
            None,
        )
    };
    let owner = crate::spi_query::query_rows(
        "SELECT pg_catalog.pg_has_role(c.relowner, 'USAGE') AS owner,
                pg_catalog.format('%I.%I', n.nspname, c.relname) AS name
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         WHERE c.oid OPERATOR(pg_catalog.=) $1",
        &[v.into()],
        |r| {
            Ok((
                r.get_by_name::<bool, _>("owner")?.unwrap_or(false),
                r.get_by_name::<String, _>("name")?.unwrap_or_default(),
            ))
        },
    );
    match owner.into_iter().next() {
        Some((true, _)) => {}
        Some((false, name)) => raise_error(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("must be owner of {name} to lock its refreshes"),
            Some("Only the owner of a materialized view (or a member of its owning role) may refresh it."),
        ),
        None => raise_error(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            format!("relation with OID {} does not exist", v.0.to_u32()),
            None,
        ),
    }
    LockTag::relation(v.0, REFRESH_SUBID).acquire_xact();
}

extension_sql!(
    r#"
REVOKE ALL ON FUNCTION ntsb_perf._snapshot_lock(integer) FROM PUBLIC;
-- Who holds one of these locks: 'run' (auto_reindex of `role` in this database) or 'snapshot'.
CREATE FUNCTION ntsb_perf._run_lock_holder(kind text, role oid DEFAULT NULL)
RETURNS TABLE (pid integer, role_name name, since timestamptz, query text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT l.pid, a.usename, coalesce(a.xact_start, a.backend_start), left(a.query, 200)
    FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'object' AND l.granted
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND CASE kind WHEN 'run' THEN l.classid = 'pg_authid'::regclass AND l.objid = role AND l.objsubid = 1
                    WHEN 'snapshot' THEN l.classid = 'pg_extension'::regclass AND l.objsubid = 2
                         AND l.objid = (SELECT oid FROM pg_extension WHERE extname = 'ntsb_perf') END
    LIMIT 1
$$;
"#,
    name = "run_lock",
    requires = [
        _snapshot_lock,
        _reindex_run_lock,
        _reindex_run_unlock,
        _refresh_view_lock
    ]
);
