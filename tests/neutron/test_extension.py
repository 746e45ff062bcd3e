"""The L2 agent extension `ctflushd`, loaded by name through neutron's own
L2AgentExtensionsManager and fed port details of the shape the openvswitch
agent passes (neutron/agent/rpc.py get_device_details, plus vif_port and
local_vlan), against a real ctflushd and ovsdb-server (tests/netns/ctfd_world.py).

Usage: /usr/bin/python3 test_extension.py BUILD_DIR (as root; 77 when
neutron or the World's tools are missing).

This process runs as the agent does: eventlet monkey-patched, the extension's
sender a green thread. It moves itself into a network namespace of its own
first, so the firewall driver of the zones scenario writes its iptables
rules there and not on the host.

Scenarios (CTFD_ONLY=name,...):
  removal     set-ips from handle_port (fixed IPs, a host pair, a CIDR pair left
              out); removing the OVSDB port removes exactly that VM's entries
  restart     ctflushd stopped; ports added and changed meanwhile; started again:
              the latest addresses arrive, the removal of a port added meanwhile
              flushes it; handle_switch_restart sends everything again
  bad_input   details without vif_port, garbage IPs, a bad port name, a missing
              socket: logged (rate-limited), nothing raised, nothing lost
  zones       two tenants' ports with the same address, zones from neutron's own
              iptables_hybrid manager (the ctflushd driver): removing one VM
              leaves the other's entries
  migration   a port arriving by live migration (migrating_to = this host) keeps
              its live entries; a new port that is not migrating flushes its
              addresses' stale entries; the source side flushes on removal
"""

import ctypes
import time
import os
import sys

CLONE_NEWNET = 0x40000000


def _own_netns():
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        print("SKIP: unshare(CLONE_NEWNET): %s" % os.strerror(ctypes.get_errno()),
              file=sys.stderr)
        sys.exit(77)


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nlib  # noqa: E402
from nlib import Failure, check, wait_for  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
HOST = "host-a"

ext = None
world = None
logs = []


class _Capture:
    """Collects the extension's log records (the real oslo.log lines)."""

    def __init__(self):
        import logging
        self.handler = logging.Handler()
        self.handler.emit = lambda rec: logs.append(rec)
        logging.getLogger("ctflushd").addHandler(self.handler)
        logging.getLogger("ctflushd").setLevel(logging.DEBUG)


def setup():
    global ext, world
    from neutron.common import eventlet_utils
    eventlet_utils.monkey_patch()
    from oslo_config import cfg
    from oslo_log import log as logging
    from neutron.agent.l2 import l2_agent_extensions_manager as l2mgr
    from neutron.conf.agent import common as agent_config
    from neutron.conf.agent import securitygroups_rpc as sg_config
    from neutron.conf import common as common_config

    world = nlib.ctfd_world.World(BUILD, "pyext")
    world.start_daemon()

    l2mgr.register_opts(cfg.CONF)
    agent_config.register_root_helper(cfg.CONF)
    sg_config.register_securitygroups_opts(cfg.CONF)
    logging.register_options(cfg.CONF)
    try:
        common_config.register_core_common_config_opts(cfg.CONF)
    except Exception:
        pass
    from oslo_concurrency import lockutils
    os.makedirs(os.path.join(world.tmp, "locks"), exist_ok=True)
    lockutils.set_defaults(os.path.join(world.tmp, "locks"))
    cfg.CONF([], project="neutron")
    logging.setup(cfg.CONF, "test_extension")
    cfg.CONF.set_override("host", HOST)
    cfg.CONF.set_override("root_helper", "", "AGENT")
    cfg.CONF.set_override("extensions", ["ctflushd"], "agent")
    from ctflushd.neutron import config as ctfconfig
    ctfconfig.register_opts(cfg.CONF)
    cfg.CONF.set_override("socket", world.ctl_sock, "ctflushd")
    cfg.CONF.set_override("retry_interval", 0.2, "ctflushd")
    cfg.CONF.set_override("resync_interval", 1.0, "ctflushd")
    _Capture()

    mgr = l2mgr.L2AgentExtensionsManager(cfg.CONF)
    check(mgr.names() == ["ctflushd"], "neutron's manager loaded the extension by name")
    mgr.initialize(None, "ovs", agent_api=None)
    ext_obj = mgr["ctflushd"].obj
    check(type(ext_obj).__module__ == "ctflushd.neutron.extension",
          "it is ctflushd's (%s)" % type(ext_obj).__name__)
    ext = (mgr, ext_obj)


def vif(name, pid, ofport=7, mac="fa:16:3e:00:00:01"):
    from neutron.agent.common import ovs_lib
    return ovs_lib.VifPort(name, ofport, pid, mac, None)


def details(pid, name, ips, pairs=(), migrating_to=None, owner="compute:nova", net="net-1",
            vlan=1, security=True, with_vif=True):
    d = {"device": pid, "device_id": "vm-" + pid[:8], "network_id": net, "port_id": pid,
         "mac_address": "fa:16:3e:00:00:01", "admin_state_up": True, "status": "DOWN",
         "network_type": "vxlan", "segmentation_id": 100, "physical_network": None,
         "fixed_ips": [{"subnet_id": "subnet-1", "ip_address": ip} for ip in ips],
         "device_owner": owner,
         "allowed_address_pairs": [{"mac_address": "fa:16:3e:00:00:99", "ip_address": p}
                                   for p in pairs],
         "port_security_enabled": security, "qos_policy_id": None,
         "network_qos_policy_id": None, "profile": {}, "vif_type": "ovs",
         "vnic_type": "normal", "security_groups": ["sg-1"], "migrating_to": migrating_to,
         "local_vlan": vlan}
    if with_vif:
        d["vif_port"] = vif(name, pid)
    return d


def handle(d):
    mgr, _ = ext
    mgr.handle_port(None, d)        # what the agent calls: the manager, every extension


def sent(timeout=10):
    _, e = ext
    if not e.wait_sent(timeout):
        raise Failure("the extension did not send within %d s (pending: %s)"
                      % (timeout, e.pending()))


def port_row(name):
    for p in world.ctl("ports").get("ports", []):
        if p["name"] == name:
            return p
    return None


def pid_of(n):
    return "%08d-1111-4000-8000-%012d" % (n, n)


def add_ovsdb_port(name, pid):
    world.add_port(name, iface_ids={"iface-id": pid, "attached-mac": "fa:16:3e:00:00:01",
                                    "iface-status": "active"})


def entries_with(ip, ents):
    return [e for e in ents if ip in e[1:3] or ip in e[5:7]]


def test_removal():
    a, b = pid_of(1), pid_of(2)
    add_ovsdb_port("tap-a", a)
    add_ovsdb_port("tap-b", b)
    handle(details(a, "tap-a", ["10.0.0.21", "fd00::21"],
                   pairs=["10.0.0.99/32", "10.0.9.0/24", "fd00::99"]))
    handle(details(b, "tap-b", ["10.0.0.22", "fd00::22"]))
    sent()
    ra, rb = port_row("tap-a"), port_row("tap-b")
    check(ra and sorted(ra["ips"]) == sorted(["10.0.0.21", "10.0.0.99", "fd00::21", "fd00::99"]),
          "ports shows tap-a's fixed IPs and host pairs, not the /24 pair: %s"
          % (ra and ra["ips"]))
    check(rb and sorted(rb["ips"]) == ["10.0.0.22", "fd00::22"], "and tap-b's: %s"
          % (rb and rb["ips"]))
    world.wait_idle()
    lines = []
    for ip in ("10.0.0.21", "10.0.0.99", "fd00::21", "fd00::99", "10.0.0.22", "fd00::22"):
        peers = ["fd00:7::1", "fd00:7::2"] if ":" in ip else ["10.7.0.1", "10.7.0.2"]
        lines += nlib.ctfd_world.entries_for([ip], peers, per_pair=3)
    lines += ["tcp 10.0.9.5 10.7.0.1 3000 80", "tcp 10.8.0.1 10.7.0.1 3001 80"]
    world.fill(lines)
    before = nlib.snapshot(world.ns)
    world.del_ports(["tap-a"])
    wait_for(lambda: not port_row("tap-a"), 20, "tap-a to leave the daemon's table")
    world.wait_idle()
    after = nlib.snapshot(world.ns)
    gone = set(map(tuple, before)) - set(map(tuple, after))
    a_ips = ("10.0.0.21", "10.0.0.99", "fd00::21", "fd00::99")
    expect = {tuple(e) for e in before if any(ip in e[1:3] or ip in e[5:7] for ip in a_ips)}
    check(gone == expect, "removing tap-a from OVSDB deleted exactly its %d entries (%d gone)"
          % (len(expect), len(gone)))
    check(len(after) == len(before) - len(expect), "tap-b's and the others' %d stay"
          % len(after))
    _, e = ext
    e.delete_port(None, {"port_id": a})     # the agent's call once the tap is gone
    check(a not in e.pending(), "delete_port with only port_id is taken")
    world.del_ports(["tap-b"])
    world.wait_idle()
    nsflush()


def nsflush():
    world.nsexec(nlib.CONNTRACK, "-F", capture_output=True)


def test_restart():
    _, e = ext
    b, c = pid_of(3), pid_of(4)
    add_ovsdb_port("tap-b3", b)
    handle(details(b, "tap-b3", ["10.0.0.33"]))
    sent()
    resyncs = e.stats["resyncs"]
    world.stop_daemon()
    # While it is down: a new port, and a changed one.
    add_ovsdb_port("tap-c4", c)
    handle(details(c, "tap-c4", ["10.0.0.44", "fd00::44"]))
    handle(details(b, "tap-b3", ["10.0.0.33", "fd00::33"]))
    time.sleep(1.0)
    check(sorted(e.pending()) == sorted([b, c]), "while ctflushd is down both wait: %s"
          % e.pending())
    world.start_daemon()
    sent(20)
    check(port_row("tap-c4") and sorted(port_row("tap-c4")["ips"]) == ["10.0.0.44", "fd00::44"],
          "after the restart the daemon has the port added meanwhile")
    check(sorted(port_row("tap-b3")["ips"]) == ["10.0.0.33", "fd00::33"],
          "and the changed port's latest addresses")
    wait_for(lambda: e.stats["resyncs"] > resyncs, 10, "the extension to notice the restart")
    check(True, "the extension saw the new daemon and sent every port again")
    world.wait_idle()
    world.fill(nlib.ctfd_world.entries_for(["10.0.0.44", "fd00::44"], ["10.7.0.1"], 2)[:2] +
               nlib.ctfd_world.entries_for(["fd00::44"], ["fd00:7::1"], 2) +
               nlib.ctfd_world.entries_for(["10.0.0.33"], ["10.7.0.1"], 2))
    world.del_ports(["tap-c4"])
    wait_for(lambda: not port_row("tap-c4"), 20, "tap-c4 to leave the daemon's table")
    world.wait_idle()
    after = nlib.snapshot(world.ns)
    check(not entries_with("10.0.0.44", after) and not entries_with("fd00::44", after)
          and len(entries_with("10.0.0.33", after)) == 2,
          "removing it deleted its entries and left the other port's")
    sent_before = e.stats["sent"]
    e.handle_switch_restart()
    sent()
    check(e.stats["sent"] > sent_before, "handle_switch_restart sent the ports again (%d)"
          % (e.stats["sent"] - sent_before))
    world.del_ports(["tap-b3"])
    world.wait_idle()
    nsflush()


def test_bad_input():
    mgr, e = ext
    d = pid_of(5)
    add_ovsdb_port("tap-d5", d)
    handle(details(d, "tap-d5", ["10.0.0.55"]))
    sent()
    del logs[:]
    raised = []
    bad = [
        details(d, "tap-d5", ["10.0.0.56"], with_vif=False),              # no vif_port
        details(d, "tap-d5", ["10.0.0.300", "banana"]),                     # only garbage
        details(d, "tap d5", ["10.0.0.57"]),                                # bad port name
        {"device": d},                                                      # almost nothing
        {"port_id": d, "vif_port": "not a VifPort"},
    ]
    for _ in range(10):
        for item in bad:
            try:
                mgr.handle_port(None, item)
            except Exception as ex:
                raised.append(ex)
    for item in (None, 42, "x"):
        try:
            mgr.handle_port(None, item)
            mgr.delete_port(None, item)
        except Exception as ex:
            raised.append(ex)
    check(not raised, "50+ bad details: nothing raised into the agent (%r)" % raised[:2])
    warns = [r for r in logs if r.levelno >= 30]
    check(1 <= len(warns) <= 4, "logged, with a rate limit: %d lines for %d bad calls"
          % (len(warns), e.stats["bad_input"]))
    sent()
    check(port_row("tap-d5")["ips"] == ["10.0.0.55"],
          "nothing lost: the port keeps the addresses it had (%s)" % port_row("tap-d5")["ips"])
    handle(details(d, "tap-d5", ["10.0.0.58", "nonsense", "fd00::58"]))
    sent()
    check(sorted(port_row("tap-d5")["ips"]) == ["10.0.0.58", "fd00::58"],
          "valid addresses beside garbage are sent")

    # A missing socket: a second extension, as an agent on a host where
    # ctflushd is not up yet.
    from ctflushd.neutron import extension
    from oslo_config import cfg
    missing = os.path.join(world.tmp, "later.sock")
    cfg.CONF.set_override("socket", missing, "ctflushd")
    e2 = extension.CtflushdAgentExtension()
    e2.initialize(None, "ovs")
    cfg.CONF.set_override("socket", world.ctl_sock, "ctflushd")
    f = pid_of(6)
    add_ovsdb_port("tap-f6", f)
    del logs[:]
    try:
        e2.handle_port(None, details(f, "tap-f6", ["10.0.0.66"]))
    except Exception as ex:
        raise Failure("handle_port raised with the socket missing: %r" % ex)
    time.sleep(1.0)
    check(e2.pending() == [f], "socket missing: the port waits (%s)" % e2.pending())
    check(any("cannot reach" in r.getMessage() for r in logs), "and that was logged")
    os.symlink(world.ctl_sock, missing)
    if not e2.wait_sent(20):
        raise Failure("the port was not sent once the socket appeared")
    check(port_row("tap-f6") and port_row("tap-f6")["ips"] == ["10.0.0.66"],
          "once the socket is there the port's addresses arrive: nothing lost")
    world.del_ports(["tap-d5", "tap-f6"])
    world.wait_idle()

    # A daemon that accepts and never answers (hung): the agent's calls
    # still return at once, and its other green threads keep running.
    import eventlet
    import socket as socket_mod
    hung = os.path.join(world.tmp, "hung.sock")
    lsock = socket_mod.socket(socket_mod.AF_UNIX, socket_mod.SOCK_STREAM)
    lsock.bind(hung)
    lsock.listen(64)
    cfg.CONF.set_override("socket", hung, "ctflushd")
    e3 = extension.CtflushdAgentExtension()
    e3.initialize(None, "ovs")
    cfg.CONF.set_override("socket", world.ctl_sock, "ctflushd")
    ticks = [0]

    def ticker():
        for _ in range(150):
            eventlet.sleep(0.01)
            ticks[0] += 1
    eventlet.spawn_n(ticker)
    worst = 0.0
    for i in range(200):
        t0 = time.perf_counter()
        e3.handle_port(None, details(pid_of(100 + i), "tap-h%d" % i, ["10.1.%d.%d" % (i // 200,
                                                                                      i % 200 + 1)]))
        worst = max(worst, time.perf_counter() - t0)
    eventlet.sleep(1.6)
    check(worst < 0.005, "a hung daemon: 200 handle_port calls, each returned in < 5 ms "
          "(max %.3f ms)" % (worst * 1000))
    check(ticks[0] >= 100, "another green thread ran on meanwhile (%d of 150 ticks in 1.6 s)"
          % ticks[0])
    check(len(e3.pending()) == 200, "all 200 ports wait to be sent")
    lsock.close()


def test_zones():
    """Two tenants, the same address, iptables_hybrid's per-port zones."""
    from oslo_config import cfg
    from neutron.agent import securitygroups_rpc
    import neutron.privileged
    neutron.privileged.default.set_client_mode(False)
    cfg.CONF.set_override("firewall_driver", "ctflushd_iptables_hybrid", "SECURITYGROUP")
    x, y = pid_of(7), pid_of(8)
    names = {x: ("qvo" + x)[:14], y: ("qvo" + y)[:14]}

    class Server:
        def security_group_info_for_devices(self, context, devices):
            return {"devices": {p: {"device": p, "id": p, "network_id": "net-" + p[:8],
                                    "mac_address": "fa:16:3e:00:00:07",
                                    "fixed_ips": ["10.0.0.31"], "security_groups": ["sg-1"],
                                    "security_group_source_groups": [],
                                    "port_security_enabled": True,
                                    "device_owner": "compute:nova",
                                    "allowed_address_pairs": []} for p in devices},
                    "security_groups": {"sg-1": [{"direction": "egress", "ethertype": "IPv4"}]},
                    "sg_member_ips": {}}

    sg_agent = securitygroups_rpc.SecurityGroupAgentRpc(None, Server())
    for p in (x, y):
        add_ovsdb_port(names[p], p)
    # The agent's order: handle_port first, then the port's filter.
    for p in (x, y):
        handle(details(p, names[p], ["10.0.0.31"], net="net-" + p[:8]))
    _, e = ext
    check(sorted(e.pending()) == sorted([x, y]), "the first set-ips waits for the zone")
    sg_agent.prepare_devices_filter([x, y])
    sent()
    zx = sg_agent.firewall.ipconntrack.get_device_zone({"device": x}, create=False)
    zy = sg_agent.firewall.ipconntrack.get_device_zone({"device": y}, create=False)
    check(zx and zy and zx != zy, "neutron gave the two ports zones %s and %s" % (zx, zy))
    rx, ry = port_row(names[x]), port_row(names[y])
    check(rx["ips"] == ["10.0.0.31"] and ry["ips"] == ["10.0.0.31"], "both have 10.0.0.31")
    check(rx.get("zone") == zx and ry.get("zone") == zy,
          "the daemon has each port's zone from set-ips: %s=%s, %s=%s (wanted %s, %s)"
          % (names[x], rx.get("zone"), names[y], ry.get("zone"), zx, zy))
    world.wait_idle()
    world.fill(nlib.ctfd_world.entries_for(["10.0.0.31"], ["10.7.0.1", "10.7.0.2"], 3, zone=zx) +
               nlib.ctfd_world.entries_for(["10.0.0.31"], ["10.7.0.1", "10.7.0.2"], 3, zone=zy))
    world.del_ports([names[x]])
    wait_for(lambda: not port_row(names[x]), 20, "the first port to leave the table")
    world.wait_idle()
    after = nlib.snapshot(world.ns)
    check(not [a for a in after if a[8] == zx], "its entries in zone %d are gone" % zx)
    check(len([a for a in after if a[8] == zy]) == 6,
          "the other tenant's 6 entries of the same address in zone %d stay" % zy)
    world.del_ports([names[y]])
    world.wait_idle()
    nsflush()


def test_migration():
    _, e = ext
    m, n, s = pid_of(9), pid_of(10), pid_of(11)
    peers = ["10.0.0.71", "10.0.0.72"]          # local VMs talking to the arriving one
    world.fill(nlib.ctfd_world.entries_for(["10.0.0.90"], peers, 2) +
               nlib.ctfd_world.entries_for(["10.0.0.91"], peers, 2) +
               nlib.ctfd_world.entries_for(["10.0.0.92"], peers, 2))
    # Destination: nova live-migrates m here; the agent's details carry
    # migrating_to = this host.
    add_ovsdb_port("tap-m9", m)
    handle(details(m, "tap-m9", ["10.0.0.90"], migrating_to=HOST))
    # A new port that is not migrating: its address's entries are stale.
    add_ovsdb_port("tap-n10", n)
    handle(details(n, "tap-n10", ["10.0.0.91"]))
    sent()
    world.wait_idle()
    after = nlib.snapshot(world.ns)
    check(not entries_with("10.0.0.91", after),
          "a new port that is not migrating: the stale entries of its address are flushed")
    check(len(entries_with("10.0.0.90", after)) == 4,
          "the arriving VM's 4 live entries stay (migrating: no flush-on-add); %d left"
          % len(entries_with("10.0.0.90", after)))
    # Migration over: the binding moves here, migrating_to goes away.
    handle(details(m, "tap-m9", ["10.0.0.90"]))
    sent()
    world.wait_idle()
    check(len(entries_with("10.0.0.90", nlib.snapshot(world.ns))) == 4,
          "and stay when the port stops migrating")
    # Source: the port leaves for another host, then its tap goes.
    add_ovsdb_port("tap-s11", s)
    handle(details(s, "tap-s11", ["10.0.0.92"], migrating_to="host-b"))
    sent()
    world.wait_idle()
    world.fill(nlib.ctfd_world.entries_for(["10.0.0.92"], peers, 2, base_port=30000))
    world.del_ports(["tap-s11"])
    wait_for(lambda: not port_row("tap-s11"), 20, "the source's port to leave the table")
    world.wait_idle()
    check(not entries_with("10.0.0.92", nlib.snapshot(world.ns)),
          "source side: the port's removal flushes its entries")
    world.del_ports(["tap-m9", "tap-n10"])
    world.wait_idle()
    nsflush()


def main():
    nlib.require_neutron()
    _own_netns()
    nlib.install_package()
    tests = [("removal", test_removal), ("restart", test_restart),
             ("bad_input", test_bad_input), ("zones", test_zones),
             ("migration", test_migration)]
    try:
        setup()
        nlib.ctfd_world.run_tests(tests)
    finally:
        if world is not None:
            world.close()


if __name__ == "__main__":
    main()
