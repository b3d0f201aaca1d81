#!/usr/bin/env bash
# make package: the Debian package target/package/postgresql-15-ntsb-perf_<version>-<rev>_amd64.deb
# (PG=17, PG=18: target/pg<major>/package/postgresql-<major>-ntsb-perf_..., built in that major's root),
# for servers without a Rust toolchain. Its payload is exactly what `cargo pgrx package` stages
# (release build) under <target>/release/ntsb_perf-pg<major>/: the library, the control file, the
# install script and every sql/ntsb_perf--<from>--<to>.sql upgrade script; plus copyright,
# changelog.Debian.gz, README.md.gz and the pages of docs/ (docs/<page>.md.gz) under
# /usr/share/doc/<package>/.
#
# Version: <Cargo.toml version>-<DEB_REVISION>, as Debian versions its PostgreSQL extension
# packages (upstream version, then the Debian revision: 1 for the first package of an upstream
# version, 2, 3... for packaging-only changes). Environment: DEB_REVISION (1), DEB_MAINTAINER,
# SOURCE_DATE_EPOCH (the last commit's time: file times and the archive's are clamped to it),
# PACKAGE_OUT (target/package). `scripts/package.sh --no-build` packs the staged tree again
# without building (tests/package/package.sh uses it to check that packing is reproducible).
source "$(dirname "$0")/common.sh"
cd "$ROOT"

build=1
[ "${1:-}" = --no-build ] && build=0
EXT=ntsb_perf
PKG=postgresql-$PG_MAJOR-ntsb-perf
OUT=${PACKAGE_OUT:-$TARGET/package}
STAGE=$TARGET/release/$EXT-pg$PG_MAJOR
VERSION=$(cargo metadata --offline --no-deps --format-version 1 |
    python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "ntsb_perf"))')
DEB_REVISION=${DEB_REVISION:-1}
DEB_VERSION=$VERSION-$DEB_REVISION
DEB_MAINTAINER=${DEB_MAINTAINER:-ntsb_perf maintainers <maintainers@users.noreply.b-seed-7f8d8d18.example>}
# Not exported to cargo: the cc crate's build scripts rerun when SOURCE_DATE_EPOCH changes, which
# would rebuild pgrx-pg-sys (bindgen) after every commit and every plain cargo build.
SDE=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
ARCH=$(dpkg --print-architecture)
PKGLIBDIR=$($PG_CONFIG --pkglibdir)
EXTDIR=$($PG_CONFIG --sharedir)/extension
DEB=$OUT/${PKG}_${DEB_VERSION}_$ARCH.deb
# The suite the package is built for (and in): bookworm for 15, trixie for 17, forky for 18.
SUITE=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
SUITE=${SUITE:-unstable}

for tool in dpkg-deb dpkg-shlibdeps; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: run scripts/setup.sh (dpkg-dev)" >&2; exit 2; }
done

if [ $build = 1 ]; then
    # A fresh staging tree, so nothing a former build (or a since-deleted upgrade script) left
    # there is packed.
    rm -rf "$STAGE"
    log "cargo pgrx package (release) into ${STAGE#"$ROOT"/}"
    cargo pgrx package --pg-config "$PG_CONFIG" >/dev/null
fi
[ -f "$STAGE$PKGLIBDIR/$EXT.so" ] || { echo "no staged $STAGE$PKGLIBDIR/$EXT.so: run without --no-build" >&2; exit 1; }

# dpkg-shlibdeps wants a source tree: debian/control and the package's tree in debian/<package>.
WORK=$OUT/build
ROOTFS=$WORK/debian/$PKG
rm -rf "$WORK"
mkdir -p "$ROOTFS/DEBIAN" "$ROOTFS/usr/share/doc/$PKG"
cp -a "$STAGE/." "$ROOTFS/"
[ -f "$STAGE$EXTDIR/$EXT--$VERSION.sql" ] ||
    { echo "cargo pgrx package staged no $EXTDIR/$EXT--$VERSION.sql" >&2; exit 1; }

DOC=$ROOTFS/usr/share/doc/$PKG
commit=$(git rev-parse --short=12 HEAD)
dirty=""
git diff --quiet HEAD -- 2>/dev/null || dirty=" (with uncommitted changes)"
gzip -9n <README.md >"$DOC/README.md.gz"
mkdir -p "$DOC/docs"
for page in docs/*.md; do gzip -9n <"$page" >"$DOC/$page.gz"; done
{
    echo "$PKG ($DEB_VERSION) $SUITE; urgency=medium"
    echo
    echo "  * ntsb_perf $VERSION for PostgreSQL $PG_MAJOR, built by make package (cargo pgrx"
    echo "    package, release profile) from git commit $commit$dirty."
    echo
    echo " -- $DEB_MAINTAINER  $(LC_ALL=C date -u -R -d "@$SDE")"
} | gzip -9n >"$DOC/changelog.Debian.gz"

# Machine-readable copyright (DEP-5). The library links in the Rust crates cargo tree lists for
# the build's platform without proc-macros (those run only at compile time).
first_year=$(git log --max-parents=0 --format=%ad --date=format:%Y HEAD | sort | sed -n 1p)
last_year=$(LC_ALL=C date -u -d "@$SDE" +%Y)
years=$first_year
[ "$first_year" = "$last_year" ] || years="$first_year-$last_year"
crates=$(cargo tree --offline --locked -p "$EXT" -e normal,no-proc-macro \
    --target "$(rustc -vV | sed -n 's/^host: //p')" --prefix none --format '{p}|{l}' |
    sed 's/ (\*)$//; s/ (\/[^)]*)//' | grep -v '^ntsb_perf' | sort -u |
    awk -F'|' '{ printf " %s: %s\n", $1, ($2 == "" ? "(no license in its manifest)" : $2) }')
cat >"$DOC/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ntsb_perf
Upstream-Contact: $DEB_MAINTAINER
Comment: ntsb_perf.so is a Rust library (pgrx $(sed -n 's/^pgrx = "=\(.*\)"/\1/p' Cargo.toml)) and statically
 contains these crates, under the licenses their manifests declare (the texts
 are in each crate's source; Apache-2.0 is in /usr/share/common-licenses):
$crates

Files: *
Copyright: $years ntsb_perf maintainers
License: MIT

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
 SOFTWARE.
COPYRIGHT

# Debian's modes (dh_fixperms): directories 0755, files 0644, the module too (a plugin, not a
# program). Owners are root:root through --root-owner-group.
find "$ROOTFS" -type d -exec chmod 0755 {} +
find "$ROOTFS" -type f -exec chmod 0644 {} +

# Depends: the server, and the shared libraries the module needs, from dpkg-shlibdeps (the
# minimum libc6 follows the GLIBC_* symbol versions it uses, from libc6's symbols file).
# PostgreSQL's own symbols are resolved from the server binary, so none is a library's.
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$PKG" "$PKG" >"$WORK/debian/control"
shlibs=$(cd "$WORK" && dpkg-shlibdeps -O "debian/$PKG$PKGLIBDIR/$EXT.so" | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "dpkg-shlibdeps found no library dependencies" >&2; exit 1; }

# Installed-Size in KiB, counted as dpkg-gencontrol does: each file rounded up to 1 KiB, 1 KiB
# for each directory.
installed_size=$(cd "$ROOTFS" && find . -path ./DEBIAN -prune -o \
    \( -type f -printf '%s\n' \) -o \( ! -type f -printf '1024\n' \) |
    awk '{ kib += int(($1 + 1023) / 1024) } END { print kib }')

cat >"$ROOTFS/DEBIAN/control" <<CONTROL
Package: $PKG
Version: $DEB_VERSION
Architecture: $ARCH
Maintainer: $DEB_MAINTAINER
Installed-Size: $installed_size
Depends: postgresql-$PG_MAJOR, $shlibs
Recommends: postgresql-$PG_MAJOR-cron (>= 1.4)
Suggests: postgresql-$PG_MAJOR-postgis-3
Section: database
Priority: optional
Description: PostgreSQL $PG_MAJOR performance toolkit for the NTSB accident database
 ntsb_perf keeps the NTSB aviation-accident database fast from inside
 PostgreSQL: index usage reports (unused, duplicate, redundant and invalid
 indexes), index bloat for every access method read from the pages,
 auto-reindex (REINDEX INDEX CONCURRENTLY run by a background worker, with
 history), accident statistics aggregates, spatial hotspots and radius search,
 EXPLAIN-based query analysis and materialized-view refresh scheduling.
 .
 Run CREATE EXTENSION ntsb_perf; in each database that wants it. No
 shared_preload_libraries entry is needed. pg_cron (for the schedules) and
 PostGIS 3 (for the spatial functions) are optional: the functions that
 need them say so when called.
CONTROL
(cd "$ROOTFS" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
    xargs -0 md5sum) >"$ROOTFS/DEBIAN/md5sums"
chmod 0644 "$ROOTFS/DEBIAN/control" "$ROOTFS/DEBIAN/md5sums"

# Times no later than the commit; dpkg-deb takes the archive's own times from SOURCE_DATE_EPOCH.
find "$ROOTFS" -newermt "@$SDE" -exec touch -h -d "@$SDE" {} +
mkdir -p "$OUT"
rm -f "$DEB"
SOURCE_DATE_EPOCH=$SDE dpkg-deb --root-owner-group -Zxz --build "$ROOTFS" "$DEB" >/dev/null
log "built ${DEB#"$ROOT"/} ($(du -k "$DEB" | cut -f1) KiB, Installed-Size $installed_size KiB)"
echo "$DEB"
