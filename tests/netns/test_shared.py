#!/usr/bin/python3
"""Addresses that live ports share (VIPs, allowed-address pairs) are never
flushed while a live port holds them in that zone.

Each scenario builds its own World (private ovsdb-server, network namespace,
daemon) with Kube-OVN style ports (Interface external_ids:ip) and checks the
kernel table with conntrack(8):

  removal        a and b share a VIP; a leaves: a's own address is flushed,
                 the VIP is kept (b serves it), the job says what it held
                 back and why; then b leaves: the VIP goes
  add            c arrives with b's VIP: b's live VIP entries are kept; d
                 arrives with an address nobody holds: its stale entries go
  lose           a gives up the shared VIP (still alive): kept for b
  zones          the same address in two zones is two hosts: flushed; a
                 zoneless holder protects the address in every zone: kept
  both           a and b leave in one transaction: the VIP goes, in one job
  move           the VIP leaves a and lands on c inside one batch window:
                 not flushed, and the history says it moved
  restart        the daemon is down while a leaves: on restart the state
                 file knows b holds the VIP: kept
  resync         the watcher misses b's removal (it is killed): the snapshot
                 after its restart shows b gone, which counts as b's removal
                 and nothing else

    test_shared.py BUILD_DIR
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctfd_world import World, check, entries_for, run_tests, wait_for  # noqa: E402

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
SLOW = float(os.environ.get("CTFD_TIME_SCALE", "1"))
PEERS = ["10.9.0.%d" % j for j in range(1, 11)]
VIP = "10.1.0.100"


def port(w, name, ips, zone=None):
    """A Kube-OVN style port; zone through OVN's ct-zone-<iface-id>."""
    if zone is not None:
        w.vsctl("br-set-external-id", "br-int", "ct-zone-" + name, str(zone))
    w.add_port(name, iface_ids={"iface-id": name, "ip": ",".join(ips)})


def gone(w, ip, zone=None):
    wait_for(lambda: w.count(ip, zone) == 0, 3 * SLOW, "entries of %s to go" % ip)


def settle(w):
    """The batch window closed and every job ran."""
    time.sleep(0.4 * SLOW)
    w.wait_idle()


def jobs(w, origin):
    return [j for j in w.jobs()["finished"] + w.jobs()["queued"] if j["origin"] == origin]


def held(job):
    return {(h["ip"], h["reason"], h["port"]) for h in job["held"]}


def t_removal():
    with World(BUILD, "shrm") as w:
        port(w, "a", ["10.1.0.1", VIP])
        port(w, "b", ["10.1.0.2", VIP])
        w.fill(entries_for(["10.1.0.1", "10.1.0.2", VIP], PEERS))
        w.start_daemon()
        ports = {p["name"]: p for p in w.ctl("ports")["ports"]}
        check(ports["a"]["shared"] == [VIP] and ports["b"]["shared"] == [VIP],
              "ports shows the VIP as shared on both")
        w.del_ports(["a"])
        gone(w, "10.1.0.1")
        settle(w)
        check(w.count(VIP) == 10, "the VIP b still serves is kept (10 entries)")
        check(w.count("10.1.0.2") == 10, "b's own address is untouched")
        job = jobs(w, "port-remove")
        check(len(job) == 1 and job[0]["deleted"] == 10
              and held(job[0]) == {(VIP, "live-port", "b")},
              "one removal job: 10 deleted, the VIP held back for live port b")
        check(w.ctl("status")["addresses_held_back"] == 1, "status counts one held-back address")
        w.del_ports(["b"])
        gone(w, VIP)
        gone(w, "10.1.0.2")
        check(w.total() == 0, "the last holder gone: the VIP is flushed with it")


def t_add():
    with World(BUILD, "shadd") as w:
        port(w, "b", ["10.1.0.2", VIP])
        w.fill(entries_for([VIP, "10.1.0.3", "10.1.0.4"], PEERS))
        w.start_daemon()
        port(w, "c", ["10.1.0.3", VIP])
        gone(w, "10.1.0.3")
        settle(w)
        check(w.count(VIP) == 10, "flush-on-add keeps the VIP b serves")
        job = jobs(w, "port-add")
        check(len(job) == 1 and held(job[0]) == {(VIP, "live-port", "b")},
              "the add job says the VIP was held for b")
        port(w, "d", ["10.1.0.4"])
        gone(w, "10.1.0.4")
        check(w.count(VIP) == 10, "an address nobody holds loses its stale entries; the VIP stays")


def t_lose():
    with World(BUILD, "shlose") as w:
        port(w, "a", ["10.1.0.1", VIP])
        port(w, "b", ["10.1.0.2", VIP])
        w.fill(entries_for(["10.1.0.1", VIP], PEERS))
        w.start_daemon()
        w.vsctl("set", "Interface", "a", 'external_ids:ip="10.1.0.1"')
        settle(w)
        check(w.count(VIP) == 10 and w.count("10.1.0.1") == 10,
              "a gave the VIP up: kept for b, a's own address untouched")
        job = [j for j in w.jobs()["finished"] if j["state"] == "held"]
        check(len(job) == 1 and job[0]["ports"] == ["a"]
              and held(job[0]) == {(VIP, "live-port", "b")},
              "the history has a 'held' entry: nothing to flush, the VIP held for b")


def t_zones():
    with World(BUILD, "shzone") as w:
        port(w, "a", ["10.0.0.5"], zone=5)
        port(w, "b", ["10.0.0.5"], zone=6)
        port(w, "c", ["10.0.0.9"], zone=5)
        port(w, "z", ["10.0.0.9"])                      # No zone: holds it everywhere.
        w.fill(entries_for(["10.0.0.5"], PEERS, zone=5) + entries_for(["10.0.0.5"], PEERS, zone=6)
               + entries_for(["10.0.0.9"], PEERS, zone=5))
        w.start_daemon()
        w.del_ports(["a", "c"])
        gone(w, "10.0.0.5", zone=5)
        settle(w)
        check(w.count("10.0.0.5", zone=6) == 10,
              "the same address in another zone is another host's: zone 6 intact")
        check(w.count("10.0.0.9", zone=5) == 10, "a zoneless holder keeps the address in zone 5")


def t_both():
    with World(BUILD, "shboth") as w:
        port(w, "a", ["10.1.0.1", VIP])
        port(w, "b", ["10.1.0.2", VIP])
        w.fill(entries_for(["10.1.0.1", "10.1.0.2", VIP], PEERS))
        w.start_daemon()
        w.del_ports(["a", "b"])
        for ip in ("10.1.0.1", "10.1.0.2", VIP):
            gone(w, ip)
        settle(w)
        job = jobs(w, "port-remove")
        check(len(job) == 1 and job[0]["deleted"] == 30 and job[0]["held"] == []
              and job[0]["local"].count(VIP) == 1,
              "one job flushed both ports and the VIP once (30 deleted, nothing held)")


def t_move():
    with World(BUILD, "shmove", daemon_args=["--batch-window-ms", "1000"]) as w:
        port(w, "a", ["10.1.0.1", VIP])
        w.fill(entries_for(["10.1.0.1", "10.1.0.3", VIP], PEERS))
        w.start_daemon()
        w.del_ports(["a"])
        port(w, "c", ["10.1.0.3", VIP])
        gone(w, "10.1.0.1")
        gone(w, "10.1.0.3")
        settle(w)
        check(w.count(VIP) == 10, "the VIP moved from a to c in one window: not flushed")
        rm, add = jobs(w, "port-remove"), jobs(w, "port-add")
        check(len(rm) == 1 and held(rm[0]) == {(VIP, "live-port", "c")}
              and len(add) == 1 and held(add[0]) == {(VIP, "moved", "a")},
              "the removal says c holds it, the add says it moved from a")


def t_restart():
    with World(BUILD, "shrst") as w:
        port(w, "a", ["10.1.0.1", VIP])
        port(w, "b", ["10.1.0.2", VIP])
        w.fill(entries_for(["10.1.0.1", VIP], PEERS))
        w.start_daemon()
        wait_for(lambda: w.ctl("status")["state"]["writes"] > 0, 5 * SLOW, "a state save")
        w.stop_daemon(signal.SIGKILL)
        w.del_ports(["a"])
        w.start_daemon()
        gone(w, "10.1.0.1")
        settle(w)
        check(w.count(VIP) == 10, "after a restart the state file still knows b holds the VIP")


def t_resync():
    with World(BUILD, "shsync") as w:
        port(w, "a", ["10.1.0.1", VIP])
        port(w, "b", ["10.1.0.2", VIP])
        port(w, "e", ["10.1.0.5"])
        w.fill(entries_for(["10.1.0.1", "10.1.0.2", "10.1.0.5", VIP], PEERS))
        w.start_daemon()
        watcher = w.ctl("status")["ovsdb"]["watcher_pid"]
        os.kill(watcher, signal.SIGSTOP)                # It misses what follows.
        w.del_ports(["b"])
        os.kill(watcher, signal.SIGKILL)
        wait_for(lambda: w.ctl("status")["ovsdb"]["watcher_pid"] not in (0, watcher),
                 10 * SLOW, "a new watcher")
        gone(w, "10.1.0.2")
        settle(w)
        check(w.count(VIP) == 10, "b's removal, seen in the snapshot: the VIP a holds is kept")
        check(w.count("10.1.0.1") == 10 and w.count("10.1.0.5") == 10,
              "the snapshot removed b and nothing else")
        w.del_ports(["a"])
        gone(w, VIP)


TESTS = [
    ("removal", t_removal),
    ("add", t_add),
    ("lose", t_lose),
    ("zones", t_zones),
    ("both", t_both),
    ("move", t_move),
    ("restart", t_restart),
    ("resync", t_resync),
]

if __name__ == "__main__":
    run_tests(TESTS)
