#!/usr/bin/python3
"""ctflushd against a real ovs-vswitchd's own conntrack table (a bridge with
datapath_type=netdev: what OVS-DPDK hosts run), no kernel module needed.

One world for every scenario: the private ovsdb-server of ctfd_world, and
ovs-vswitchd (OVS_RUNDIR in the World's temp dir) in a network namespace of
its own with bridge br0 (netdev). Three more namespaces are two "VMs" and a
peer, each on a veth pair whose other end is a port of br0 (tx checksum
offload off on both ends: the userspace conntrack would take every packet
for invalid). OpenFlow sends each VM's IP traffic through ct() in the VM's
zone (vm1: 1, vm2: 2). The ports carry external_ids:ip (Kube-OVN style) and
ctfd-zone (--zone-key). Live TCP connections both ways between each VM and
the peer (IPv4 and IPv6) fill `dpctl/dump-conntrack`, which the checks read
with ovs-appctl, not with ctflushd's code.

  start       nothing is flushed at start-up: the table is as it was
  remove      vm1's port leaves br0: its entries (v4 and v6, both
              directions) leave ovs-vswitchd's table; vm2's stay; the job
              says netdev and ovs-partial-flush; ports say netdev
  peers       a manual job for vm2 x one peer address, on the netdev
              datapath: only vm2's entries with that peer go
  restart     ovs-vswitchd is killed; vm2's port is deleted while it is
              down, for longer than ovs-timeout-ms (1.5 s): the job's
              attempts wait, fail retryably and are retried; ovs-vswitchd
              comes back: the job completes (and vm2's entries, which the
              restart dropped with the process, stay gone)
  kernel      a port on a kernel bridge (br-int) still goes to the worker:
              its entries leave the kernel table of the daemon's namespace

    test_userdp.py BUILD_DIR
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctfd_world import (World, Failure, check, entries_for, run_tests, skip,  # noqa: E402
                        wait_for, _kill_wait)

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
SLOW = float(os.environ.get("CTFD_TIME_SCALE", "1"))

PEER4, PEER4B, PEER6 = "10.20.0.9", "10.20.0.10", "fd20::9"
VMS = {   # name: (IPv4, IPv6, zone)
    "vm1": ("10.20.0.1", "fd20::1", 1),
    "vm2": ("10.20.0.2", "fd20::2", 2),
}
PORT = 5001

# Holds TCP connections open: "serve FAMILY ADDR" accepts and keeps every
# connection; "connect ADDR..." opens one to each and keeps them all.
HOLDER = r"""
import socket, sys, time
mode = sys.argv[1]
keep = []
if mode == "serve":
    for a in sys.argv[2:]:
        fam = socket.AF_INET6 if ":" in a else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a, %d))
        s.listen(64)
        s.setblocking(False)
        keep.append(s)
    print("listening", flush=True)
    while True:
        for s in list(keep):
            if s.type == socket.SOCK_STREAM and s.getsockopt(socket.SOL_SOCKET,
                                                            socket.SO_ACCEPTCONN):
                try:
                    c, _ = s.accept()
                    keep.append(c)
                except BlockingIOError:
                    pass
        time.sleep(0.05)
else:
    for a in sys.argv[2:]:
        fam = socket.AF_INET6 if ":" in a else socket.AF_INET
        c = socket.create_connection((a, %d), timeout=5)
        keep.append(c)
    print("connected", flush=True)
    while True:
        time.sleep(1)
""" % (PORT, PORT)

_ORIG = re.compile(r"orig=\(src=([^,]+),dst=([^,]+),")
_ZONE = re.compile(r",zone=(\d+)")


class SwitchWorld(World):
    """A World plus ovs-vswitchd, its netdev bridge, and the namespaces
    behind its ports; close() stops them all (then the World's part)."""

    def __init__(self, build):
        super().__init__(build, "udp", daemon_args=[
            "--zone-key", "ctfd-zone", "--batch-window-ms", "100",
            "--retry-base-ms", "300", "--max-attempts", "20",
            "--ovs-timeout-ms", str(int(1500 * SLOW))])
        self.sw_ns = ("ctfs%d" % os.getpid())[:15]
        self.namespaces = [self.sw_ns]
        self.helpers = []
        self.vswitchd_pid = None
        self.holder = os.path.join(self.tmp, "holder.py")
        with open(self.holder, "w") as f:
            f.write(HOLDER)
        subprocess.run(["ip", "netns", "add", self.sw_ns], check=True)
        subprocess.run(["ip", "netns", "exec", self.sw_ns, "ip", "link", "set", "lo", "up"],
                       check=True)
        self.start_vswitchd()
        self.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev")
        wait_for(lambda: self.appctl("dpctl/dump-dps", check_rc=False).strip(), 10 * SLOW,
                 "ovs-vswitchd's netdev datapath")

    def start_vswitchd(self):
        pidfile = os.path.join(self.tmp, "ovs-vswitchd.pid")
        subprocess.run(["ip", "netns", "exec", self.sw_ns, "ovs-vswitchd",
                        "unix:" + self.db_sock, "--pidfile=" + pidfile, "--detach",
                        "--no-chdir", "-vconsole:off",
                        "--log-file=" + os.path.join(self.tmp, "vswitchd.log")],
                       check=True, env=self.env)
        with open(pidfile) as f:
            self.vswitchd_pid = int(f.read().strip())

    def kill_vswitchd(self):
        if self.vswitchd_pid:
            _kill_wait(self.vswitchd_pid, signal.SIGKILL)
            self.vswitchd_pid = None

    def appctl(self, *args, check_rc=True):
        r = subprocess.run(["ovs-appctl", "--timeout=10", "-t", "ovs-vswitchd"] + list(args),
                           env=self.env, capture_output=True, text=True)
        if check_rc and r.returncode:
            raise Failure("ovs-appctl %s: %s" % (" ".join(args), r.stderr.strip()))
        return r.stdout

    def ofctl(self, *args):
        r = subprocess.run(["ovs-ofctl"] + list(args), env=self.env, capture_output=True,
                           text=True)
        if r.returncode:
            raise Failure("ovs-ofctl %s: %s" % (" ".join(args), r.stderr.strip()))

    def ns_run(self, ns, *cmd):
        subprocess.run(["ip", "netns", "exec", ns] + list(cmd), check=True,
                       stdout=subprocess.DEVNULL)

    def add_host(self, name, v4, v6, ids):
        """Namespace NAME behind port NAME of br0."""
        ns = ("ctfh%d%s" % (os.getpid(), name))[:15]
        self.namespaces.append(ns)
        subprocess.run(["ip", "netns", "add", ns], check=True)
        self.ns_run(ns, "ip", "link", "set", "lo", "up")
        inner = name + "i"
        subprocess.run(["ip", "link", "add", name, "netns", self.sw_ns, "type", "veth",
                        "peer", "name", inner, "netns", ns], check=True)
        self.ns_run(ns, "ip", "addr", "add", v4 + "/24", "dev", inner)
        self.ns_run(ns, "ip", "addr", "add", v6 + "/64", "dev", inner, "nodad")
        self.ns_run(ns, "ip", "link", "set", inner, "up")
        self.ns_run(self.sw_ns, "ip", "link", "set", name, "up")
        for where, dev in ((ns, inner), (self.sw_ns, name)):
            self.ns_run(where, "ethtool", "-K", dev, "tx", "off")
        cmd = ["add-port", "br0", name]
        if ids:
            cmd += ["--", "set", "Interface", name]
        for k, v in ids.items():
            cmd.append('external_ids:%s="%s"' % (k, v))
        self.vsctl(*cmd)
        return ns

    def helper(self, ns, *args):
        p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, self.holder]
                             + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        self.helpers.append(p)
        line = p.stdout.readline().strip()
        if line not in ("listening", "connected"):
            raise Failure("helper %s in %s: %s %s" % (args, ns, line, p.stderr.read()))
        return p

    def ct_entries(self):
        """ovs-vswitchd's table: [(orig src, orig dst, zone)], strictly read."""
        out = []
        for line in self.appctl("dpctl/dump-conntrack").splitlines():
            if not line.strip():
                continue
            m, z = _ORIG.search(line), _ZONE.search(line)
            if not m:
                raise Failure("unparsed dump-conntrack line: %r" % line)
            out.append((m.group(1), m.group(2), int(z.group(1)) if z else 0))
        return out

    def ct_count(self, ip, peer=None, entries=None):
        n = 0
        for s, d, _ in (entries if entries is not None else self.ct_entries()):
            if ip in (s, d) and (peer is None or peer in (s, d)):
                n += 1
        return n

    def close(self):
        for p in self.helpers:
            if p.poll() is None:
                p.kill()
            p.wait()
            p.stdout.close()
            p.stderr.close()
        self.helpers = []
        self.kill_vswitchd()
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        self.namespaces = []
        super().close()


W = None


def world():
    global W
    if W is None:
        for tool in ("ovs-vswitchd", "ovs-appctl", "ovs-ofctl", "ethtool"):
            if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
                skip(tool + " is not installed")
        W = SwitchWorld(BUILD)
    return W


def test_start():
    w = world()
    flows = ["table=0,priority=300,arp,actions=NORMAL",
             "table=0,priority=300,icmp6,icmp_type=135,actions=NORMAL",
             "table=0,priority=300,icmp6,icmp_type=136,actions=NORMAL"]
    for name, (v4, v6, zone) in VMS.items():
        for m in ("ip,nw_src=" + v4, "ip,nw_dst=" + v4, "ipv6,ipv6_src=" + v6,
                  "ipv6,ipv6_dst=" + v6):
            flows.append("table=0,priority=100,%s,actions=ct(table=1,zone=%d)" % (m, zone))
        for l3 in ("ip", "ipv6"):
            flows.append("table=1,priority=100,%s,ct_zone=%d,actions=ct(commit,zone=%d),NORMAL"
                         % (l3, zone, zone))
    flows.append("table=0,priority=0,actions=NORMAL")
    with open(os.path.join(w.tmp, "flows.txt"), "w") as f:
        f.write("\n".join(flows) + "\n")
    w.ofctl("add-flows", "br0", os.path.join(w.tmp, "flows.txt"))

    peer_ns = w.add_host("peer", PEER4, PEER6, {})
    w.ns_run(peer_ns, "ip", "addr", "add", PEER4B + "/24", "dev", "peeri")
    w.helper(peer_ns, "serve", PEER4, PEER4B, PEER6)
    vm_ns = {}
    for name, (v4, v6, zone) in VMS.items():
        vm_ns[name] = w.add_host(name, v4, v6, {"ip": "%s,%s" % (v4, v6),
                                                "ctfd-zone": str(zone)})
        w.helper(vm_ns[name], "serve", v4, v6)
    for name, (v4, v6, zone) in VMS.items():
        w.helper(vm_ns[name], "connect", PEER4, PEER4B, PEER6)   # egress
        w.helper(peer_ns, "connect", v4, v6)                     # ingress
    before = w.ct_entries()
    for name, (v4, v6, zone) in VMS.items():
        check(w.ct_count(v4, entries=before) == 3 and w.ct_count(v6, entries=before) == 2,
              "%s: live TCP both ways fills ovs-vswitchd's table (%d v4, %d v6, zone %d)"
              % (name, w.ct_count(v4, entries=before), w.ct_count(v6, entries=before), zone))
        check(all(z == zone for s, d, z in before if v4 in (s, d) or v6 in (s, d)),
              "%s's entries are in its zone %d" % (name, zone))

    w.start_daemon(extra=["--ovs-rundir", w.tmp])
    st = wait_for(lambda: (lambda s: s if s["userdp"]["state"] == "idle" else None)(
        w.ctl("status")), 20 * SLOW, "the userdp child to be ready")
    check("partial-tuple flush" in st["userdp"]["caps"] and "3." in st["userdp"]["caps"],
          "the userdp child probed ovs-vswitchd: %s" % st["userdp"]["caps"])
    ports = {p["name"]: p for p in w.ctl("ports")["ports"]}
    check(all(ports[n]["datapath"] == "netdev" for n in ("vm1", "vm2", "peer")),
          "ports of br0 are on the netdev datapath")
    time.sleep(0.5 * SLOW)
    w.wait_idle()
    check(sorted(w.ct_entries()) == sorted(before), "nothing was flushed at start-up")
    check(not w.jobs()["finished"], "no job ran at start-up")


def test_remove():
    w = world()
    v4, v6, zone = VMS["vm1"]
    o4, o6, _ = VMS["vm2"]
    others = w.ct_count(o4) + w.ct_count(o6)
    w.vsctl("del-port", "br0", "vm1")
    wait_for(lambda: w.ct_count(v4) + w.ct_count(v6) == 0, 10 * SLOW,
             "vm1's entries to leave ovs-vswitchd's table")
    check(True, "vm1's entries (IPv4 and IPv6, both directions) left dpctl/dump-conntrack")
    w.wait_idle()
    check(w.ct_count(o4) + w.ct_count(o6) == others,
          "vm2's %d entries stayed" % others)
    done = [j for j in w.jobs()["finished"] if j["origin"] == "port-remove"]
    check(len(done) == 1 and done[0]["state"] == "done" and done[0]["datapath"] == "netdev"
          and done[0]["zone"] == zone and done[0]["strategy"] == "ovs-partial-flush",
          "one port-remove job, done on the netdev datapath in zone %d: %s"
          % (zone, [(j["state"], j["datapath"], j["strategy"], j["error"]) for j in done]))
    check(done[0]["deleted"] >= 5, "it counts what left the table (%d)" % done[0]["deleted"])


def test_peers():
    w = world()
    v4, v6, zone = VMS["vm2"]
    check(w.ct_count(v4, PEER4) == 2 and w.ct_count(v4, PEER4B) == 1,
          "vm2 has entries with both peer addresses")
    jid = w.ctl("flush", "--local", v4, "--peers", PEER4, "--zone", str(zone),
                "--datapath", "netdev")["jobs"][0]
    w.wait_idle()
    job = [j for j in w.jobs()["finished"] if j["id"] == jid][0]
    check(job["state"] == "done" and job["datapath"] == "netdev",
          "the manual job ran on the netdev datapath: %s %s" % (job["state"], job["error"]))
    check(w.ct_count(v4, PEER4) == 0, "vm2 x %s is gone" % PEER4)
    check(w.ct_count(v4, PEER4B) == 1 and w.ct_count(v6) == 2,
          "vm2 x %s and vm2's IPv6 entries stayed" % PEER4B)


def test_restart():
    w = world()
    v4, v6, zone = VMS["vm2"]
    w.kill_vswitchd()
    w.vsctl("del-port", "br0", "vm2")
    # The job waits for ovs-vswitchd (or fails its attempt and is retried).
    wait_for(lambda: w.jobs()["running"] or [j for j in w.jobs()["queued"]
                                             if j["origin"] == "port-remove"],
             5 * SLOW, "vm2's removal job to be owed")
    time.sleep(4 * SLOW)
    st = w.ctl("status")
    check(st["running_jobs"] + st["queue_depth"] >= 1 and st["jobs_failed"] == 0,
          "while ovs-vswitchd is down the job is owed, not failed")
    w.start_vswitchd()
    job = wait_for(lambda: [j for j in w.jobs()["finished"] if j["origin"] == "port-remove"
                            and j["zone"] == zone], 30 * SLOW,
                   "the job to finish once ovs-vswitchd is back")[0]
    check(job["state"] == "done" and job["datapath"] == "netdev" and job["attempts"] >= 2,
          "it completed after ovs-vswitchd returned, retried (%s, %d attempt(s))"
          % (job["state"], job["attempts"]))
    check(w.ctl("status")["jobs_failed"] == 0, "no job failed for good")
    check(w.ct_count(v4) + w.ct_count(v6) == 0, "no entry of vm2 is in the table")


def test_kernel():
    w = world()
    ip = "10.30.0.5"
    w.add_port("kvm", iface_ids={"ip": ip})
    wait_for(lambda: [p for p in w.ctl("ports")["ports"] if p["name"] == "kvm"], 5 * SLOW,
             "the daemon to see port kvm")
    time.sleep(0.5 * SLOW)
    w.wait_idle()   # Its flush-on-add ran before the table is filled.
    kvm = [p for p in w.ctl("ports")["ports"] if p["name"] == "kvm"][0]
    check(kvm["datapath"] == "kernel", "a port of br-int is on the kernel datapath")
    w.fill(entries_for([ip], ["10.30.0.9"], per_pair=20))
    n = w.count(ip)
    check(n == 20, "the kernel table of the daemon's namespace has its 20 entries")
    w.del_ports(["kvm"])
    wait_for(lambda: w.count(ip) == 0, 10 * SLOW, "its kernel entries to go")
    w.wait_idle()
    job = [j for j in w.jobs()["finished"] if j["origin"] == "port-remove"
           and "kvm" in j["ports"]][0]
    check(job["datapath"] == "kernel" and job["state"] == "done",
          "the worker ran it (%s, %s)" % (job["datapath"], job["strategy"]))


if __name__ == "__main__":
    try:
        run_tests([("start", test_start), ("remove", test_remove), ("peers", test_peers),
                   ("restart", test_restart), ("kernel", test_kernel)])
    finally:
        if W is not None:
            try:
                W.close()
            except Failure as e:
                print("FAIL at close: %s" % e, file=sys.stderr)
                sys.exit(1)
