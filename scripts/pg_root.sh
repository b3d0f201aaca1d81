#!/usr/bin/env bash
# The PostgreSQL majors Debian 12 does not ship, each in a Debian root of the suite that does:
#
#   scripts/pg_root.sh 17                 # make (or check) the root of PostgreSQL 17: trixie
#   scripts/pg_root.sh 18                 # ... of PostgreSQL 18: forky (Debian testing)
#   scripts/pg_root.sh 17 -- CMD ARGS...  # run CMD inside it, this checkout at the same path
#   scripts/pg_root.sh 17 --versions      # what the root holds (PostgreSQL, PostGIS, pg_cron, glibc)
#
# 15 is the host's own major: `scripts/pg_root.sh 15 -- CMD` just runs CMD.
#
# The roots are made with debootstrap (--variant=minbase) from the Debian mirror and kept in
# $NTSB_ROOTS (/var/cache/ntsb_perf/roots), outside the checkout, so that every clone on the
# machine and every later run uses them without downloading again; a root counts as made once
# its stamp file is written, after the last package installed (an interrupted make starts over).
# Their binaries need a newer glibc than the host's, so everything that runs PostgreSQL of that
# major (pg_config, initdb, postgres, psql, cargo pgrx) runs inside the root (chroot). Inside,
# in a mount namespace of the call's own: /proc and a tmpfs /dev/shm (dynamic shared memory); this checkout, the
# host's /tmp (the lock files), the Rust toolchain ($HOME/.cargo, $HOME/.rustup) and the
# demo data (../shared when present) are bind-mounted at their host paths. A chroot shares the
# host's network: a server started inside listens on the host's loopback.
#
# Inside, PG_MAJOR is set (scripts/common.sh picks that major's pg_config and binaries) and
# CARGO_TARGET_DIR is target/pg<major>: the artifacts (build scripts among them) are linked
# against the root's glibc and must not be reused on the host, nor the host's in the root.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
MAJOR=${1:?"usage: $0 MAJOR [-- CMD...|--versions]"}
shift
NTSB_ROOTS=${NTSB_ROOTS:-/var/cache/ntsb_perf/roots}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# What --versions prints (and a root's stamp holds): the packages that make a major's root.
VERSION_QUERY=(dpkg-query -W -f='${Package} ${Version}\n' "postgresql-$MAJOR" "postgresql-$MAJOR-postgis-3"
               "postgresql-$MAJOR-cron" libc6)
# Inside the root of this major already (a script there calling make, which calls this): run it.
if [ "${NTSB_IN_ROOT:-}" = "$MAJOR" ]; then
    [ "${1:-}" = -- ] && { shift; exec "$@"; }
    [ "${1:-}" = --versions ] && exec "${VERSION_QUERY[@]}"
    exit 0
fi
case "$MAJOR" in
    15) if [ "${1:-}" = -- ]; then shift; exec env PG_MAJOR=15 "$@"; fi
        [ "${1:-}" = --versions ] && { dpkg-query -W postgresql-15 postgresql-15-postgis-3 postgresql-15-cron libc6; exit 0; }
        exit 0 ;;
    17) SUITE=trixie; SCRIPT=trixie ;;
    # bookworm's debootstrap has no forky script; sid's makes testing roots the same way.
    18) SUITE=forky; SCRIPT=/usr/share/debootstrap/scripts/sid ;;
    *) echo "PostgreSQL $MAJOR: not a supported major (15, 17, 18)" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "debootstrap and chroot need root" >&2; exit 2; }
R=$NTSB_ROOTS/$SUITE-pg$MAJOR
STAMP=$R/.ntsb_perf-root-made
PACKAGES=(postgresql-$MAJOR postgresql-server-dev-$MAJOR postgresql-$MAJOR-postgis-3
          postgresql-$MAJOR-cron
          # building: bindgen needs libclang; cc for the build scripts
          clang libclang-dev gcc pkg-config make git ca-certificates
          # the scripts: runuser (util-linux), sudo (cargo pgrx test --runas), pgbench (client)
          sudo util-linux procps python3 locales-all
          # the health report's browser test
          chromium python3-html5lib python3-shapely python3-geojson
          # the package: dpkg-deb, dpkg-shlibdeps
          dpkg-dev)

in_root_raw() { chroot "$R" env -i LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

make_root() {
    command -v debootstrap >/dev/null ||
        { log "apt-get install debootstrap"; apt-get install -y -q -o DPkg::Lock::Timeout=300 debootstrap >/dev/null; }
    local start=$SECONDS logf=$NTSB_ROOTS/$SUITE-pg$MAJOR.log
    mkdir -p "$NTSB_ROOTS"
    if findmnt -rn -o TARGET | grep -q "^$R/"; then
        echo "something is mounted under $R; not removing it" >&2; exit 1
    fi
    rm -rf "$R"
    log "debootstrap --variant=minbase $SUITE $R (PostgreSQL $MAJOR; log in $logf)"
    debootstrap --variant=minbase "$SUITE" "$R" "$MIRROR" "$SCRIPT" >"$logf" 2>&1 ||
        { tail -20 "$logf" >&2; exit 1; }
    # No services started by the packages' scripts in the root (no cluster of the package's own).
    printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
    chmod 755 "$R/usr/sbin/policy-rc.d"
    mkdir -p "$R/etc/postgresql-common/createcluster.d"
    echo "create_main_cluster = false" >"$R/etc/postgresql-common/createcluster.d/ntsb_perf.conf"
    cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
    # Debian testing's Release file may be past its Valid-Until date on the mirror.
    echo 'Acquire::Check-Valid-Until "false";' >"$R/etc/apt/apt.conf.d/99ntsb-perf-valid-until"
    log "apt-get install ${PACKAGES[*]} (in the root)"
    # Some maintainer scripts need /proc (forky's postgresql-common runs systemd-tmpfiles).
    mount -t proc proc "$R/proc"
    local ok=0
    { in_root_raw apt-get update -q && in_root_raw apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"; } >>"$logf" 2>&1 || ok=$?
    umount -l "$R/proc"
    [ $ok = 0 ] || { tail -30 "$logf" >&2; exit 1; }
    in_root_raw apt-get clean
    versions >"$STAMP"
    log "root of PostgreSQL $MAJOR made in $((SECONDS - start)) s: $(tr '\n' ' ' <"$STAMP")"
}

versions() { in_root_raw "${VERSION_QUERY[@]}"; }

[ -f "$STAMP" ] || make_root
[ $# = 0 ] && exit 0
if [ "$1" = --versions ]; then cat "$STAMP"; exit 0; fi
[ "$1" = -- ] || { echo "usage: $0 MAJOR [-- CMD...|--versions]" >&2; exit 2; }
shift

# The mounts are made in a mount namespace of this call's own (unshare): nothing is mounted on
# the host, so calls side by side do not undo each other's mounts, and the mounts go away with
# the last process of the call (a server it started keeps them until it stops).
if [ "${NTSB_IN_NAMESPACE:-}" != "$R" ]; then
    NTSB_IN_NAMESPACE=$R exec unshare --mount --propagation private -- "$HERE/pg_root.sh" "$MAJOR" -- "$@"
fi
bind() {   # bind SOURCE: the host path at the same path in the root
    [ -e "$1" ] || return 0
    mkdir -p "$R$1"
    mount --bind "$1" "$R$1"
}
mount -t proc proc "$R/proc"
# /dev: debootstrap made its device nodes (null, zero, urandom, ...); /dev/shm a tmpfs of its own.
mkdir -p "$R/dev/shm"
mount -t tmpfs -o mode=1777 shm "$R/dev/shm"
bind /tmp
bind "$ROOT"
if [ -d "$ROOT/../shared" ]; then bind "$(cd "$ROOT/../shared" && pwd)"; fi
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
bind "$CARGO_HOME"
bind "$RUSTUP_HOME"

# pgrx's own configuration for this major lives in the root (its pg_config is the root's).
PGRX_HOME_IN=/root/.pgrx
if ! grep -qs "pg$MAJOR" "$R$PGRX_HOME_IN/config.toml"; then
    log "cargo pgrx init --pg$MAJOR (in the root)"
    chroot "$R" env -i HOME=/root PATH="$CARGO_HOME/bin:/usr/bin:/bin" CARGO_HOME="$CARGO_HOME" \
        RUSTUP_HOME="$RUSTUP_HOME" PGRX_HOME=$PGRX_HOME_IN \
        cargo pgrx init --pg$MAJOR "/usr/lib/postgresql/$MAJOR/bin/pg_config" >&2
fi
# The settings of make bench and make package pass through too (BENCH_PARTS, BENCH_ROWS, ...).
pass=()
while read -r v; do pass+=("$v=${!v}"); done < <(compgen -e | grep -E \
    '^(BENCH_[A-Z_]+|N_INDEXES|ROUNDS|REPORT_ROUNDS|HISTORY_ROUNDS|CHURN_[A-Z_]+|DEB_REVISION|DEB_MAINTAINER|SOURCE_DATE_EPOCH|PACKAGE_OUT)$' || true)
exec chroot "$R" env -i LC_ALL=C.UTF-8 HOME=/root TERM="${TERM:-dumb}" "${pass[@]}" \
    PATH="$CARGO_HOME/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    CARGO_HOME="$CARGO_HOME" RUSTUP_HOME="$RUSTUP_HOME" PGRX_HOME=$PGRX_HOME_IN \
    CARGO_TARGET_DIR="$ROOT/target/pg$MAJOR" PG_MAJOR="$MAJOR" NTSB_IN_ROOT="$MAJOR" \
    ${NTSB_CSV:+NTSB_CSV="$NTSB_CSV"} ${ROWS:+ROWS="$ROWS"} ${KEEP_GOING:+KEEP_GOING="$KEEP_GOING"} \
    ${REGRESS_TESTS:+REGRESS_TESTS="$REGRESS_TESTS"} \
    bash -c 'cd "$0" && exec "$@"' "$PWD" "$@"
