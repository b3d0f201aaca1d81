//! Compile-time proof that the page layout the pure parser (`ntsb_perf_core::bloat::layout`)
//! assumes is the server's: every constant the bindings of `pg_sys` carry is compared here;
//! the rest (the special spaces of B-tree, hash, GIN, SP-GiST and BRIN, whose headers pgrx does
//! not bind) are compared with PostgreSQL's own headers by `build.rs`, which compiles
//! `_Static_assert`s against `pg_config --includedir-server`. A server built with another
//! block size or layout fails the build instead of being read out of bounds.

use std::mem::{offset_of, size_of};

use ntsb_perf_core::bloat::layout as l;
use pgrx::pg_sys;

/// `MAXALIGN(n)` of the server.
const fn maxalign(n: usize) -> usize {
    let a = pg_sys::MAXIMUM_ALIGNOF as usize;
    (n + a - 1) & !(a - 1)
}

const _: () = {
    assert!(
        l::BLCKSZ == pg_sys::BLCKSZ as usize,
        "BLCKSZ differs from the server's"
    );
    assert!(l::MAXIMUM_ALIGNOF == pg_sys::MAXIMUM_ALIGNOF as usize);
    assert!(l::SIZE_OF_PAGE_HEADER == offset_of!(pg_sys::PageHeaderData, pd_linp));
    assert!(l::ITEM_ID_SIZE == size_of::<pg_sys::ItemIdData>());
    assert!(l::PD_FLAGS == offset_of!(pg_sys::PageHeaderData, pd_flags));
    assert!(l::PD_LOWER == offset_of!(pg_sys::PageHeaderData, pd_lower));
    assert!(l::PD_UPPER == offset_of!(pg_sys::PageHeaderData, pd_upper));
    assert!(l::PD_SPECIAL == offset_of!(pg_sys::PageHeaderData, pd_special));
    assert!(l::PD_PAGESIZE_VERSION == offset_of!(pg_sys::PageHeaderData, pd_pagesize_version));
    assert!(l::PD_VALID_FLAG_BITS as u32 == pg_sys::PD_VALID_FLAG_BITS);
    assert!(l::PG_PAGE_LAYOUT_VERSION as u32 == pg_sys::PG_PAGE_LAYOUT_VERSION);
    // pd_lower, pd_upper and pd_special are 2-byte fields read as u16.
    assert!(size_of::<pg_sys::LocationIndex>() == 2);
    // GiST's opaque struct is bound by pgrx.
    assert!(l::GIST_SPECIAL_SIZE == maxalign(size_of::<pg_sys::GISTPageOpaqueData>()));
    assert!(l::GIST_FLAGS == offset_of!(pg_sys::GISTPageOpaqueData, flags));
    assert!(l::GIST_PAGE_ID_OFF == offset_of!(pg_sys::GISTPageOpaqueData, gist_page_id));
    assert!(l::GIST_PAGE_ID as u32 == pg_sys::GIST_PAGE_ID);
    assert!(l::F_LEAF as u32 == pg_sys::F_LEAF);
    assert!(l::F_DELETED as u32 == pg_sys::F_DELETED);
    assert!(l::F_TUPLES_DELETED as u32 == pg_sys::F_TUPLES_DELETED);
    assert!(l::F_FOLLOW_RIGHT as u32 == pg_sys::F_FOLLOW_RIGHT);
    assert!(l::F_HAS_GARBAGE as u32 == pg_sys::F_HAS_GARBAGE);
    // The special space of every access method fits in a page after the header.
    assert!(l::BT_SPECIAL_SIZE < l::BLCKSZ - l::SIZE_OF_PAGE_HEADER);
};
