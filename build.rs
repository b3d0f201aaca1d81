//! Checks, at build time, that the page layout `ntsb_perf_core::bloat::layout` assumes is the
//! one in the PostgreSQL server headers the extension is built against (the parts pgrx does not
//! bind; `src/bloat/layout_check.rs` checks the rest with const asserts): a C file of
//! `_Static_assert`s, one per constant, is compiled (syntax only) with the server's include
//! directory. Any mismatch (another BLCKSZ, a changed opaque struct...) fails the build.
//!
//! It also reads `USER_TIMEOUT` (utils/timeout.h, not bound by pgrx), whose value differs
//! between majors (17 added TRANSACTION_TIMEOUT before it), into `$OUT_DIR/user_timeout.rs` for
//! the reindex worker, and checks the value it read with the same compiler.

use std::path::PathBuf;
use std::process::Command;

use ntsb_perf_core::bloat::layout as l;

fn pg_config() -> String {
    println!("cargo:rerun-if-env-changed=PGRX_PG_CONFIG_PATH");
    if let Ok(p) = std::env::var("PGRX_PG_CONFIG_PATH") {
        return p;
    }
    // The version the crate is built for (feature pgNN), as cargo pgrx init recorded it.
    let major = (13..=18)
        .find(|v| std::env::var(format!("CARGO_FEATURE_PG{v}")).is_ok())
        .unwrap_or(15);
    let home = std::env::var("PGRX_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".pgrx")));
    if let Ok(config) = home.map(|h| h.join("config.toml")) {
        println!("cargo:rerun-if-changed={}", config.display());
        if let Ok(text) = std::fs::read_to_string(&config) {
            let key = format!("pg{major}");
            for line in text.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    if k.trim() == key {
                        return v.trim().trim_matches('"').to_string();
                    }
                }
            }
        }
    }
    "pg_config".to_string()
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=crates/ntsb_perf_core/src/bloat");
    let pg_config = pg_config();
    let out = Command::new(&pg_config)
        .arg("--includedir-server")
        .output()
        .unwrap_or_else(|e| panic!("running {pg_config} --includedir-server: {e}"));
    assert!(
        out.status.success(),
        "{pg_config} --includedir-server failed"
    );
    let include = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let user_timeout = user_timeout(&include);

    let checks: &[(&str, u64)] = &[
        ("BLCKSZ", l::BLCKSZ as u64),
        ("MAXIMUM_ALIGNOF", l::MAXIMUM_ALIGNOF as u64),
        ("SizeOfPageHeaderData", l::SIZE_OF_PAGE_HEADER as u64),
        ("sizeof(ItemIdData)", l::ITEM_ID_SIZE as u64),
        ("offsetof(PageHeaderData, pd_lower)", l::PD_LOWER as u64),
        ("offsetof(PageHeaderData, pd_special)", l::PD_SPECIAL as u64),
        // B-tree
        ("MAXALIGN(sizeof(BTPageOpaqueData))", l::BT_SPECIAL_SIZE as u64),
        ("offsetof(BTPageOpaqueData, btpo_next)", l::BT_NEXT as u64),
        ("offsetof(BTPageOpaqueData, btpo_level)", l::BT_LEVEL as u64),
        ("offsetof(BTPageOpaqueData, btpo_flags)", l::BT_FLAGS as u64),
        ("BTP_LEAF", l::BTP_LEAF as u64),
        ("BTP_ROOT", l::BTP_ROOT as u64),
        ("BTP_DELETED", l::BTP_DELETED as u64),
        ("BTP_META", l::BTP_META as u64),
        ("BTP_HALF_DEAD", l::BTP_HALF_DEAD as u64),
        ("BTP_SPLIT_END", l::BTP_SPLIT_END as u64),
        ("BTP_HAS_GARBAGE", l::BTP_HAS_GARBAGE as u64),
        ("BTP_INCOMPLETE_SPLIT", l::BTP_INCOMPLETE_SPLIT as u64),
        ("BTP_HAS_FULLXID", l::BTP_HAS_FULLXID as u64),
        // SP-GiST
        ("MAXALIGN(sizeof(SpGistPageOpaqueData))", l::SPGIST_SPECIAL_SIZE as u64),
        ("offsetof(SpGistPageOpaqueData, flags)", l::SPGIST_FLAGS as u64),
        ("offsetof(SpGistPageOpaqueData, spgist_page_id)", l::SPGIST_PAGE_ID_OFF as u64),
        ("SPGIST_PAGE_ID", l::SPGIST_PAGE_ID as u64),
        ("SPGIST_META", l::SPGIST_META as u64),
        ("SPGIST_DELETED", l::SPGIST_DELETED as u64),
        ("SPGIST_LEAF", l::SPGIST_LEAF as u64),
        ("SPGIST_NULLS", l::SPGIST_NULLS as u64),
        // GIN
        ("MAXALIGN(sizeof(GinPageOpaqueData))", l::GIN_SPECIAL_SIZE as u64),
        ("offsetof(GinPageOpaqueData, rightlink)", l::GIN_RIGHTLINK as u64),
        ("offsetof(GinPageOpaqueData, flags)", l::GIN_FLAGS as u64),
        ("offsetof(GinMetaPageData, nPendingPages)", l::GIN_META_N_PENDING_PAGES as u64),
        ("offsetof(GinMetaPageData, nPendingHeapTuples)", l::GIN_META_N_PENDING_HEAP_TUPLES as u64),
        ("GIN_DATA", l::GIN_DATA as u64),
        ("GIN_LEAF", l::GIN_LEAF as u64),
        ("GIN_DELETED", l::GIN_DELETED as u64),
        ("GIN_META", l::GIN_META as u64),
        ("GIN_LIST", l::GIN_LIST as u64),
        ("GIN_LIST_FULLROW", l::GIN_LIST_FULLROW as u64),
        ("GIN_INCOMPLETE_SPLIT", l::GIN_INCOMPLETE_SPLIT as u64),
        ("GIN_COMPRESSED", l::GIN_COMPRESSED as u64),
        // hash
        ("MAXALIGN(sizeof(HashPageOpaqueData))", l::HASH_SPECIAL_SIZE as u64),
        ("offsetof(HashPageOpaqueData, hasho_nextblkno)", l::HASH_NEXT as u64),
        ("offsetof(HashPageOpaqueData, hasho_bucket)", l::HASH_BUCKET as u64),
        ("offsetof(HashPageOpaqueData, hasho_flag)", l::HASH_FLAG as u64),
        ("offsetof(HashPageOpaqueData, hasho_page_id)", l::HASH_PAGE_ID_OFF as u64),
        ("HASHO_PAGE_ID", l::HASHO_PAGE_ID as u64),
        ("LH_UNUSED_PAGE", l::LH_UNUSED_PAGE as u64),
        ("LH_OVERFLOW_PAGE", l::LH_OVERFLOW_PAGE as u64),
        ("LH_BUCKET_PAGE", l::LH_BUCKET_PAGE as u64),
        ("LH_BITMAP_PAGE", l::LH_BITMAP_PAGE as u64),
        ("LH_META_PAGE", l::LH_META_PAGE as u64),
        ("LH_BUCKET_BEING_POPULATED", l::LH_BUCKET_BEING_POPULATED as u64),
        ("LH_BUCKET_BEING_SPLIT", l::LH_BUCKET_BEING_SPLIT as u64),
        ("LH_BUCKET_NEEDS_SPLIT_CLEANUP", l::LH_BUCKET_NEEDS_SPLIT_CLEANUP as u64),
        ("LH_PAGE_HAS_DEAD_TUPLES", l::LH_PAGE_HAS_DEAD_TUPLES as u64),
        ("LH_PAGE_TYPE", l::LH_PAGE_TYPE as u64),
        // BRIN
        ("MAXALIGN(sizeof(BrinSpecialSpace))", l::BRIN_SPECIAL_SIZE as u64),
        (
            "offsetof(BrinSpecialSpace, vector) + sizeof(uint16) * (MAXALIGN(1) / sizeof(uint16) - 1)",
            l::BRIN_TYPE as u64,
        ),
        (
            "offsetof(BrinSpecialSpace, vector) + sizeof(uint16) * (MAXALIGN(1) / sizeof(uint16) - 2)",
            l::BRIN_FLAGS as u64,
        ),
        ("BRIN_PAGETYPE_META", l::BRIN_PAGETYPE_META as u64),
        ("BRIN_PAGETYPE_REVMAP", l::BRIN_PAGETYPE_REVMAP as u64),
        ("BRIN_PAGETYPE_REGULAR", l::BRIN_PAGETYPE_REGULAR as u64),
        ("BRIN_EVACUATE_PAGE", l::BRIN_EVACUATE_PAGE as u64),
    ];
    let mut c = String::from(
        "#include \"postgres.h\"\n#include \"storage/bufpage.h\"\n#include \"access/nbtree.h\"\n\
         #include \"access/gin_private.h\"\n#include \"access/hash.h\"\n\
         #include \"access/spgist_private.h\"\n#include \"access/brin_page.h\"\n",
    );
    for (expr, value) in checks {
        c.push_str(&format!(
            "_Static_assert(({expr}) == {value}ULL, \"ntsb_perf_core layout: {} is not {value}\");\n",
            expr.replace('"', "'")
        ));
    }
    c.push_str("#include \"utils/timeout.h\"\n");
    c.push_str(&format!(
        "_Static_assert(USER_TIMEOUT == {user_timeout}, \"USER_TIMEOUT is not {user_timeout}\");\n"
    ));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(
        out_dir.join("user_timeout.rs"),
        format!(
            "/// `USER_TIMEOUT` of the utils/timeout.h this library is built against (build.rs).\n\
             const USER_TIMEOUT: u32 = {user_timeout};\n"
        ),
    )
    .expect("writing user_timeout.rs");
    let file = out_dir.join("layout_check.c");
    std::fs::write(&file, c).expect("writing layout_check.c");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let compilers = [cc.as_str(), "clang", "gcc"];
    let mut last_error = String::new();
    for compiler in compilers {
        match Command::new(compiler)
            .args(["-fsyntax-only", "-I", &include])
            .arg(&file)
            .output()
        {
            Ok(o) if o.status.success() => return,
            Ok(o) => panic!(
                "the page layout of ntsb_perf_core does not match the server headers in {include}:\n{}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => last_error = format!("{compiler}: {e}"),
        }
    }
    panic!("no C compiler to check the page layout against {include} ({last_error}); set CC");
}

/// The position of `USER_TIMEOUT` in `enum TimeoutId` of utils/timeout.h: its members before it
/// take the values 0, 1, ... (none is given a value); the compiler checks the result.
fn user_timeout(include: &str) -> u32 {
    let path = PathBuf::from(include).join("utils/timeout.h");
    println!("cargo:rerun-if-changed={}", path.display());
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let body = text
        .split("typedef enum TimeoutId")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .unwrap_or_else(|| panic!("no enum TimeoutId in {}", path.display()));
    let mut n = 0;
    for line in body.lines() {
        let word = line.trim().trim_end_matches(',');
        if word == "USER_TIMEOUT" {
            return n;
        }
        if !word.is_empty() && word.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            n += 1;
        }
    }
    panic!("no USER_TIMEOUT in enum TimeoutId of {}", path.display());
}
