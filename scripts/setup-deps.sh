#!/bin/bash
# Installs what building and testing ctflushd needs on Debian 12, as root:
# the libraries from Debian's packages, and a static libopenvswitch built
# from the openvswitch-source package (Debian has no libopenvswitch-dev).
# Idempotent: installed packages and a cached OVS build are reused.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

packages=(
    build-essential cmake pkg-config
    libmnl-dev libnetfilter-conntrack-dev libevent-dev libjansson-dev libcmocka-dev
    conntrack iproute2 util-linux valgrind python3
    openvswitch-common openvswitch-switch openvswitch-source libssl-dev
    # tests/netns/test_userdp.py: veth checksum offload off, or the userspace
    # datapath's conntrack takes every packet for invalid.
    ethtool
    # The Debian package (debian/) and its test under a real systemd in a
    # container (tests/pkg): building, checking, booting. autoconf, automake
    # and libtool are Build-Depends (build-ovs.sh installs them only when it
    # builds), so dpkg-buildpackage finds them even with a cached OVS tree.
    debhelper lintian systemd systemd-container autoconf automake libtool
    dh-python python3-all python3-setuptools pybuild-plugin-pyproject
    # promtool and the Prometheus server that scrapes GET /metrics in
    # tests/netns/test_metrics.py (its service is never started: the test
    # runs its own, in a namespace, on a temp config).
    prometheus
)

if [[ $(id -u) -ne 0 ]]; then
    echo "setup-deps: run as root (apt-get and the OVS build cache need it)" >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # openvswitch-switch's maintainer scripts try to start services; there
    # may be no init system to do it, which must not fail the install.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The neutron integration's tests run Debian's neutron (tests/neutron).
"$here/setup-neutron.sh"

# The Debian package starts an ovsdb-server where an init system runs; tests
# use their own private servers and never touch the system one.
"$here/build-ovs.sh" >/dev/null
