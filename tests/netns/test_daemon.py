#!/usr/bin/python3
"""ctflushd as a daemon: OVSDB port removals -> entries gone from the kernel.

Each scenario builds its own World (private ovsdb-server, network namespace,
daemon) and checks the kernel table with conntrack(8):

  kube-ovn      Interface external_ids:ip; del-port -> its entries are gone
                within 1 s, every other entry is intact; ports present at
                start are never flushed
  antrea        Port external_ids:ip-address
  ovn-zone      ct-zone-<iface-id> on the bridge: only that zone is flushed
  ipv6          a dual-stack port
  batch         50 ports deleted in one transaction -> one coalesced job
  replug        a port that comes back inside the window -> nothing flushed
  stale-on-add  a new port's IP loses the entries a previous owner left
  set-ips       IPs given through the control API (neutron) are flushed
  restart       daemon SIGKILLed, ports deleted, daemon started -> flushed
  ovsdb-restart ovsdb-server restarted under the daemon -> still flushed
  worker-kill   worker SIGKILLed mid-job -> retried and completed
  worker-hang   worker SIGSTOPped mid-job -> killed after the timeout, retried
  privileges    from /proc/PID/status: the parent holds its children's
                capabilities as permitted only, the worker CAP_NET_ADMIN only
                once probed (a restarted one probes again), the watcher none;
                an OVSDB socket owned by another user (root without
                CAP_DAC_OVERRIDE is refused) -> the watcher keeps exactly
                CAP_DAC_OVERRIDE, reconnects, and removals still flush

    test_daemon.py BUILD_DIR
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctfd_world import World, check, entries_for, run_tests, wait_for  # noqa: E402

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
# Sanitizer builds run several times slower; only the deadlines stretch.
SLOW = float(os.environ.get("CTFD_TIME_SCALE", "1"))
PEERS = ["10.9.0.%d" % j for j in range(1, 21)]


def gone_within(w, ips, seconds, zone=None):
    t0 = time.monotonic()
    wait_for(lambda: all(w.count(ip, zone) == 0 for ip in ips), seconds * SLOW,
             "entries of %s to go" % ",".join(ips))
    return time.monotonic() - t0


def finished_jobs(w):
    return w.jobs()["finished"]


def start_with_ports(w, ports):
    """[(name, ip)]: Kube-OVN style ports, PEERS entries for each IP, then
    the daemon."""
    for name, ip in ports:
        w.add_port(name, iface_ids={"ip": ip})
    w.fill(entries_for([ip for _, ip in ports], PEERS))
    w.start_daemon()


def t_kube_ovn():
    ips = ["10.0.1.%d" % i for i in range(1, 11)]
    others = ["10.8.0.1", "10.8.0.2"]
    with World(BUILD, "kovn") as w:
        for i, ip in enumerate(ips):
            w.add_port("tap%d" % i, iface_ids={"iface-id": "vm%d" % i, "ip": ip})
        w.fill(entries_for(ips, PEERS, per_pair=2) + entries_for(others, PEERS))
        w.start_daemon()
        check(w.total() == 440, "table filled: 400 port entries + 40 unrelated")
        time.sleep(0.5)
        check(w.count() == 440, "ports present at start are not flushed")
        st = w.ctl("status")
        with open("/proc/%d/status" % st["ovsdb"]["watcher_pid"]) as f:
            caps = {l.split(":")[0]: l.split()[1] for l in f if l.startswith("Cap")}
        check(int(caps["CapEff"], 16) == 0 and int(caps["CapPrm"], 16) == 0,
              "the OVSDB watcher holds no capability")
        check(st["ports"] == 11 and st["ovsdb_connected"],
              "status: 11 ports (10 VMs and br-int itself), OVSDB connected")

        w.del_ports(["tap0", "tap1", "tap2"])
        took = gone_within(w, ips[:3], 1.0)
        check(took <= 1.0 * SLOW, "deleted ports' entries gone in %.2f s (limit 1 s)" % took)
        ents = w.entries()
        check(all(w.count(ip, entries=ents) == 40 for ip in ips[3:]),
              "the other ports' entries are intact (40 each)")
        check(all(w.count(ip, entries=ents) == 20 for ip in others),
              "unrelated entries are intact")
        job = [j for j in finished_jobs(w) if j["origin"] == "port-remove"]
        check(len(job) == 1 and job[0]["state"] == "done" and job[0]["deleted"] == 120
              and sorted(job[0]["ports"]) == ["tap0", "tap1", "tap2"],
              "one port-remove job, 120 deleted, naming the 3 ports")
        check(w.ctl("status")["ports"] == 8, "the port table has 8 ports left")


def t_antrea():
    with World(BUILD, "antrea") as w:
        w.add_port("antrea-a", port_ids={"ip-address": "10.10.1.5"},
                   iface_ids={"iface-id": "pod-a"})
        w.add_port("antrea-b", port_ids={"ip-address": "10.10.1.6"})
        w.fill(entries_for(["10.10.1.5", "10.10.1.6"], PEERS))
        w.start_daemon()
        ports = {p["name"]: p for p in w.ctl("ports")["ports"]}
        check(ports["antrea-a"]["ips"] == ["10.10.1.5"] and ports["antrea-a"]["ip_source"] == "port",
              "Antrea's Port external_ids:ip-address read")
        w.del_ports(["antrea-a"])
        gone_within(w, ["10.10.1.5"], 1.0)
        check(w.count("10.10.1.6") == 20, "the other Antrea port is intact")


def t_ovn_zone():
    with World(BUILD, "ovn") as w:
        w.vsctl("br-set-external-id", "br-int", "ct-zone-lsp1", "5")
        w.vsctl("br-set-external-id", "br-int", "ct-zone-lsp2", "6")
        w.add_port("ovn-p1", iface_ids={"iface-id": "lsp1", "ip": "192.168.0.10"})
        w.add_port("ovn-p2", iface_ids={"iface-id": "lsp2", "ip": "192.168.0.10"})
        # The same IP in two zones: two logical switches with overlapping
        # subnets. Only zone 5 belongs to the deleted port.
        w.fill(entries_for(["192.168.0.10"], PEERS, zone=5)
               + entries_for(["192.168.0.10"], PEERS, zone=6))
        w.start_daemon()
        ports = {p["name"]: p for p in w.ctl("ports")["ports"]}
        check(ports["ovn-p1"]["zone"] == 5 and ports["ovn-p1"]["zone_source"] == "ovn",
              "OVN ct-zone-<iface-id> read from the bridge")
        w.del_ports(["ovn-p1"])
        gone_within(w, ["192.168.0.10"], 1.0, zone=5)
        check(w.count("192.168.0.10", zone=6) == 20, "zone 6 entries of the same IP intact")
        job = finished_jobs(w)[0]
        check(job["zone"] == 5, "the job was limited to zone 5")


def t_ipv6():
    with World(BUILD, "ipv6") as w:
        w.add_port("tap6", iface_ids={"ip": "10.0.6.6,fd00:6::6"})
        w.add_port("tap7", iface_ids={"ip": "fd00:6::7/64"})
        peers6 = ["fd00:9::%x" % j for j in range(1, 11)]
        w.fill(entries_for(["10.0.6.6"], PEERS) + entries_for(["fd00:6::6", "fd00:6::7"], peers6))
        w.start_daemon()
        w.del_ports(["tap6"])
        gone_within(w, ["10.0.6.6", "fd00:6::6"], 1.0)
        check(w.count("fd00:6::7") == 10, "the other IPv6 port (given as /64) is intact")


def t_batch():
    ips = ["10.0.%d.%d" % (20 + i // 200, 1 + i % 200) for i in range(60)]
    with World(BUILD, "batch") as w:
        cmd = []
        for i, ip in enumerate(ips):
            cmd += ["--", "add-port", "br-int", "b%d" % i, "--", "set", "Interface", "b%d" % i,
                    'external_ids:ip="%s"' % ip]
        w.vsctl(*cmd[1:])
        w.fill(entries_for(ips, PEERS[:5]))
        w.start_daemon()
        before = {j["id"] for j in finished_jobs(w)}
        w.del_ports(["b%d" % i for i in range(50)])
        gone_within(w, ips[:50], 2.0)
        new = [j for j in finished_jobs(w) if j["id"] not in before]
        check(len(new) == 1 and new[0]["n_ports"] == 50 and new[0]["local_count"] == 50,
              "50 ports deleted in one transaction -> one coalesced job of 50 ports")
        check(new[0]["deleted"] == 250, "it deleted their 250 entries")
        check(w.count() == 50, "the 10 remaining ports' entries are intact")


def t_replug():
    with World(BUILD, "replug", daemon_args=["--batch-window-ms", "1500"]) as w:
        w.add_port("tapr", iface_ids={"iface-id": "vm-r", "ip": "10.0.3.3"})
        w.fill(entries_for(["10.0.3.3"], PEERS))
        w.start_daemon()
        w.del_ports(["tapr"])
        w.add_port("tapr", iface_ids={"iface-id": "vm-r", "ip": "10.0.3.3"})
        time.sleep(2.5)
        st = w.wait_idle()
        check(w.count("10.0.3.3") == 20, "re-plugged port's sessions survive")
        check(st["replugs_cancelled"] == 1, "status counts one cancelled removal")
        check(not finished_jobs(w), "no job ran")
        # Re-plugged with a different IP: that is a different VM's address.
        w.del_ports(["tapr"])
        w.add_port("tapr", iface_ids={"iface-id": "vm-r", "ip": "10.0.3.4"})
        gone_within(w, ["10.0.3.3"], 3.0)
        check(w.count("10.0.3.3") == 0 and w.ctl("status")["replugs_cancelled"] == 1,
              "re-plug with another IP does not cancel the removal")


def t_stale_on_add():
    with World(BUILD, "stale") as w:
        w.fill(entries_for(["10.0.4.4"], PEERS) + entries_for(["10.0.4.5"], PEERS))
        w.start_daemon()
        w.add_port("tapn", iface_ids={"iface-id": "new-vm", "ip": "10.0.4.4"})
        gone_within(w, ["10.0.4.4"], 1.0)
        check(w.count("10.0.4.5") == 20, "only the new port's IP was flushed")
        job = finished_jobs(w)[0]
        check(job["origin"] == "port-add", "by a port-add job")


def t_set_ips():
    with World(BUILD, "setips") as w:
        # neutron keeps no IPs in OVSDB: the agent tells us.
        w.add_port("qvo1", iface_ids={"iface-id": "neutron-port-1"})
        w.fill(entries_for(["10.0.5.5"], PEERS) + entries_for(["10.0.5.6"], PEERS))
        w.start_daemon()
        w.ctl("set-ips", "qvo1", "10.0.5.5")
        ports = {p["name"]: p for p in w.ctl("ports")["ports"]}
        check(ports["qvo1"]["ips"] == ["10.0.5.5"] and ports["qvo1"]["ip_source"] == "control",
              "set-ips shows in ports")
        w.stop_daemon()
        w.start_daemon()
        ports = {p["name"]: p for p in w.ctl("ports")["ports"]}
        check(ports["qvo1"]["ips"] == ["10.0.5.5"], "set-ips survives a restart")
        w.del_ports(["qvo1"])
        gone_within(w, ["10.0.5.5"], 1.0)
        check(w.count("10.0.5.6") == 20, "other entries intact")


def t_restart():
    ips = ["10.0.8.%d" % i for i in range(1, 6)]
    with World(BUILD, "restart") as w:
        start_with_ports(w, [("tapk%d" % i, ip) for i, ip in enumerate(ips)])
        # The port table is saved within ~100 ms of the first snapshot.
        wait_for(lambda: w.ctl("status")["state"]["writes"] > 0, 5 * SLOW, "a state save")
        w.stop_daemon(signal.SIGKILL)
        w.del_ports(["tapk0", "tapk1"])
        time.sleep(0.3)
        check(w.count() == 100, "nothing flushed while the daemon is down")
        w.start_daemon()
        gone_within(w, ips[:2], 2.0)
        check(all(w.count(ip) == 20 for ip in ips[2:]), "present ports untouched after restart")
        rc = w.stop_daemon(signal.SIGTERM)
        check(rc == 0, "SIGTERM: clean exit 0")


def t_ovsdb_restart():
    with World(BUILD, "ovsrst") as w:
        start_with_ports(w, [("tapo1", "10.0.9.1"), ("tapo2", "10.0.9.2")])
        w.stop_ovsdb()
        wait_for(lambda: not w.ctl("status")["ovsdb_connected"], 10 * SLOW,
                 "status to show OVSDB disconnected")
        check(not w.ctl("status")["ovsdb_connected"], "status shows OVSDB disconnected")
        w.start_ovsdb()
        wait_for(lambda: w.ctl("status")["ovsdb_connected"], 20 * SLOW, "reconnect")
        time.sleep(0.5)
        check(w.count() == 40, "a reconnect flushes nothing by itself")
        w.del_ports(["tapo1"])
        gone_within(w, ["10.0.9.1"], 1.0)
        check(w.count("10.0.9.2") == 20, "the other port is intact")


def slow_world(name, extra):
    w = World(BUILD, name, daemon_args=["--max-delete-rate", "8000",
                                        "--retry-base-ms", "200"] + extra)
    w.add_port("tapslow", iface_ids={"ip": "10.0.11.1"})
    peers = ["10.9.%d.%d" % (a, b) for a in range(1, 101) for b in range(1, 201)]
    w.fill(entries_for(["10.0.11.1"], peers))      # 20000 entries: ~2.5 s at the cap
    w.fill(entries_for(["10.0.11.2"], peers[:100]))
    w.start_daemon()
    return w


def running_job(w):
    st = w.ctl("status")
    r = st["running"]
    return st if r and r["deleted"] > 0 else None


def t_worker_kill():
    with slow_world("wkill", []) as w:
        w.del_ports(["tapslow"])
        st = wait_for(lambda: running_job(w), 10 * SLOW, "the job to be running")
        os.kill(st["worker"]["pid"], signal.SIGKILL)
        gone_within(w, ["10.0.11.1"], 30)
        job = finished_jobs(w)[0]
        st = w.ctl("status")
        check(job["state"] == "done" and job["attempts"] >= 2,
              "the job was retried and completed (attempts %d)" % job["attempts"])
        check(st["worker"]["crashes"] >= 1 and st["worker"]["pid"] > 0,
              "status counts the crash and a new worker runs")
        check(w.count("10.0.11.2") == 100, "other entries intact")


def t_worker_hang():
    with slow_world("whang", ["--worker-timeout-ms", "1500"]) as w:
        w.del_ports(["tapslow"])
        st = wait_for(lambda: running_job(w), 10 * SLOW, "the job to be running")
        os.kill(st["worker"]["pid"], signal.SIGSTOP)
        gone_within(w, ["10.0.11.1"], 30)
        job = finished_jobs(w)[0]
        check(job["state"] == "done" and job["attempts"] >= 2, "the hung job was retried")
        check(w.ctl("status")["worker"]["hangs"] >= 1, "status counts the hang")


CAP_DAC_OVERRIDE, CAP_NET_ADMIN, CAP_SYS_ADMIN = 1, 12, 21


def proc_caps(pid):
    """(CapEff, CapPrm, NoNewPrivs) of a process, as ints."""
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, val = line.partition(":")
            fields[key] = val.strip()
    return (int(fields["CapEff"], 16), int(fields["CapPrm"], 16), int(fields["NoNewPrivs"]))


def bits(*caps):
    return sum(1 << c for c in caps)


def t_privileges():
    with World(BUILD, "privs") as w:
        start_with_ports(w, [("tap0", "10.0.20.1"), ("tap1", "10.0.20.2")])
        st = w.ctl("status")
        parent, worker, watcher = st["pid"], st["worker"]["pid"], st["ovsdb"]["watcher_pid"]
        child_caps = bits(CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_DAC_OVERRIDE)
        check(proc_caps(parent) == (0, child_caps, 1),
              "parent: nothing effective, its children's three permitted, no_new_privs "
              "(CapEff/CapPrm/NoNewPrivs %r)" % (proc_caps(parent),))
        check(proc_caps(worker) == (bits(CAP_NET_ADMIN), bits(CAP_NET_ADMIN), 1),
              "probed worker: CAP_NET_ADMIN only (%r)" % (proc_caps(worker),))
        check(proc_caps(watcher) == (0, 0, 1),
              "watcher on root's socket: no capability (%r)" % (proc_caps(watcher),))

        # A new worker comes from the parent's permitted set and probes again.
        os.kill(worker, signal.SIGKILL)
        st = wait_for(lambda: (lambda s: s["worker"]["pid"] not in (0, worker)
                               and s["worker"]["state"] == "idle" and s)(w.ctl("status")),
                      30 * SLOW, "a new, probed worker")
        check("zone-flush=yes" in (st["worker"]["caps"] or ""),
              "the new worker proved kernel features again: %s" % st["worker"]["caps"])
        check(proc_caps(st["worker"]["pid"]) == (bits(CAP_NET_ADMIN), bits(CAP_NET_ADMIN), 1),
              "the new worker holds CAP_NET_ADMIN only")

        # ovsdb-server's socket as another user's (the openvswitch user on
        # Fedora/RHEL): root needs CAP_DAC_OVERRIDE to connect.
        os.chown(w.db_sock, 65534, 65534)
        os.chmod(w.db_sock, 0o750)
        r = subprocess.run(["setpriv", "--bounding-set=-dac_override", "--",
                            "ovsdb-client", "--timeout=5", "list-dbs", "unix:" + w.db_sock],
                           capture_output=True, text=True)
        check(r.returncode != 0 and "denied" in r.stderr,
              "root without CAP_DAC_OVERRIDE cannot connect: %s" % r.stderr.strip())
        os.kill(watcher, signal.SIGKILL)
        # "synced" means synced once, ever: "connected" is the new watcher's
        # own word, sent after it has set its capabilities.
        st = wait_for(lambda: (lambda s: s["ovsdb"]["watcher_pid"] not in (0, watcher)
                               and s["ovsdb"]["connected"] and s)(w.ctl("status")),
                      30 * SLOW, "a new watcher, connected")
        watcher = st["ovsdb"]["watcher_pid"]
        check(proc_caps(watcher) == (bits(CAP_DAC_OVERRIDE), bits(CAP_DAC_OVERRIDE), 1),
              "watcher on another user's socket: CAP_DAC_OVERRIDE only (%r)"
              % (proc_caps(watcher),))
        check("is another user's: keeping CAP_DAC_OVERRIDE" in w.log_text(),
              "the log says why it kept it")
        w.del_ports(["tap0"])
        gone_within(w, ["10.0.20.1"], 10)
        check(w.count("10.0.20.2") == len(PEERS), "the other port's entries are intact")


TESTS = [
    ("kube-ovn", t_kube_ovn),
    ("antrea", t_antrea),
    ("ovn-zone", t_ovn_zone),
    ("ipv6", t_ipv6),
    ("batch", t_batch),
    ("replug", t_replug),
    ("stale-on-add", t_stale_on_add),
    ("set-ips", t_set_ips),
    ("restart", t_restart),
    ("ovsdb-restart", t_ovsdb_restart),
    ("worker-kill", t_worker_kill),
    ("worker-hang", t_worker_hang),
    ("privileges", t_privileges),
]

if __name__ == "__main__":
    run_tests(TESTS)
