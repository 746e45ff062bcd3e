"""The ctflushd firewall drivers against neutron's own, on identical tables.

Usage: /usr/bin/python3 test_firewall.py BUILD_DIR (as root; exit 77 when
neutron, iptables, ipset or the World's tools are missing).

For each scenario, fw_child.py runs twice with neutron's own code paths (a
SecurityGroupAgentRpc that loads the driver by name and takes a
remote-group member removal or a rule removal as the server would send
it): once with neutron's unmodified driver in a namespace of its own (the
reference), once with the ctflushd driver in the World's namespace, where
ctflushd runs. Both start from the same table (v4 and v6, per-port zones,
entries in zone 0, marked entries, DNAT'd entries that hold the port only in
their reply tuple). Afterwards the two kernel tables must be equal, neutron
must have run `conntrack -D` for the reference (so the comparison can fail)
and none for ctflushd's driver.

Scenarios (CTFD_ONLY=name,...):
  member_hybrid, rule_hybrid       iptables_hybrid (zone per port)
  member_iptables, rule_iptables   iptables (zone per network)
  ovs_invalid    openvswitch: a port's entries marked invalid, in its VLAN's zone
                 (the manager as the driver builds it; the driver's __init__ needs
                 ovs-vswitchd and os-ken, which this test does not run)
  fallback       ctflushd unreachable: neutron's manager deletes, as the reference
  gate           require_selector_support (the default) against this daemon:
                 handed over if its status lists flush-selectors, else neutron's
  timing         each call returns in milliseconds while a large job runs

The comparisons run with require_selector_support = false, so that they
test the daemon's selectors whether or not it advertises them yet.
"""

import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nlib  # noqa: E402
from nlib import Failure, check  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
CHILD = os.path.join(nlib.HERE, "fw_child.py")
_world = None
_ref_ns = []


def world():
    global _world
    if _world is None:
        _world = nlib.ctfd_world.World(BUILD, "pyfw")
        _world.start_daemon()
    return _world


def _del_ref_ns():
    for ns in _ref_ns:
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    del _ref_ns[:]


import atexit  # noqa: E402
atexit.register(_del_ref_ns)


def clean_netfilter(ns):
    """Empties what a previous run left in ns: the table, iptables, ipsets."""
    script = ("%s -F >/dev/null 2>&1; "
              "for t in iptables ip6tables; do for tb in raw filter mangle; do "
              "$t -t $tb -F; $t -t $tb -X; done; done; ipset flush 2>/dev/null; "
              "ipset destroy 2>/dev/null; true" % nlib.CONNTRACK)
    subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", script], check=True)


def run_child(ns, driver, scenario, shim, **extra):
    spec_path = os.path.join(world().tmp, "spec-%s-%s.json" % (driver, scenario))
    out = spec_path.replace("spec-", "out-")
    spec = dict(driver=driver, scenario=scenario, ns=ns, tmp=world().tmp, out=out,
                ctfill=os.path.join(BUILD, "ctfill"), socket=world().ctl_sock)
    spec.update(extra)
    nlib.write_json(spec_path, spec)
    log_path = out.replace(".json", ".log")
    with open(log_path, "w") as log:
        r = subprocess.run(["ip", "netns", "exec", ns, nlib.PYTHON, CHILD, spec_path],
                           stdout=log, stderr=subprocess.STDOUT, env=shim.env(), timeout=600)
    with open(log_path) as f:
        text = f.read()
    if r.returncode:
        raise Failure("fw_child %s %s exited %d:\n%s" % (driver, scenario, r.returncode,
                                                        text[-4000:]))
    res = nlib.read_json(out)
    res["log"] = text
    return res


def reference(driver, scenario, shim):
    ns = ("pyfwref%d" % os.getpid())[:15]
    subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    _ref_ns.append(ns)
    try:
        shim.reset()
        res = run_child(ns, driver, scenario, shim)
        res["after"] = nlib.snapshot(ns)
        return res
    finally:
        _del_ref_ns()


def ctflushd_run(driver, scenario, shim, **extra):
    w = world()
    clean_netfilter(w.ns)
    shim.reset()
    res = run_child(w.ns, driver, scenario, shim, **extra)
    # Generous: a dump's speed depends on the host's whole conntrack table
    # (its hash is shared by all namespaces), and the timing scenario's
    # job walks 200k entries.
    w.wait_idle(300 * nlib.ctfd_world.SCALE)
    res["after"] = nlib.snapshot(w.ns)
    return res


def compare(flavour, scenario, require=False, socket=None):
    shim = nlib.ConntrackShim(world().tmp)
    ref = reference(flavour, scenario, shim)
    check(ref["conntrack_runs"] > 0,
          "%s/%s reference: neutron ran conntrack -D %d times" % (flavour, scenario,
                                                                  ref["conntrack_runs"]))
    deleted = len(ref["before"]) - len(ref["after"])
    check(deleted > 0, "%s/%s reference: neutron deleted %d of %d entries"
          % (flavour, scenario, deleted, len(ref["before"])))
    extra = {"require_selector_support": require}
    if socket is not None:
        extra["socket"] = socket
    mine = ctflushd_run("ctflushd_" + flavour, scenario, shim, **extra)
    check(mine["firewall_class"].startswith("ctflushd.neutron.firewall."),
          "neutron's loader gave %s for ctflushd_%s" % (mine["firewall_class"], flavour))
    check(mine["manager_class"] == "CtflushdConntrackManager",
          "its conntrack manager is ctflushd's")
    check(mine["zones"] == ref["zones"], "the same zones as neutron's driver: %s"
          % sorted(mine["zones"].values()))
    check(mine["before"] == ref["before"], "the same table before (%d entries)"
          % len(ref["before"]))
    return ref, mine


_PROTO = {"tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132}


def _in(addr, items):
    import ipaddress
    if items == "any":
        return True
    a = ipaddress.ip_address(addr)
    return any(a.version == ipaddress.ip_network(i).version and a in ipaddress.ip_network(i)
               for i in items)


def model_deletes(req, e):
    """Whether flush request req selects entry e, by docs/protocol.md's
    selectors (the daemon's job, done here in Python)."""
    proto, osrc, odst, _sp, _dp, rsrc, rdst, mark, zone = e
    if "zone" in req and req["zone"] != zone:
        return False
    fam = req.get("family", "both")
    if fam != "both" and (fam == "ipv6") != (":" in osrc):
        return False
    if "proto" in req and req["proto"] != _PROTO.get(proto, -1):
        return False
    if "mark" in req and mark & req.get("mark_mask", 0xffffffff) != req["mark"]:
        return False
    loc, peers = req["local"], req["peers"]
    d = req.get("direction", "either")
    tuples = [(osrc, odst)]
    if req.get("tuple", "any") == "any":
        tuples.append((rdst, rsrc))
    for s, t in tuples:
        if d in ("either", "ingress") and _in(t, loc) and _in(s, peers):
            return True
        if d in ("either", "egress") and _in(s, loc) and _in(t, peers):
            return True
    return False


def check_model(ref, mine, what):
    """The requests the driver sent, applied to the table before by the
    protocol's semantics, leave what neutron left: the mapping is exact
    whatever the daemon does with it."""
    reqs = mine.get("requests") or []
    left = [e for e in mine["before"] if not any(model_deletes(r, e) for r in reqs)]
    only_ref, only_mine, n_ref, n_mine = nlib.diff(ref["after"], sorted(left))
    if n_ref or n_mine:
        raise Failure("%s: the %d requests sent do not select neutron's deletions: %d "
                      "entries would go that neutron kept, e.g. %s; %d would stay that "
                      "neutron deleted, e.g. %s; requests: %s"
                      % (what, len(reqs), n_ref, only_ref[:4], n_mine, only_mine[:4], reqs))
    check(True, "%s: the %d requests sent select exactly neutron's deletions (by the "
          "protocol's selectors)" % (what, len(reqs)))
    for r in reqs:
        print("     %s" % json.dumps(r, sort_keys=True), flush=True)


def check_equal(ref, mine, what):
    only_ref, only_mine, n_ref, n_mine = nlib.diff(ref["after"], mine["after"])
    if n_ref or n_mine:
        raise Failure("%s: the table differs from neutron's: %d entries only neutron "
                      "kept (ctflushd deleted them), e.g. %s; %d entries only ctflushd kept "
                      "(neutron deleted them), e.g. %s" % (what, n_ref, only_ref[:6], n_mine,
                                                          only_mine[:6]))
    check(True, "%s: the table equals neutron's (%d entries left of %d)"
          % (what, len(ref["after"]), len(ref["before"])))


def scenario(flavour, kind):
    def run():
        ref, mine = compare(flavour, kind)
        st = mine.get("stats", {})
        check(st.get("handed_over", 0) > 0 and st.get("fallbacks", 1) == 0,
              "%s/%s: every call was handed to ctflushd (%s)" % (flavour, kind, st))
        check(mine["conntrack_runs"] == 0,
              "%s/%s: no conntrack process was spawned (%d)" % (flavour, kind,
                                                               mine["conntrack_runs"]))
        check(all(c["ms"] < 10 for c in mine["calls"]) and mine["calls"],
              "%s/%s: each of %d calls returned in < 10 ms (max %.3f ms)"
              % (flavour, kind, len(mine["calls"]), max(c["ms"] for c in mine["calls"])))
        check_model(ref, mine, "%s/%s" % (flavour, kind))
        check_equal(ref, mine, "%s/%s" % (flavour, kind))
    return run


def ovs_invalid():
    ref, mine = compare("openvswitch", "ovs_invalid")
    st = mine.get("stats", {})
    check(st.get("handed_over", 0) > 0 and st.get("fallbacks", 1) == 0,
          "openvswitch/invalid: handed to ctflushd (%s)" % st)
    check(mine["conntrack_runs"] == 0, "no conntrack process was spawned")
    check_model(ref, mine, "openvswitch/invalid")
    check_equal(ref, mine, "openvswitch/invalid")


def fallback():
    missing = os.path.join(world().tmp, "nobody-listens.sock")
    ref, mine = compare("iptables_hybrid", "member", socket=missing)
    st = mine.get("stats", {})
    check(st.get("fallbacks", 0) > 0 and st.get("handed_over", 0) == 0,
          "ctflushd unreachable: every call fell back (%s)" % st)
    check(mine["conntrack_runs"] > 0, "neutron's manager ran conntrack -D %d times"
          % mine["conntrack_runs"])
    check("ctflushd" in mine["log"] and "unreachable" in mine["log"],
          "the fallback was logged")
    check_equal(ref, mine, "fallback")


def gate():
    st = world().ctl("status")
    advertised = "flush-selectors" in (st.get("features") or [])
    ref, mine = compare("iptables_hybrid", "rule", require=True)
    stats = mine.get("stats", {})
    if advertised:
        check(stats.get("handed_over", 0) > 0 and mine["conntrack_runs"] == 0,
              "the daemon lists flush-selectors: calls handed over (%s)" % stats)
    else:
        print("note: this daemon's status has no 'flush-selectors' feature", flush=True)
        check(stats.get("fallbacks", 0) > 0 and stats.get("handed_over", 0) == 0
              and mine["conntrack_runs"] > 0,
              "the daemon lists no flush-selectors: neutron's manager deleted (%s, %d "
              "conntrack runs)" % (stats, mine["conntrack_runs"]))
        check("flush-selectors" in mine["log"], "and said why in the log")
    check_equal(ref, mine, "gate")


def timing():
    w = world()
    shim = nlib.ConntrackShim(w.tmp)
    # 100k entries in zone 0 between 10.1.0.0/16 and 10.2.0.0/16, and a job
    # that walks and deletes them while the agent's calls come in.
    res = ctflushd_run("ctflushd_iptables_hybrid", "member", shim,
                       require_selector_support=False,
                       big_gen="total=100000,locals=200,peers=500,bg-pct=0,ext-pct=0",
                       big_job={"cmd": "flush", "local": ["10.1.0.0/16"], "peers": "any",
                                "zone": 0})
    calls = res["calls"]
    check(calls, "the driver made %d calls" % len(calls))
    during = [c for c in calls if c.get("daemon_running") is True]
    check(during, "%d of them while the daemon ran the large job" % len(during))
    worst = max(c["ms"] for c in calls)
    check(worst < 10, "each returned in < 10 ms (max %.3f ms; the agent's whole "
          "refresh took %.1f ms)" % (worst, res["agent_ms"]))
    check(res["conntrack_runs"] == 0, "no conntrack process was spawned")


def main():
    nlib.require_neutron()
    nlib.install_package()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tests = [
        ("member_hybrid", scenario("iptables_hybrid", "member")),
        ("rule_hybrid", scenario("iptables_hybrid", "rule")),
        ("member_iptables", scenario("iptables", "member")),
        ("rule_iptables", scenario("iptables", "rule")),
        ("ovs_invalid", ovs_invalid),
        ("fallback", fallback),
        ("gate", gate),
        ("timing", timing),
    ]
    try:
        nlib.ctfd_world.run_tests(tests)
    finally:
        if _world is not None:
            _world.close()


if __name__ == "__main__":
    main()
