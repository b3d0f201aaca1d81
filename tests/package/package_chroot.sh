#!/usr/bin/env bash
# make package-test-chroot (PG=17, PG=18: that major): the package on a clean Debian root of the
# suite that ships the major (bookworm for 15, trixie for 17, forky for 18; minbase debootstrap in
# <target>/package-root, from the Debian mirror). `apt-get install ./<package>.deb` there must
# pull postgresql-<major> and the rest of Depends (and the recommended pg_cron) from the mirror,
# after which CREATE EXTENSION and queries into the library work in a cluster inside the root
# (socket only, port 28822, under flock /tmp/ntsb_pg.lock like every cluster here); then
# `apt-get purge` removes every file of the package and CREATE EXTENSION fails. The package is
# built by `make package PG=<major>` (in that major's root for 17 and 18). Needs the network
# (about 110 MB: the base system and PostgreSQL; debootstrap's and apt's downloads are kept in
# /var/cache/ntsb_perf/package-root-cache/<suite>, for every later run and clone). The root is
# removed afterwards (KEEP_ROOT=1 keeps it).
source "$(dirname "$0")/../../scripts/common.sh"
cd "$ROOT"
R=$TARGET/package-root
case $PG_MAJOR in
    15) SUITE=bookworm SCRIPT=bookworm ;;
    17) SUITE=trixie SCRIPT=trixie ;;
    # bookworm's debootstrap has no forky script; sid's makes testing roots the same way.
    18) SUITE=forky SCRIPT=/usr/share/debootstrap/scripts/sid ;;
    *) echo "PostgreSQL $PG_MAJOR: not a supported major (15, 17, 18)" >&2; exit 2 ;;
esac
CACHE=${NTSB_CACHE:-/var/cache/ntsb_perf}/package-root-cache/$SUITE
PORT=${PACKAGE_CHROOT_PORT:-28822}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PKG=postgresql-$PG_MAJOR-ntsb-perf
export DEBIAN_FRONTEND=noninteractive
[ "$(id -u)" = 0 ] || { echo "debootstrap and chroot need root" >&2; exit 2; }
# In a mount namespace of its own: the /proc mounted in the root for apt (below) can never be
# left mounted on the host, whatever ends this script.
if [ "${NTSB_CHROOT_NS:-}" != 1 ]; then
    NTSB_CHROOT_NS=1 exec unshare --mount --propagation private -- "$0" "$@"
fi
start=$(date +%s)
step() { log "$1 ($(( $(date +%s) - start )) s so far)"; }

if ! command -v debootstrap >/dev/null; then
    log "apt-get install debootstrap"
    apt-get install -y -q -o DPkg::Lock::Timeout=300 debootstrap >/dev/null
fi
# PACKAGE_DEB: a package built already (scripts/test.sh passes the one its package stage built).
DEB=${PACKAGE_DEB:-$(make -s --no-print-directory package PG="$PG_MAJOR" | tail -n 1)}
[ -f "$DEB" ] || { echo "make package printed no package path (got '$DEB')" >&2; exit 1; }
VERSION=$(dpkg-deb --field "$DEB" Version)
VERSION=${VERSION%-*}

in_root() { chroot "$R" env LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
# apt_in_root ARGS...: apt-get in the root with /proc mounted (forky's postgresql-common runs
# systemd-tmpfiles in its maintainer scripts, which fail without it).
apt_in_root() {
    local rc=0
    mount -t proc proc "$R/proc"
    in_root apt-get "$@" || rc=$?
    umount "$R/proc"
    return $rc
}
leftovers() {   # processes running inside the root
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && echo "${p#/proc/}"
    done
    return 0
}
cleanup() {
    local rc=$? pid
    set +e
    for pid in $(leftovers); do
        echo "stopping process $pid left inside the root: $(tr '\0' ' ' <"/proc/$pid/cmdline")" >&2
        kill "$pid"
    done
    if [ -d "$R/var/cache/apt/archives" ]; then
        mkdir -p "$CACHE/apt"
        find "$R/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -exec cp -u {} "$CACHE/apt/" \;
    fi
    umount "$R/proc" 2>/dev/null
    if findmnt -rn -o TARGET | grep -q "^$R/"; then
        echo "something is still mounted under $R: not removed" >&2; rc=1
    elif [ "${KEEP_ROOT:-0}" = 1 ]; then log "kept $R"; else rm -rf "$R"; fi
    [ $rc = 0 ] || echo "chroot package test FAILED (rc $rc)" >&2
    exit $rc
}

[ -z "$(leftovers)" ] || { echo "processes run inside $R already: $(leftovers)" >&2; exit 1; }
rm -rf "$R"
trap cleanup EXIT
mkdir -p "$CACHE/debootstrap"
step "debootstrap --variant=minbase $SUITE $MIRROR"
debootstrap --variant=minbase --cache-dir="$CACHE/debootstrap" "$SUITE" "$R" "$MIRROR" "$SCRIPT" >"$CACHE/debootstrap.log" 2>&1 ||
    { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
if in_root dpkg-query -W "postgresql-$PG_MAJOR" >/dev/null 2>&1; then
    echo "the fresh root has postgresql-$PG_MAJOR already" >&2; exit 1
fi
# No services started by the packages' scripts in the root.
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"
[ -d "$CACHE/apt" ] && cp "$CACHE"/apt/*.deb "$R/var/cache/apt/archives/" 2>/dev/null || true
cp "$DEB" "$R/tmp/"

# debootstrap left the mirror's package lists in the root: no apt-get update needed.
step "apt-get install ./$(basename "$DEB") in the root"
apt_in_root install -y -q "/tmp/$(basename "$DEB")" >"$CACHE/apt.log" 2>&1 ||
    { tail -30 "$CACHE/apt.log" >&2; exit 1; }
for p in "$PKG" "postgresql-$PG_MAJOR" "postgresql-$PG_MAJOR-cron"; do
    [ "$(in_root dpkg-query -W -f='${db:Status-Abbrev}' "$p")" = "ii " ] ||
        { echo "$p is not installed in the root after apt-get install" >&2; exit 1; }
done
in_root dpkg --verify "$PKG" || { echo "dpkg --verify $PKG failed in the root" >&2; exit 1; }
log "installed in the root: $(in_root dpkg-query -W -f='${Package} ${Version}, ' "$PKG" "postgresql-$PG_MAJOR" libc6 "postgresql-$PG_MAJOR-cron")"

step "cluster in the root (flock /tmp/ntsb_pg.lock)"
# shellcheck disable=SC2016
with_pg_lock bash -c '
    set -euo pipefail
    R=$1 PORT=$2 VERSION=$3 MAJOR=$4
    as_pg_in_root() { chroot --userspec=postgres:postgres "$R" env HOME=/var/lib/postgresql LC_ALL=C.UTF-8 "$@"; }
    BIN=/usr/lib/postgresql/$MAJOR/bin
    mkdir -p "$R/tmp/pgtest"
    chroot "$R" chown postgres:postgres /tmp/pgtest
    as_pg_in_root $BIN/initdb -D /tmp/pgtest/data --auth=trust --username=postgres -E UTF8 --locale=C.UTF-8 >/dev/null
    # Only a socket (no TCP port shared with the host), and no /dev/shm needed.
    cat >>"$R/tmp/pgtest/data/postgresql.conf" <<CONF
port = $PORT
listen_addresses = '"''"'
unix_socket_directories = '"'"'/tmp/pgtest'"'"'
dynamic_shared_memory_type = mmap
fsync = off
CONF
    as_pg_in_root $BIN/pg_ctl -D /tmp/pgtest/data -l /tmp/pgtest/server.log -w -t 60 start >/dev/null
    trap "as_pg_in_root $BIN/pg_ctl -D /tmp/pgtest/data -m fast -w stop >/dev/null" EXIT
    got=$(as_pg_in_root /usr/bin/psql -X -v ON_ERROR_STOP=1 -h /tmp/pgtest -p "$PORT" -U postgres -qAt -F " " \
        -c "CREATE EXTENSION ntsb_perf" \
        -c "SELECT extversion FROM pg_extension WHERE extname = '"'ntsb_perf'"'" \
        -c "SELECT count(*) > 0 FROM ntsb_perf.index_usage()" \
        -c "SELECT ntsb_perf.accidents(s), ntsb_perf.fatalities(s) FROM (SELECT ntsb_perf.accident_stats(v, f, 0, 0, 0) AS s
              FROM (VALUES ('"'FATAL(2)'"', 2), ('"'MINR'"', 0), ('"'FATL'"', 1)) x(v, f)) q")
    want="$VERSION
t
3 3"
    [ "$got" = "$want" ] || { printf "queries in the root gave:\n%s\nexpected:\n%s\n" "$got" "$want" >&2; exit 1; }
    echo "  $(as_pg_in_root /usr/bin/psql -X -h /tmp/pgtest -p "$PORT" -U postgres -qAt -c "SELECT version()")"
' _ "$R" "$PORT" "$VERSION" "$PG_MAJOR"
[ -z "$(leftovers)" ] || { echo "processes still run inside the root: $(leftovers)" >&2; exit 1; }

step "apt-get purge $PKG in the root"
files=$(in_root dpkg -L "$PKG" | while IFS= read -r p; do [ -f "$R$p" ] && printf '%s\n' "$p"; done)
[ -n "$files" ] || { echo "dpkg -L $PKG lists no files in the root" >&2; exit 1; }
apt_in_root purge -y -q "$PKG" >>"$CACHE/apt.log" 2>&1 || { tail -30 "$CACHE/apt.log" >&2; exit 1; }
state=$(in_root dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" 2>/dev/null || true)
[ -z "$state" ] || [ "$state" = "un " ] || { echo "dpkg state of $PKG after purge: '$state'" >&2; exit 1; }
while IFS= read -r p; do
    [ ! -e "$R$p" ] || { echo "$p is still in the root after apt-get purge" >&2; exit 1; }
done <<<"$files"
[ "$(in_root dpkg-query -W -f='${db:Status-Abbrev}' "postgresql-$PG_MAJOR")" = "ii " ] ||
    { echo "apt-get purge $PKG removed postgresql-$PG_MAJOR too" >&2; exit 1; }
# shellcheck disable=SC2016
with_pg_lock bash -c '
    set -euo pipefail
    R=$1 MAJOR=$2
    as_pg_in_root() { chroot --userspec=postgres:postgres "$R" env HOME=/var/lib/postgresql LC_ALL=C.UTF-8 "$@"; }
    BIN=/usr/lib/postgresql/$MAJOR/bin
    as_pg_in_root $BIN/pg_ctl -D /tmp/pgtest/data -l /tmp/pgtest/server.log -w -t 60 start >/dev/null
    trap "as_pg_in_root $BIN/pg_ctl -D /tmp/pgtest/data -m fast -w stop >/dev/null" EXIT
    if err=$(as_pg_in_root /usr/bin/psql -X -v ON_ERROR_STOP=1 -h /tmp/pgtest -p "$(sed -n "s/^port = //p" "$R/tmp/pgtest/data/postgresql.conf")" \
             -U postgres -qAt -c "CREATE DATABASE after_purge" -d postgres 2>&1 &&
             as_pg_in_root /usr/bin/psql -X -v ON_ERROR_STOP=1 -h /tmp/pgtest -p "$(sed -n "s/^port = //p" "$R/tmp/pgtest/data/postgresql.conf")" \
             -U postgres -qAt -d after_purge -c "CREATE EXTENSION ntsb_perf" 2>&1); then
        echo "CREATE EXTENSION ntsb_perf succeeded after apt-get purge" >&2; exit 1
    fi
    grep -Eq "could not open extension control file|extension \"ntsb_perf\" is not available" <<<"$err" ||
        { echo "CREATE EXTENSION after purge failed otherwise: $err" >&2; exit 1; }
    echo "  after purge: ${err#ERROR:  }"
' _ "$R" "$PG_MAJOR"
[ -z "$(leftovers)" ] || { echo "processes still run inside the root: $(leftovers)" >&2; exit 1; }
step "clean-root test passed: ntsb_perf $VERSION installed from the package alone on $SUITE with PostgreSQL $PG_MAJOR, working, then purged"
