#!/bin/bash
# Builds a static libopenvswitch from Debian's openvswitch-source package.
#
# Debian ships no libopenvswitch-dev, but the OVSDB watcher needs the C IDL,
# so we build just the library (and the generated Open_vSwitch IDL, which OVS
# compiles into it) once and cache the result.  The last line on stdout is the
# build directory, which is what cmake/OpenVSwitch.cmake calls OVS_DIR.
#
# Environment:
#   CTF_DEPS_DIR   cache root (default /var/cache/ctflushd)
#   OVS_TARBALL    source tarball (default the openvswitch-source one)
#   CTF_JOBS       make parallelism (default 2)
#   CFLAGS, CPPFLAGS  compiler flags for OVS (default OVS's own -g -O2)

set -euo pipefail

tarball=${OVS_TARBALL:-/usr/src/openvswitch/openvswitch.tar.gz}
deps_dir=${CTF_DEPS_DIR:-/var/cache/ctflushd}
jobs=${CTF_JOBS:-2}

# Only what the library needs.  SSL stays on so that "ssl:" remotes work; it
# costs nothing but -lssl -lcrypto at link time.  libcap-ng, unbound and
# libunwind are forced off so that the link line does not depend on which
# -dev packages happen to be installed on the build host.  PYTHON3 is pinned
# to Debian's interpreter because the IDL generator runs at build time and a
# pyenv shim earlier in PATH may point at nothing usable.
configure_args=(
    --enable-static --disable-shared
    --enable-ssl
    --disable-libcapng
    --disable-afxdp
    --disable-usdt-probes
    --disable-dependency-tracking
    --enable-silent-rules
    PYTHON3=/usr/bin/python3
    ac_cv_lib_unbound_ub_ctx_create=no
    ac_cv_lib_unwind_unw_backtrace=no
)
# CFLAGS and CPPFLAGS from the environment become configure arguments, so
# that the stamp records them: debian/rules passes dpkg-buildflags' hardening
# flags this way, and a cache built with other flags is not reused. Unset,
# nothing changes.
for var in CFLAGS CPPFLAGS; do
    if [ -n "${!var:-}" ]; then
        configure_args+=("$var=${!var}")
    fi
done

# Debian packages providing what the steps below run.  The tarball already
# carries a generated configure, so autoconf/automake/libtool are needed only
# if make decides to regenerate it (e.g. because of skewed timestamps).
build_deps=(gcc make python3 libssl-dev pkg-config autoconf automake libtool)

die() {
    echo "build-ovs.sh: $*" >&2
    exit 1
}

if [ ! -r "$tarball" ]; then
    die "$tarball not found; install it with: apt-get install openvswitch-source"
fi

# The version names the cache directory, so that a new openvswitch-source
# does not silently reuse an old build.
version=$(tar -xzOf "$tarball" openvswitch/configure.ac \
          | sed -n 's/^AC_INIT(openvswitch, *\([^,]*\),.*/\1/p')
[ -n "$version" ] || die "cannot read the OVS version from $tarball"

ovs_dir=$deps_dir/ovs-$version
stamp=$ovs_dir/.ctf-stamp
log=$ovs_dir/ctf-build.log

# The stamp pins both the source and the way it was configured: either
# changing means the cached build is not the one we would produce now.
want_stamp="$(sha256sum "$tarball" | cut -d' ' -f1) ${configure_args[*]}"

cache_ok() {
    [ -f "$ovs_dir/lib/.libs/libopenvswitch.a" ] &&
    [ -f "$ovs_dir/lib/vswitch-idl.h" ] &&
    [ -f "$stamp" ] &&
    [ "$(cat "$stamp")" = "$want_stamp" ]
}

mkdir -p "$deps_dir"

# Two builds racing (parallel CI jobs, a developer and cmake) would wipe each
# other's tree; serialise on a lock next to the cache directory.
exec 9>"$deps_dir/.ovs-$version.lock"
flock 9

if cache_ok; then
    echo "$ovs_dir"
    exit 0
fi

on_error() {
    echo "build-ovs.sh: build failed; last lines of $log:" >&2
    tail -n 40 "$log" >&2 || true
}
trap on_error ERR

# A partial tree from an interrupted run could hide a stale config.status or
# half-written objects; start from scratch whenever the stamp does not match.
rm -rf "$ovs_dir"
mkdir -p "$ovs_dir"
: >"$log"
echo "build-ovs.sh: building OVS $version in $ovs_dir (log: $log)" >&2

missing=()
for pkg in "${build_deps[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) || true
    if [ "$status" != "install ok installed" ]; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing build packages: ${missing[*]} (run as root or install them)"
    echo "build-ovs.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
        apt-get update >>"$log" 2>&1
        apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1
    fi
fi

tar -xzf "$tarball" -C "$ovs_dir" --strip-components=1 --no-same-owner >>"$log" 2>&1
cd "$ovs_dir"

./configure "${configure_args[@]}" >>"$log" 2>&1

# "make lib/libopenvswitch.la" alone is not enough on a fresh tree: headers
# such as lib/vswitch-idl.h and include/odp-netlink.h are BUILT_SOURCES,
# which automake only generates for "make all", and without dependency
# tracking make cannot know the objects need them.  Ask the Makefile for the
# list and build those first. (--no-print-directory: under a parent make, as
# in a package build, make would otherwise print its directory into the list.)
built_sources=$(make -s --no-print-directory -f Makefile -f - ctf-print-built-sources <<'EOF'
ctf-print-built-sources:
	@echo $(BUILT_SOURCES)
EOF
)
# shellcheck disable=SC2086 # the list is whitespace-separated on purpose
make -j"$jobs" $built_sources >>"$log" 2>&1
make -j"$jobs" lib/libopenvswitch.la >>"$log" 2>&1

[ -f lib/.libs/libopenvswitch.a ] || die "lib/.libs/libopenvswitch.a was not produced"
[ -f lib/vswitch-idl.h ] || die "lib/vswitch-idl.h was not produced"
# Not "grep -q": it would exit at the first match, nm would die of SIGPIPE
# and pipefail would report the pipeline as failed.
nm lib/.libs/libopenvswitch.a 2>/dev/null \
    | grep ' [DR] ovsrec_idl_class$' >/dev/null ||
    die "libopenvswitch.a lacks ovsrec_idl_class (vswitch-idl.o not archived)"

printf '%s\n' "$want_stamp" >"$stamp"
trap - ERR
echo "$ovs_dir"
