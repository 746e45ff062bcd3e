#!/bin/bash
# Builds the ctflushd .deb from a copy of the source tree, the way a person
# would (dpkg-buildpackage -b -us -uc), and prints the .deb's path last.
#
#   build_deb.sh SRC OUT [VERSION]
#
# VERSION, when given, is put on top of debian/changelog in the copy first:
# the package test builds a second, higher version to upgrade to.
#
# OUT keeps, per version, the .debs of the last source tree built (keyed by
# a hash of every file in it) and reuses them while nothing changed; and
# OUT/ovs, the libopenvswitch trees scripts/build-ovs.sh builds, which it
# reuses only while the tarball and every flag are the same (its stamp).
# Unit tests are left to ctest (nocheck).
set -euo pipefail

src=$(cd "$1" && pwd)
out=$2
version=${3:-}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The files a checkout holds, without what builds leave in it.
list_files() {
    if git -C "$src" rev-parse --show-toplevel >/dev/null 2>&1; then
        git -C "$src" ls-files -z -co --exclude-standard
    else
        (cd "$src" && find . -path ./.git -prune -o -path './build*' -prune \
             -o -path './obj-*' -prune -o -type f -print0)
    fi
}

# tests/pkg is not in the package: editing the test reuses the build.
key=$( (cd "$src" && list_files | grep -zv '^tests/pkg/' | sort -z | xargs -0 sha256sum
        echo "$version") |
      sha256sum | cut -c1-16)
dir=$out/deb-${version:-base}
if [[ -f $dir/key && $(cat "$dir/key") == "$key" ]] && compgen -G "$dir/ctflushd_*.deb" >/dev/null; then
    echo "build_deb: reusing $dir (source unchanged)" >&2
    ls "$dir"/ctflushd_*.deb
    exit 0
fi

rm -rf "$dir"
mkdir -p "$dir/src/ctflushd"
(cd "$src" && list_files | xargs -0 cp --parents -t "$dir/src/ctflushd")

if [[ -n $version ]]; then
    cl=$dir/src/ctflushd/debian/changelog
    {
        printf 'ctflushd (%s) unstable; urgency=medium\n\n' "$version"
        printf '  * Test build: a higher version to upgrade to.\n\n'
        printf ' -- %s  %s\n\n' "$(sed -n 's/^ -- \(.*>\)  .*/\1/p' "$cl" | head -n 1)" \
            "$(date -R)"
        cat "$cl"
    } >"$cl.new"
    mv "$cl.new" "$cl"
fi

echo "build_deb: building ${version:-the package} in $dir (log: $dir/build.log)" >&2
start=$SECONDS
# Debian's own PATH: a package is built with Debian's tools, and pybuild
# takes the first python3 it finds (a pyenv one in front would be used).
if ! (cd "$dir/src/ctflushd" &&
      PATH=/usr/sbin:/usr/bin:/sbin:/bin CTF_DEPS_DIR=$out/ovs \
          DEB_BUILD_OPTIONS="nocheck parallel=2" \
          dpkg-buildpackage -b -us -uc) >"$dir/build.log" 2>&1; then
    echo "build_deb: dpkg-buildpackage failed; last lines of $dir/build.log:" >&2
    tail -n 40 "$dir/build.log" >&2
    exit 1
fi
mv "$dir"/src/*.deb "$dir"/
rm -rf "$dir/src"
echo "$key" >"$dir/key"
echo "build_deb: built in $((SECONDS - start)) s" >&2
ls "$dir"/ctflushd_*.deb
