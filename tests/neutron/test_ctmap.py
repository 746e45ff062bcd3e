"""ctflushd.neutron.ctmap against neutron's own command builder, on many
random calls: the entries neutron's `conntrack -D` commands select (built by
neutron 21's IpConntrackManager._get_conntrack_cmds, read as conntrack(8)
reads them) must be exactly those the flush requests select (read by
docs/protocol.md's selectors), over a pool of entries of both families,
several zones, protocols, marks and DNAT'd reply tuples.

Usage: /usr/bin/python3 test_ctmap.py (no root; 77 without python3-neutron).
CTFD_CTMAP_CASES (default 300) and CTFD_CTMAP_SEED replay or resize a run.

The kernel itself is the judge in test_firewall.py; this covers the corners
a fixed scenario does not reach: devices without a zone or with zone 0,
remote IPs of the other family (neutron then drops the remote from the
command), prefixes with host bits, protocol names and numbers, "0", marks.
"""

import ipaddress
import os
import random
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nlib  # noqa: E402


def matches_cmd(cmd, e):
    """Whether `conntrack -D ARGS` selects entry e (conntrack matches the
    original tuple for -s/-d, the layer-4 number for -p, all mark bits)."""
    args = list(cmd[2:])
    want = {}
    while args:
        k, v = args.pop(0), args.pop(0)
        want.setdefault(k, []).append(v)
    proto, fam, osrc, odst, rsrc, rdst, mark, zone = e
    if "-p" in want:
        p = want["-p"][0]
        num = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}.get(p)
        if num is None:
            try:
                num = socket.getprotobyname(p)
            except OSError:
                num = int(p) if p.isdigit() and int(p) <= 255 else None
        if num is None:
            return False            # conntrack refuses the command
        if num != proto:
            return False
    f = want["-f"][0]
    if f not in ("ipv4", "ipv6") or (f == "ipv6") != (fam == 6):
        return False
    if "-m" in want and int(want["-m"][0]) != mark:
        return False
    if int(want["-w"][0]) != zone:
        return False
    for flag, addr in (("-s", osrc), ("-d", odst)):
        for v in want.get(flag, []):
            net = ipaddress.ip_network(v, strict=False)
            a = ipaddress.ip_address(addr)
            if a.version != net.version or a not in net:
                return False
    return True


def main():
    if not os.path.isdir(nlib.NEUTRON) or os.path.realpath(sys.executable) != \
            os.path.realpath(nlib.PYTHON):
        nlib.skip("needs %s with python3-neutron" % nlib.PYTHON)
    nlib.install_package()
    sys.path.insert(0, os.path.join(nlib.SRC, "tests", "neutron"))
    from neutron.agent.linux import ip_conntrack
    from ctflushd.neutron import ctmap
    from test_firewall import model_deletes

    seed = int(os.environ.get("CTFD_CTMAP_SEED", random.randrange(1 << 30)))
    cases = int(os.environ.get("CTFD_CTMAP_CASES", "300"))
    rnd = random.Random(seed)
    print("seed %d, %d cases" % (seed, cases))

    locals4 = ["10.0.0.%d" % i for i in range(1, 5)]
    locals6 = ["fd00::%d" % i for i in range(1, 5)]
    remotes4 = ["10.0.1.1", "10.0.1.2", "10.0.2.0", "10.0.2.7", "10.9.9.9"]
    remotes6 = ["fd00:1::1", "fd00:1::2", "fd00:2::", "fd00:2::7"]
    zones = [0, 4097, 4098, 7]
    entries = []
    for fam, locs, rems, vip in ((4, locals4, remotes4, "10.0.5.5"),
                                 (6, locals6, remotes6, "fd00:5::5")):
        for l in locs:
            for r in rems:
                for z in zones:
                    for proto in (6, 17, 1 if fam == 4 else 58):
                        for mark in (0, 1):
                            entries.append((proto, fam, r, l, l, r, mark, z))
                            entries.append((proto, fam, l, r, r, l, mark, z))
                    entries.append((6, fam, r, vip, l, r, 0, z))

    mgr = ip_conntrack.IpConntrackManager.__new__(ip_conntrack.IpConntrackManager)
    mgr.namespace = None
    mgr._device_zone_map = {}
    zonemap = {}
    mgr.get_device_zone = lambda port, create=False: zonemap.get(port["device"])

    protocols = [None, "tcp", "udp", "6", "17", "icmp", "1", "0", "58", "ipv6-icmp", "TCP",
                 "any"]
    bad = 0
    for case in range(cases):
        zonemap.clear()
        devices = []
        for d in range(rnd.randint(1, 4)):
            dev = "dev%d" % d
            zonemap[dev] = rnd.choice([None, 0, 4097, 4097, 4098, 7])
            ips = rnd.sample(locals4, rnd.randint(0, 2)) + rnd.sample(locals6, rnd.randint(0, 2))
            devices.append({"device": dev, "fixed_ips": ips})
        by_rule = rnd.random() < 0.5
        ethertype = rnd.choice(["IPv4", "IPv6"])
        if by_rule:
            rule = {"ethertype": ethertype, "direction": rnd.choice(["ingress", "egress"])}
            p = rnd.choice(protocols)
            if p is not None:
                rule["protocol"] = p
            cmds = mgr._get_conntrack_cmds(devices, rule)
            reqs = ctmap.plan_by_rule(mgr.get_device_zone, devices, rule)
            what = ("rule", rule)
        else:
            pool = remotes4 + remotes6 + ["10.0.2.0/24", "10.0.2.7/24", "fd00:2::/64"]
            remote_ips = set(rnd.sample(pool, rnd.randint(0, 4)))
            mark = rnd.choice([None, None, 1])
            cmds = set()
            # What neutron's queue does with the call (_process_queue).
            for direction in ("ingress", "egress"):
                rule = {"ethertype": ethertype.lower(), "direction": direction}
                if mark:
                    rule["mark"] = mark
                if remote_ips:
                    for r in remote_ips:
                        cmds |= mgr._get_conntrack_cmds(devices, rule, r)
                else:
                    cmds |= mgr._get_conntrack_cmds(devices, rule)
            reqs = ctmap.plan_by_remote_ips(mgr.get_device_zone, devices, ethertype,
                                            remote_ips, mark)
            what = ("remote_ips", ethertype, sorted(remote_ips), mark)
        for e in entries:
            n = any(matches_cmd(c, e) for c in cmds)
            m = any(model_deletes(r, _as_snapshot(e)) for r in reqs)
            if n != m:
                bad += 1
                if bad <= 5:
                    print("FAIL case %d %s devices %s zones %s: entry %s: neutron %s, "
                          "requests %s\n  commands %s\n  requests %s" % (
                              case, what, devices, dict(zonemap), e, n, m, sorted(cmds), reqs),
                          file=sys.stderr)
                break
    if bad:
        print("FAIL: %d of %d cases differ (seed %d)" % (bad, cases, seed), file=sys.stderr)
        sys.exit(1)
    print("ok   %d random calls: the requests select exactly neutron's commands' entries "
          "(%d entries each)" % (cases, len(entries)))
    print("1 passed, 0 failed")


_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "ipv6-icmp"}


def _as_snapshot(e):
    proto, fam, osrc, odst, rsrc, rdst, mark, zone = e
    return (_NAMES[proto], osrc, odst, "1", "2", rsrc, rdst, mark, zone)


if __name__ == "__main__":
    main()
