#!/usr/bin/env bash
# Installs what schemaflow needs from the operating system: PostgreSQL 15 from Debian and
# TimescaleDB built from Debian trixie's source package (Debian 12 ships no TimescaleDB and
# trixie's binary needs a newer glibc). Idempotent: quiet and fast when all is in place.
set -euo pipefail

PG_MAJOR=15
PG_CONFIG=/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config
TSDB_SRC_VERSION=${TSDB_SRC_VERSION:-2.19.3+dfsg-1+deb13u1}
WORK_DIR=${SCHEMAFLOW_BUILD_DIR:-/var/cache/schemaflow}
APT_PACKAGES=(postgresql-${PG_MAJOR} postgresql-server-dev-${PG_MAJOR} postgresql-contrib cmake gcc make libssl-dev dpkg-dev pgbackrest)

say() { printf 'setup-system: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (apt-get and the TimescaleDB install write system folders); try: sudo $0"
command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 only"

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq >/dev/null || die "apt-get update failed; check the machine's Debian sources"
    mkdir -p "$WORK_DIR"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        >"$WORK_DIR/apt.log" 2>&1 || { tail -n 20 "$WORK_DIR/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
    # Debian's package creates and starts a default cluster on 5432; schemaflow runs its own.
    if command -v pg_ctlcluster >/dev/null; then pg_ctlcluster ${PG_MAJOR} main stop 2>/dev/null || true; fi
fi

pkglibdir=$("$PG_CONFIG" --pkglibdir)
sharedir=$("$PG_CONFIG" --sharedir)
if [ -f "$pkglibdir/timescaledb.so" ] && ls "$sharedir"/extension/timescaledb--*.sql >/dev/null 2>&1; then
    exit 0
fi

say "building TimescaleDB ${TSDB_SRC_VERSION} for PostgreSQL ${PG_MAJOR} (about 30 s)"
mkdir -p "$WORK_DIR/apt/lists/partial" "$WORK_DIR/src"
# A private apt configuration: one deb-src line for trixie, its own lists folder, so the
# system's sources are never edited.
mirror=$(grep -hoE '^URIs:\s*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
if [ -z "$mirror" ]; then
    mirror=$(grep -hoE '^deb\s+\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
fi
[ -n "$mirror" ] || die "could not find a Debian mirror in /etc/apt/sources.list*"
echo "deb-src $mirror trixie main" > "$WORK_DIR/apt/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$WORK_DIR/apt/sources.list" -o "Dir::Etc::sourceparts=/dev/null"
          -o "Dir::State::Lists=$WORK_DIR/apt/lists" -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" update -qq >/dev/null || die "could not read trixie's source index from $mirror"
cd "$WORK_DIR/src"
if ! ls -d timescaledb-*/ >/dev/null 2>&1; then
    apt-get "${apt_opts[@]}" source -qq --download-only "timescaledb=${TSDB_SRC_VERSION}" >/dev/null 2>&1 \
        || apt-get "${apt_opts[@]}" source -qq --download-only timescaledb >/dev/null \
        || die "apt-get source timescaledb failed"
    dpkg-source -x --no-check ./timescaledb_*.dsc >/dev/null || die "unpacking the TimescaleDB source failed"
fi
srcdir=$(ls -d timescaledb-*/ | head -n1)
cd "$srcdir"
log="$WORK_DIR/build.log"
{ rm -rf build && ./bootstrap -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
      -DWARNINGS_AS_ERRORS=OFF -DPG_CONFIG="$PG_CONFIG" && make -C build -j"$(nproc)" install; } >"$log" 2>&1 \
    || { tail -n 30 "$log" >&2; die "TimescaleDB build failed; full log: $log"; }
[ -f "$pkglibdir/timescaledb.so" ] || die "build finished but $pkglibdir/timescaledb.so is missing; see $log"
say "TimescaleDB installed into $pkglibdir"
