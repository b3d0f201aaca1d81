//! Opening relations safely: a guard that owns an open relation (and the lock on an index's
//! table) and gives them back when it is dropped.

use pgrx::prelude::*;

/// An open relation, held under AccessShareLock, and for an index the AccessShareLock held on
/// its table: both released when the guard is dropped, on every path. While an ERROR unwinds (a
/// Rust panic) nothing is called: the transaction's abort releases the relcache reference and
/// the locks itself, and calling into PostgreSQL then could raise a second ERROR inside the
/// first.
pub struct RelGuard {
    rel: pg_sys::Relation,
    table: Option<pg_sys::Oid>,
}

impl RelGuard {
    const LOCK: pg_sys::LOCKMODE = pg_sys::AccessShareLock as pg_sys::LOCKMODE;

    /// Opens relation `oid` (AccessShareLock). `None` when it does not exist (any more).
    pub fn open(oid: pg_sys::Oid) -> Option<RelGuard> {
        Self::open_locked(oid, None)
    }

    /// Opens index `oid`, taking AccessShareLock on its table `table` first, then on the index
    /// (the order everybody else takes them in); the guard holds both. `None` (and the table
    /// lock released) when the index does not exist (any more).
    pub fn open_index(oid: pg_sys::Oid, table: Option<pg_sys::Oid>) -> Option<RelGuard> {
        if let Some(t) = table {
            // SAFETY: guarded FFI call; waits for the lock (or raises an ERROR).
            unsafe { pg_sys::LockRelationOid(t, Self::LOCK) };
        }
        Self::open_locked(oid, table)
    }

    /// Opens `oid`; the guard takes over the lock this backend already holds on `table`.
    fn open_locked(oid: pg_sys::Oid, table: Option<pg_sys::Oid>) -> Option<RelGuard> {
        // SAFETY: try_relation_open is a pgrx-guarded FFI call (an ERROR becomes a Rust panic);
        // it returns NULL for a missing relation, which is checked.
        let rel = unsafe { pg_sys::try_relation_open(oid, Self::LOCK) };
        if rel.is_null() {
            if let Some(t) = table {
                // SAFETY: guarded FFI call; the lock was taken by this backend.
                unsafe { pg_sys::UnlockRelationOid(t, Self::LOCK) };
            }
            return None;
        }
        Some(RelGuard { rel, table })
    }

    pub fn rel(&self) -> pg_sys::Relation {
        self.rel
    }
}

impl Drop for RelGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        // SAFETY: `rel` was opened by `open_locked` with LOCK and not closed since (the guard is
        // the only owner); the table lock was taken with LOCK by this backend. Guarded FFI calls.
        unsafe {
            pg_sys::relation_close(self.rel, Self::LOCK);
            if let Some(t) = self.table {
                pg_sys::UnlockRelationOid(t, Self::LOCK);
            }
        }
    }
}
