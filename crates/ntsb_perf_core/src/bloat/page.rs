//! What every index page has: the page header (`PageHeaderData`) and the line pointers
//! (`ItemIdData`) after it, read with bounds-checked reads only, and the counting of a page's
//! items from its line pointers that the access methods' parsers share.

use super::{corrupt, PageStats};

/// `PageHeaderData` and `ItemIdData` (`storage/bufpage.h`, `storage/itemid.h`): part of
/// [`super::layout`].
pub mod layout {
    /// `BLCKSZ`: bytes in a page.
    pub const BLCKSZ: usize = 8192;
    /// `MAXIMUM_ALIGNOF`.
    pub const MAXIMUM_ALIGNOF: usize = 8;
    /// `SizeOfPageHeaderData` (`offsetof(PageHeaderData, pd_linp)`).
    pub const SIZE_OF_PAGE_HEADER: usize = 24;
    /// `sizeof(ItemIdData)`.
    pub const ITEM_ID_SIZE: usize = 4;
    /// `PageHeaderData` field offsets.
    pub const PD_FLAGS: usize = 10;
    pub const PD_LOWER: usize = 12;
    pub const PD_UPPER: usize = 14;
    pub const PD_SPECIAL: usize = 16;
    pub const PD_PAGESIZE_VERSION: usize = 18;
    /// `PD_VALID_FLAG_BITS`, `PG_PAGE_LAYOUT_VERSION`.
    pub const PD_VALID_FLAG_BITS: u16 = 0x0007;
    pub const PG_PAGE_LAYOUT_VERSION: u16 = 4;
}

use layout::*;

/// The short names the parsers use (the same constants as in [`layout`](super::layout)).
pub use layout::SIZE_OF_PAGE_HEADER as PAGE_HEADER;
pub(super) use layout::{ITEM_ID_SIZE as ITEM_ID, MAXIMUM_ALIGNOF as MAXALIGN};

/// `MAXALIGN(n)`.
pub(super) const fn maxalign(n: usize) -> usize {
    n.saturating_add(MAXALIGN - 1) & !(MAXALIGN - 1)
}

/// A read-only view of one page. Every read is bounds-checked: a field outside the page reads
/// as zero, so a corrupt page can never make the parser read out of bounds or panic. (The
/// accessors are `#[inline]` so that the access methods' files, compiled apart, inline them.)
pub struct Page<'a> {
    b: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemId {
    pub off: usize,
    pub flags: u8,
    pub len: usize,
}

pub const LP_UNUSED: u8 = 0;
pub const LP_NORMAL: u8 = 1;
pub const LP_REDIRECT: u8 = 2;
pub const LP_DEAD: u8 = 3;

impl ItemId {
    #[inline]
    pub(super) fn from_raw(raw: u32) -> ItemId {
        ItemId {
            off: (raw & 0x7fff) as usize,
            flags: ((raw >> 15) & 0x3) as u8,
            len: (raw >> 17) as usize,
        }
    }
}

impl<'a> Page<'a> {
    /// `None` unless `b` is exactly one page.
    pub fn new(b: &'a [u8]) -> Option<Page<'a>> {
        (b.len() == BLCKSZ).then_some(Page { b })
    }
    #[inline]
    pub(super) fn u16_at(&self, off: usize) -> u16 {
        read_u16(self.b, off)
    }
    #[inline]
    pub(super) fn u32_at(&self, off: usize) -> u32 {
        read_u32(self.b, off)
    }
    /// The u16 at `off` in the special space (0 outside it).
    #[inline]
    pub(super) fn special_u16(&self, off: usize) -> u16 {
        read_u16(self.special_bytes(), off)
    }
    /// The u32 at `off` in the special space (0 outside it).
    #[inline]
    pub(super) fn special_u32(&self, off: usize) -> u32 {
        read_u32(self.special_bytes(), off)
    }
    /// The flag bits at `flags_off` in the special space, if the page can be one of the access
    /// method's: no bit outside `known` set and, for the methods that stamp their pages with a
    /// page id, `page_id` (offset, id) there. `None` (the page is corrupt) otherwise.
    #[inline]
    pub(super) fn special_flags(
        &self,
        flags_off: usize,
        known: u16,
        page_id: Option<(usize, u16)>,
    ) -> Option<u16> {
        let flags = self.special_u16(flags_off);
        let stamped = page_id.is_none_or(|(off, id)| self.special_u16(off) == id);
        (stamped && flags & !known == 0).then_some(flags)
    }
    #[inline]
    pub fn lower(&self) -> usize {
        self.u16_at(PD_LOWER) as usize
    }
    #[inline]
    pub fn upper(&self) -> usize {
        self.u16_at(PD_UPPER) as usize
    }
    #[inline]
    pub fn special(&self) -> usize {
        self.u16_at(PD_SPECIAL) as usize
    }
    /// PageIsNew: never initialised (all zero), e.g. extended but not yet used.
    #[inline]
    pub fn is_new(&self) -> bool {
        self.upper() == 0
    }
    /// Header fields are consistent: what PostgreSQL's `PageIsVerified` checks (flags, lower <=
    /// upper <= special <= BLCKSZ, special MAXALIGNed) plus the page size and layout version
    /// (set on every initialised page) and room for the header itself.
    #[inline]
    pub fn is_sane(&self) -> bool {
        let (l, u, s) = (self.lower(), self.upper(), self.special());
        l >= PAGE_HEADER
            && l <= u
            && u <= s
            && s <= BLCKSZ
            && s.is_multiple_of(MAXALIGN)
            && self.u16_at(PD_FLAGS) & !PD_VALID_FLAG_BITS == 0
            && self.u16_at(PD_PAGESIZE_VERSION) == BLCKSZ as u16 | PG_PAGE_LAYOUT_VERSION
    }
    #[inline]
    pub fn usable(&self) -> usize {
        self.special().saturating_sub(PAGE_HEADER)
    }
    /// PageGetFreeSpace.
    #[inline]
    pub fn free_space(&self) -> usize {
        let space = self.upper().saturating_sub(self.lower());
        space.saturating_sub(ITEM_ID)
    }
    #[inline]
    pub fn special_bytes(&self) -> &'a [u8] {
        self.b.get(self.special()..).unwrap_or(&[])
    }
    /// Line pointers the page has (from `pd_lower`; never more than fit in the page).
    #[inline]
    pub fn n_items(&self) -> usize {
        self.lower().min(BLCKSZ).saturating_sub(PAGE_HEADER) / ITEM_ID
    }
    /// Line pointer `i` (1-based offset number); `None` past the last one.
    #[inline]
    pub fn item(&self, i: usize) -> Option<ItemId> {
        if i == 0 || i > self.n_items() {
            return None;
        }
        Some(ItemId::from_raw(
            self.u32_at(PAGE_HEADER + (i - 1) * ITEM_ID),
        ))
    }
    /// Whether a line pointer's storage is where PostgreSQL keeps tuples (as its
    /// `PageIndexTupleDelete` checks it): MAXALIGNed, between `pd_upper` and `pd_special`. An
    /// unused (or dead, storage-less) line pointer has none to check; a normal one must have some.
    #[inline]
    pub fn item_ok(&self, it: &ItemId) -> bool {
        match it.flags {
            LP_NORMAL | LP_DEAD if it.len > 0 => {
                it.off >= self.upper()
                    && it.off + it.len <= self.special()
                    && it.off.is_multiple_of(MAXALIGN)
            }
            LP_NORMAL => false,
            _ => true,
        }
    }
    /// First 4 bytes of an item's tuple, if they lie inside the page.
    #[inline]
    pub fn item_word(&self, it: &ItemId) -> Option<u32> {
        (it.off >= PAGE_HEADER && it.off + 4 <= BLCKSZ).then(|| self.u32_at(it.off))
    }
}

/// Little-endian u16 at `off`, 0 when it is not inside `b`.
#[inline]
pub(super) fn read_u16(b: &[u8], off: usize) -> u16 {
    b.get(off..off.saturating_add(2))
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

/// Little-endian u32 at `off`, 0 when it is not inside `b`.
#[inline]
pub(super) fn read_u32(b: &[u8], off: usize) -> u32 {
    b.get(off..off.saturating_add(4))
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Live and dead items of a page, walking its line pointers and asking `dead_of` about each
/// normal one (for access methods that mark dead tuples in the tuple, not the line pointer).
/// Item 1 is skipped when `skip_first` is set. Corrupt when a line pointer points outside the
/// tuple space or the tuples would overlap. Inlined into its caller, whose header checks it
/// then compiles with (as SP-GiST's `classify`).
#[inline(always)]
pub(super) fn count_items(
    p: &Page,
    skip_first: bool,
    dead_of: impl Fn(&Page, &ItemId) -> bool,
) -> PageStats {
    let mut s = PageStats::default();
    let first = if skip_first { 2 } else { 1 };
    let mut stored = 0;
    for i in first..=p.n_items() {
        let Some(it) = p.item(i) else { break };
        if !p.item_ok(&it) {
            return corrupt();
        }
        if matches!(it.flags, LP_NORMAL | LP_DEAD) {
            stored += maxalign(it.len);
        }
        match it.flags {
            LP_NORMAL if !dead_of(p, &it) => {
                s.live_items += 1;
                s.live_item_bytes += (maxalign(it.len) + ITEM_ID) as u64;
            }
            LP_UNUSED => {}
            _ => s.dead_items += 1,
        }
    }
    // Tuples do not overlap: together they fit between pd_upper and pd_special.
    if stored > p.special().saturating_sub(p.upper()) {
        return corrupt();
    }
    s
}

/// [`count_items`] for pages whose line pointer flags alone say what is dead: one branch-free
/// pass over the line pointers (the compiler vectorises it), no tuple is touched. This loop is
/// most of the per-page CPU of a scan. It also checks, branch-free, that every line pointer
/// with storage points into the tuple space ([`Page::item_ok`]); a page that fails is corrupt.
pub(super) fn count_items_fast(p: &Page, skip_first: bool) -> PageStats {
    let n = p.n_items();
    let first = usize::from(skip_first).min(n);
    let Some(lps) =
        p.b.get(PAGE_HEADER + first * ITEM_ID..PAGE_HEADER + n * ITEM_ID)
    else {
        return corrupt();
    };
    let (upper, special) = (p.upper() as u32, p.special() as u32);
    let (mut normal, mut unused, mut bytes, mut bad) = (0u64, 0u64, 0u64, 0u32);
    let mut stored = 0u64;
    for c in lps.chunks_exact(ITEM_ID) {
        let raw = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        let flags = (raw >> 15) & 3;
        let (off, len) = (raw & 0x7fff, raw >> 17);
        let is_normal = u32::from(flags == LP_NORMAL as u32);
        let has_storage =
            u32::from(flags == LP_NORMAL as u32 || flags == LP_DEAD as u32) & u32::from(len != 0);
        let misplaced =
            u32::from(off < upper) | u32::from(off + len > special) | u32::from(off % 8 != 0);
        bad |= (has_storage & misplaced) | (is_normal & u32::from(len == 0));
        stored += u64::from(has_storage) * ((len as u64 + 7) & !7);
        normal += u64::from(is_normal);
        unused += u64::from(flags == LP_UNUSED as u32);
        bytes += u64::from(is_normal) * (((len as u64 + 7) & !7) + ITEM_ID as u64);
    }
    // Tuples do not overlap: together they fit between pd_upper and pd_special.
    if bad != 0 || stored > u64::from(special - upper) {
        return corrupt();
    }
    PageStats {
        live_items: normal,
        dead_items: (n - first) as u64 - normal - unused,
        live_item_bytes: bytes,
        ..Default::default()
    }
}

/// A B-tree or GiST page without LP_DEAD hints (`BTP_HAS_GARBAGE` / `F_HAS_GARBAGE` clear: both
/// AMs set the page flag whenever they mark an item dead), counted from its header alone: they
/// keep no unused or redirected line pointers and store their tuples packed between `pd_upper`
/// and `pd_special` (deletion compacts the page), so every line pointer is a live item and
/// their MAXALIGNed sizes add up to `pd_special - pd_upper`. The B-tree high key (item 1 of a
/// non-rightmost page) is not an item. `None` when the header does not fit that shape; the
/// caller then walks the line pointers. (The line pointers are not read here, so not checked
/// either: the figures do not depend on them.)
pub(super) fn packed_page_from_header(p: &Page, has_high_key: bool) -> Option<PageStats> {
    let n = p.n_items();
    let tuple_bytes = p.special().checked_sub(p.upper())?;
    let (first, hk_bytes) = match p.item(1) {
        Some(hk) if has_high_key => (1, maxalign(hk.len)),
        _ => (0, 0),
    };
    let live = (n - first) as u64;
    let bytes = tuple_bytes.checked_sub(hk_bytes)? as u64 + live * ITEM_ID as u64;
    Some(PageStats {
        live_items: live,
        live_item_bytes: bytes,
        ..Default::default()
    })
}

/// Page builders for the unit tests of every access method.
#[cfg(test)]
pub(super) mod test_pages {
    use super::*;

    /// Builds a page with the given special size and items of the given lengths.
    pub fn page(special: usize, items: &[(usize, u8)], special_bytes: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; BLCKSZ];
        let sp = BLCKSZ - special;
        let mut upper = sp;
        for (i, (len, flags)) in items.iter().enumerate() {
            upper -= maxalign(*len);
            let raw: u32 = (upper as u32) | ((*flags as u32) << 15) | ((*len as u32) << 17);
            b[PAGE_HEADER + i * 4..PAGE_HEADER + i * 4 + 4].copy_from_slice(&raw.to_le_bytes());
        }
        let lower = PAGE_HEADER + items.len() * 4;
        b[12..14].copy_from_slice(&(lower as u16).to_le_bytes());
        b[14..16].copy_from_slice(&(upper as u16).to_le_bytes());
        b[16..18].copy_from_slice(&(sp as u16).to_le_bytes());
        b[18..20].copy_from_slice(&(BLCKSZ as u16 | PG_PAGE_LAYOUT_VERSION).to_le_bytes());
        b[sp..sp + special_bytes.len()].copy_from_slice(special_bytes);
        b
    }

    /// A zeroed special space of `size` bytes carrying the access method's page id at `at`.
    pub fn special_with_id(size: usize, at: usize, id: u16) -> Vec<u8> {
        let mut v = vec![0u8; size];
        v[at..at + 2].copy_from_slice(&id.to_le_bytes());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::test_pages::page;
    use super::*;
    use crate::bloat::btree::bt_special;

    #[test]
    fn fast_count_agrees_with_plain_count() {
        let items: Vec<(usize, u8)> = (0..300)
            .map(|i| {
                (
                    8 + i % 37,
                    [LP_NORMAL, LP_DEAD, LP_UNUSED, LP_NORMAL][i % 4],
                )
            })
            .collect();
        let b = page(16, &items[..150], &bt_special(0, 1));
        let p = Page::new(&b).unwrap();
        for skip in [false, true] {
            let slow = count_items(&p, skip, |_, _| false);
            let fast = count_items_fast(&p, skip);
            assert_eq!(
                (slow.live_items, slow.dead_items, slow.live_item_bytes),
                (fast.live_items, fast.dead_items, fast.live_item_bytes)
            );
        }
        let empty = page(16, &[], &bt_special(0, 1));
        assert_eq!(
            count_items_fast(&Page::new(&empty).unwrap(), true).live_items,
            0
        );
    }
}
