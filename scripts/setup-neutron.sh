#!/bin/bash
# Installs what the neutron integration (python/) needs to be built and
# tested on Debian 12, as root: Debian's neutron 21 and the tools its
# firewall drivers run (iptables, ipset), eventlet, and pip/setuptools/wheel
# to install ./python into the system Python. Called by setup-deps.sh.
# Idempotent: installed packages are left alone.
set -euo pipefail

packages=(
    python3-neutron python3-eventlet iptables ipset
    python3-pip python3-setuptools python3-wheel
)

if [[ $(id -u) -ne 0 ]]; then
    echo "setup-neutron: run as root (apt-get needs it)" >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup-neutron: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=900 \
        "${missing[@]}" >/dev/null
fi
