"""One run of a neutron firewall driver, inside a network namespace, for
test_firewall.py: ip netns exec NS /usr/bin/python3 fw_child.py SPEC.json

neutron's own SecurityGroupAgentRpc loads the driver by name (through
neutron.agent.firewall.load_firewall_driver_class), prepares three ports'
filters, and then takes one security-group change the way the agent does
when the server notifies it: a remote-group member removal
(security_groups_member_updated) or a rule removal
(security_groups_rule_updated). The "server" is this file's Server: it
answers security_group_info_for_devices from the spec's data, as neutron's
server would from its database.

The table is filled after the filters are prepared, from the zones
neutron's conntrack manager gave the ports, and written with the kernel's
table before and after into SPEC['out'].
"""

import os
import subprocess
import sys
import time

from neutron.common import eventlet_utils

eventlet_utils.monkey_patch()

import eventlet  # noqa: E402
from oslo_config import cfg  # noqa: E402
from oslo_log import log as logging  # noqa: E402

from neutron.agent import securitygroups_rpc  # noqa: E402
from neutron.conf.agent import common as agent_config  # noqa: E402
from neutron.conf.agent import securitygroups_rpc as sg_config  # noqa: E402
import neutron.privileged  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nlib  # noqa: E402

P1 = "11111111-aaaa-4000-8000-000000000001"
P2 = "22222222-aaaa-4000-8000-000000000002"
P3 = "33333333-aaaa-4000-8000-000000000003"
N1 = "aaaaaaaa-0000-4000-8000-00000000000a"
N2 = "bbbbbbbb-0000-4000-8000-00000000000b"   # another tenant, same addresses

PORTS = {
    P1: {"network_id": N1, "ips": ["10.0.0.11", "fd00::11"], "sgs": ["sgA"], "mac": "fa:16:3e:00:00:01"},
    P2: {"network_id": N1, "ips": ["10.0.0.12", "fd00::12"], "sgs": ["sgA"], "mac": "fa:16:3e:00:00:02"},
    P3: {"network_id": N2, "ips": ["10.0.0.11", "fd00::11"], "sgs": ["sgC"], "mac": "fa:16:3e:00:00:03"},
}

RULES = {
    "sgA": [
        {"direction": "ingress", "ethertype": "IPv4", "remote_group_id": "sgB"},
        {"direction": "ingress", "ethertype": "IPv6", "remote_group_id": "sgB"},
        {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
         "port_range_min": 22, "port_range_max": 22, "source_ip_prefix": "0.0.0.0/0"},
        {"direction": "ingress", "ethertype": "IPv6", "protocol": "udp"},
        {"direction": "egress", "ethertype": "IPv4"},
        {"direction": "egress", "ethertype": "IPv6"},
    ],
    "sgC": [
        {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
         "port_range_min": 22, "port_range_max": 22, "source_ip_prefix": "0.0.0.0/0"},
        {"direction": "egress", "ethertype": "IPv4"},
        {"direction": "egress", "ethertype": "IPv6"},
    ],
}
# What the rule scenario removes from sgA.
REMOVED_RULES = [2, 3, 4]

MEMBERS = {"IPv4": ["10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.4", "10.0.2.0/24"],
           "IPv6": ["fd00:1::1", "fd00:1::2", "fd00:1::3", "fd00:1::4"]}
REMOVED_MEMBERS = ["10.0.1.2", "10.0.2.0/24", "fd00:1::2"]

# Peers in the table: every member, addresses inside the member prefix, and
# a host in no group.
PEERS = {4: ["10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.4", "10.0.2.0", "10.0.2.5",
             "10.9.9.9"],
         6: ["fd00:1::1", "fd00:1::2", "fd00:1::3", "fd00:1::4", "fd00:9::9"]}
VIP = {4: "10.0.5.5", 6: "fd00:5::5"}


class Server:
    """The neutron server's side of security_group_info_for_devices.
    Devices are port ids for the openvswitch agent (iptables_hybrid); the
    plain iptables driver serves the linuxbridge agent, whose devices are
    tap names (tap + the port id's first 11 characters)."""

    def __init__(self, tap_names=False):
        self.dev = {(("tap" + pid)[:14] if tap_names else pid): pid for pid in PORTS}
        self.rules = {k: [dict(r) for r in v] for k, v in RULES.items()}
        self.members = {k: list(v) for k, v in MEMBERS.items()}

    def device(self, dev):
        pid = self.dev[dev]
        p = PORTS[pid]
        return {"device": dev, "id": pid, "network_id": p["network_id"],
                "mac_address": p["mac"], "fixed_ips": list(p["ips"]),
                "security_groups": list(p["sgs"]),
                "security_group_source_groups": ["sgB"] if "sgA" in p["sgs"] else [],
                "port_security_enabled": True, "device_owner": "compute:nova",
                "allowed_address_pairs": []}

    def security_group_info_for_devices(self, context, devices):
        devs = {dev: self.device(dev) for dev in devices}
        sgs = {sg for d in devs.values() for sg in d["security_groups"]}
        return {"devices": devs,
                "security_groups": {sg: [dict(r) for r in self.rules[sg]] for sg in sgs},
                "sg_member_ips": {"sgB": {eth: [[ip, "fa:16:3e:99:99:99"] for ip in ips]
                                          for eth, ips in self.members.items()}}}


def table(zones):
    """ctfill lines for every port, in its zone and in zone 0."""
    lines, n = [], 0
    for dev, pid in sorted(zones_by_pid(zones).items()):
        p = PORTS[pid]
        z = zones[dev]
        for ip in p["ips"]:
            fam = 6 if ":" in ip else 4
            for peer in PEERS[fam]:
                for zone in (z, 0):
                    for proto, src, dst, dport, extra in (
                            ("tcp", peer, ip, 22, ""),          # ingress
                            ("udp", peer, ip, 53, ""),          # ingress, udp
                            ("tcp", ip, peer, 443, ""),         # egress
                            ("udp", ip, peer, 123, ""),         # egress, udp
                            ("tcp", peer, ip, 8080, " mark=1"),  # marked
                            # Only the reply tuple holds the port: DNAT to it.
                            ("tcp", peer, VIP[fam], 80, " nat=%s,%s" % (ip, peer))):
                        if zone == 0 and extra:
                            continue
                        n += 1
                        line = "%s %s %s %d %d%s" % (proto, src, dst, 20000 + n, dport, extra)
                        if zone:
                            line += " zone=%d" % zone
                        lines.append(line)
    return lines


_DEV = {}


def zones_by_pid(zones):
    return {dev: _DEV[dev] for dev in zones}


def neutron_manager(fw):
    return getattr(fw.ipconntrack, "_mgr", fw.ipconntrack)


def wait_neutron_idle(fw, shim, timeout=120):
    """Until neutron's own manager has nothing queued, all its workers wait
    on the queue, and every conntrack it started has ended."""
    from neutron.agent.linux import ip_conntrack
    mgr = neutron_manager(fw)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        starts, ends, _ = shim.runs()
        if mgr._queue.qsize() == 0 and mgr._queue.getting() == ip_conntrack.WORKERS \
                and starts == ends:
            return
        eventlet.sleep(0.05)
    raise RuntimeError("neutron's conntrack manager did not go idle")


def ovs_invalid(spec, shim, result):
    """The openvswitch driver's one deletion: on port setup, the port's
    entries marked invalid (CT_MARK_INVALID) in its local VLAN's zone, by
    neutron's own OVSFirewallDriver._delete_invalid_conntrack_entries_for_port.
    The driver class is the one neutron's loader gives for the name; its
    __init__ needs a running ovs-vswitchd and os-ken's OpenFlow app, so the
    instance gets only the conntrack manager that __init__ would give it."""
    from neutron.agent import firewall as nfirewall
    from neutron.agent.common import ovs_lib
    from neutron.agent.linux import ip_conntrack
    from neutron.agent.linux.openvswitch_firewall import firewall as ovsfw

    cls = nfirewall.load_firewall_driver_class(spec["driver"])
    result["firewall_class"] = "%s.%s" % (cls.__module__, cls.__name__)
    if not issubclass(cls, ovsfw.OVSFirewallDriver):
        raise RuntimeError("%s is not an OVSFirewallDriver" % cls)
    fw = cls.__new__(cls)
    mgr = ip_conntrack.OvsIpConntrackManager()
    fw.ipconntrack = fw._ctflushd_manager(mgr) if hasattr(fw, "_ctflushd_manager") else mgr
    result["manager_class"] = type(fw.ipconntrack).__name__
    server = Server()
    vlans = {P1: 5, P2: 5, P3: 6}
    ports = {}
    for pid in sorted(PORTS):
        port = server.device(pid)
        vif = ovs_lib.VifPort("tap" + pid[:11], 10 + len(ports), pid, PORTS[pid]["mac"], None)
        ports[pid] = (port, ovsfw.OFPort(port, vif, vlans[pid]))
    result["zones"] = {pid: vlans[pid] for pid in ports}
    lines, n = [], 0
    for pid, p in sorted(PORTS.items()):
        for ip in p["ips"]:
            fam = 6 if ":" in ip else 4
            for peer in PEERS[fam][:3]:
                for zone in (vlans[pid], 0):
                    for mark in (1, 0, 3):
                        for src, dst in ((peer, ip), (ip, peer)):
                            n += 1
                            lines.append("tcp %s %s %d 80 mark=%d%s" % (
                                src, dst, 20000 + n, mark, " zone=%d" % zone if zone else ""))
                    n += 1
                    lines.append("tcp %s %s %d 80 mark=1 nat=%s,%s%s" % (
                        peer, VIP[fam], 20000 + n, ip, peer, " zone=%d" % zone if zone else ""))
    r = subprocess.run([spec["ctfill"], "-q", "--from", "-"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("ctfill: " + r.stderr)
    result["before"] = nlib.snapshot(spec["ns"])
    shim.reset()
    # prepare_port_filter of P1, as the agent does when the port appears.
    port, of_port = ports[P1]
    t0 = time.perf_counter()
    fw._delete_invalid_conntrack_entries_for_port(port, of_port)
    result["calls"].append({"fn": "delete_conntrack_state_by_remote_ips x2",
                            "ms": (time.perf_counter() - t0) * 1000})
    return fw


def main():
    spec = nlib.read_json(sys.argv[1])
    shim = nlib.ConntrackShim(spec["tmp"])      # the parent's: same log
    result = {"driver": spec["driver"], "calls": []}

    agent_config.register_root_helper(cfg.CONF)
    sg_config.register_securitygroups_opts(cfg.CONF)
    logging.register_options(cfg.CONF)
    from oslo_concurrency import lockutils
    lock_dir = os.path.join(spec["tmp"], "locks")
    os.makedirs(lock_dir, exist_ok=True)
    lockutils.set_defaults(lock_dir)
    cfg.CONF([], project="neutron")
    cfg.CONF.set_override("root_helper", "", "AGENT")
    cfg.CONF.set_override("firewall_driver", spec["driver"], "SECURITYGROUP")
    cfg.CONF.set_override("debug", bool(os.environ.get("CTFD_NEUTRON_DEBUG")))
    logging.setup(cfg.CONF, "fw_child")
    neutron.privileged.default.set_client_mode(False)
    if spec["driver"].startswith("ctflushd"):
        from ctflushd.neutron import config as ctfconfig
        ctfconfig.register_opts(cfg.CONF)
        if spec.get("socket"):
            cfg.CONF.set_override("socket", spec["socket"], "ctflushd")
        cfg.CONF.set_override("require_selector_support",
                              spec.get("require_selector_support", True), "ctflushd")

    if spec["scenario"] == "ovs_invalid":
        fw = ovs_invalid(spec, shim, result)
        return finish(spec, shim, result, fw)

    server = Server(tap_names=spec["driver"].endswith("_iptables") or
                    spec["driver"] == "iptables")
    _DEV.update(server.dev)
    sg_agent = securitygroups_rpc.SecurityGroupAgentRpc(None, server)
    fw = sg_agent.firewall
    result["firewall_class"] = "%s.%s" % (type(fw).__module__, type(fw).__name__)
    result["manager_class"] = type(fw.ipconntrack).__name__
    sg_agent.prepare_devices_filter(sorted(server.dev))
    zones = {dev: fw.ipconntrack.get_device_zone(fw.ports[dev], create=False)
             for dev in server.dev}
    result["zones"] = zones

    if spec.get("big_gen"):
        r = subprocess.run([spec["ctfill"], "-q", "--gen", spec["big_gen"]],
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError("ctfill --gen: " + r.stderr)
    r = subprocess.run([spec["ctfill"], "-q", "--from", "-"], input="\n".join(table(zones)) + "\n",
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("ctfill: " + r.stderr)
    if not spec.get("big_gen"):
        result["before"] = nlib.snapshot(spec["ns"])
    shim.reset()

    # Time the calls the driver's code makes into its conntrack manager.
    client = None
    if spec["driver"].startswith("ctflushd") and spec.get("socket"):
        from ctflushd import client as ctfclient
        client = ctfclient.Client(spec["socket"], timeout=5)
    mgr = fw.ipconntrack
    for name in ("delete_conntrack_state_by_rule", "delete_conntrack_state_by_remote_ips"):
        orig = getattr(mgr, name)

        def timed(*a, _orig=orig, _name=name, **kw):
            t0 = time.perf_counter()
            try:
                return _orig(*a, **kw)
            finally:
                ms = (time.perf_counter() - t0) * 1000
                rec = {"fn": _name, "ms": ms}
                if client is not None and spec.get("big_job"):
                    try:
                        rec["daemon_running"] = client.status()["running"] is not None
                    except Exception as e:
                        rec["daemon_running"] = repr(e)
                result["calls"].append(rec)
        setattr(mgr, name, timed)

    if spec.get("big_job"):
        jobs = client.request(spec["big_job"])
        result["big_job"] = jobs
        deadline = time.monotonic() + 10
        while client.status()["running"] is None and time.monotonic() < deadline:
            eventlet.sleep(0.001)

    t0 = time.perf_counter()
    if spec["scenario"] == "member":
        server.members = {eth: [ip for ip in ips if ip not in REMOVED_MEMBERS]
                          for eth, ips in server.members.items()}
        sg_agent.security_groups_member_updated(["sgB"])
    elif spec["scenario"] == "rule":
        server.rules["sgA"] = [r for i, r in enumerate(server.rules["sgA"])
                               if i not in REMOVED_RULES]
        sg_agent.security_groups_rule_updated(["sgA"])
    else:
        raise RuntimeError("scenario?")
    result["agent_ms"] = (time.perf_counter() - t0) * 1000
    finish(spec, shim, result, fw)


def finish(spec, shim, result, fw):
    if hasattr(fw.ipconntrack, "drain"):
        fw.ipconntrack.drain(30)
        result["stats"] = dict(fw.ipconntrack.stats)
        result["requests"] = list(fw.ipconntrack.recent)
    wait_neutron_idle(fw, shim)
    starts, ends, args = shim.runs()
    result["conntrack_runs"] = starts
    result["conntrack_args"] = args
    nlib.write_json(spec["out"], result)


if __name__ == "__main__":
    main()
