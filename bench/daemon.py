#!/usr/bin/env python3
"""The daemon's benchmarks for bench/run.sh: port removals through OVSDB.

    sudo python3 bench/daemon.py BUILD_DIR zones|storm [--quick] [--out FILE]

Each runs against a private world (tests/netns/ctfd_world.py: its own
ovsdb-server, a network namespace, ctflushd in it), so the host's OVSDB and
conntrack table are never touched. Times are measured in the run against
W, the daemon's own cost of one pass over the same table: a flush of
prefixes no entry has (10.99.99.0/24 and fd00:99::/64, which no kernel
filter can take, so it is one whole dump), median of three.

zones  20 OVN ports, each in its own zone (ct-zone-<iface-id> on br-int, as
       ovn-controller keeps them), 500 entries each, beside a 200k table
       (bench/run.sh's small table); all 20 removed in one transaction.
       Reports the time from the transaction to the last job's end (its last
       delete), and the passes made. Target: <= 2.5 W + 1 s.
storm  100 ports in one zone, 200 entries each, beside 380k (400k in all);
       removed one per transaction, ~40 ms apart. Reports the passes
       (entries scanned / table size, from the daemon's counters) and the
       time to clean. Targets: passes <= storm length / W + 3; clean <=
       storm end + 3 W + 1 s.

Prints one JSON object on stdout (and to --out): the measurements, each
target with its limit and PASS/FAIL. Exit 0 when every target passed, 3
when one failed, 1 when the scenario went wrong (entries left, a failed
job), 2 on set-up errors, 77 without root or tools.
"""

import argparse
import json
import os
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "netns"))
import ctfd_world as cw  # noqa: E402

SHAPE = "seed=42,bg-pct=25,ext-pct=40,nat-pct=20,v6-pct=10,hot-pct=5,zones=4"
NOBODY = "10.99.99.0/24,fd00:99::/64"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def flush_wait(w, local, timeout=600):
    """One manual flush, followed to its end; its JOB object."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(w.ctl_sock)
    s.sendall((json.dumps({"cmd": "flush", "local": local.split(","), "peers": "any",
                           "wait": True}) + "\n").encode())
    buf = b""
    end = None
    while end is None:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            msg = json.loads(line)
            if msg.get("event") == "end":
                end = msg
    s.close()
    if not end or not end.get("ok"):
        raise cw.Failure("flush %s did not end well: %r" % (local, end))
    return end["jobs"][0]


def measure_w(w, n=3):
    """The daemon's pass over the table as it is: median of n flushes of
    prefixes nobody has (each one whole dump)."""
    times = []
    for _ in range(n):
        job = flush_wait(w, NOBODY)
        if job["deleted"]:
            raise cw.Failure("the W flush deleted %d entries" % job["deleted"])
        times.append(job["duration_s"])
    return statistics.median(times), times


def wait_removals(w, t0, n_ports, timeout):
    """Waits until the port-removal jobs created since t0 cover n_ports and
    all are finished, the queue and batch window empty; returns them."""
    def over():
        st = w.ctl("status")
        if st["running"] or st["queue_depth"] or st["batch_pending"]:
            return None
        jobs = [j for j in w.jobs()["finished"]
                if j["origin"] == "port-remove" and j["created"] >= t0 - 0.5]
        if sum(j["n_ports"] for j in jobs) < n_ports:
            return None
        return jobs
    return cw.wait_for(over, timeout, "the removals to finish", interval=0.02)


def target(name, value, limit):
    return {"name": name, "value": round(value, 4), "limit": round(limit, 4),
            "pass": value <= limit}


def port_lines(ip, zone, peers, per_peer, base_port):
    lines = []
    for j, peer in enumerate(peers):
        for k in range(per_peer):
            proto = "tcp" if k % 3 else "udp"
            lines.append("%s %s %s %d %d zone=%d" % (proto, peer, ip, base_port + j * per_peer + k,
                                                     80 + k, zone))
    return lines


def setup(w, ports, zone_of, background_spec):
    """Ports in OVSDB with their zones, the daemon started (its probe on an
    empty table), then the table filled."""
    for name, iface, ip in ports:
        w.vsctl("br-set-external-id", "br-int", "ct-zone-" + iface, str(zone_of[name]))
        w.add_port(name, iface_ids={"iface-id": iface, "ip": ip})
    w.start_daemon()
    cw.wait_for(lambda: len(w.ctl("ports")["ports"]) >= len(ports), 60, "the ports")
    t = time.monotonic()
    w.fill_gen(background_spec)
    log("  background filled in %.1f s" % (time.monotonic() - t))


def zones(build, quick):
    n_ports, per_peer, peers = 20, 10, ["10.31.0.%d" % (i + 1) for i in range(50)]
    bg = ("total=%d,locals=200,peers=100," % (20000 if quick else 200000)) + SHAPE
    with cw.World(build, "bzones") as w:
        ports = [("tapz%d" % i, "lsp-z%d" % i, "10.30.%d.5" % i) for i in range(n_ports)]
        zone_of = {p[0]: 1000 + i for i, p in enumerate(ports)}
        setup(w, ports, zone_of, bg)
        lines = []
        for i, (name, _, ip) in enumerate(ports):
            lines += port_lines(ip, zone_of[name], peers, per_peer, 10000 + 1000 * i)
        w.fill(lines)
        table = w.total()
        W, ws = measure_w(w)
        log("  W = %.3f s (%s) on %d entries" % (W, ", ".join("%.3f" % x for x in ws), table))
        scanned0 = w.metric("ctflushd_entries_scanned_total")
        t0 = time.time()
        w.del_ports([p[0] for p in ports])
        jobs = wait_removals(w, t0, n_ports, 600)
        clean = max(j["finished"] for j in jobs) - t0
        passes = (w.metric("ctflushd_entries_scanned_total") - scanned0) / table
        entries = w.entries()
        left = sum(w.count(ip=p[2], entries=entries) for p in ports)
        if left or any(j["state"] != "done" for j in jobs):
            raise cw.Failure("%d entries of the removed ports left; jobs %r"
                             % (left, [(j["id"], j["state"], j["error"]) for j in jobs]))
        if len(entries) != table - len(lines):
            raise cw.Failure("the table holds %d entries, %d expected"
                             % (len(entries), table - len(lines)))
        log("  clean %.3f s after the transaction: %d jobs, %.2f passes" % (clean, len(jobs), passes))
        return {
            "scenario": "zones", "table": table, "ports": n_ports, "entries_removed": len(lines),
            "W_s": round(W, 4), "W_runs_s": ws, "clean_s": round(clean, 4),
            "jobs": len(jobs), "passes": round(passes, 3),
            "strategies": sorted({j["strategy"] for j in jobs}),
            "targets": [target("zones: clean <= 2.5 W + 1 s", clean, 2.5 * W + 1)],
        }


def storm(build, quick):
    n_ports, per_peer, peers = 100, 4, ["10.41.0.%d" % (i + 1) for i in range(50)]
    total = 40000 if quick else 400000
    bg = ("total=%d,locals=200,peers=100," % (total - n_ports * per_peer * len(peers))) + SHAPE
    gap = 0.040
    with cw.World(build, "bstorm") as w:
        ports = [("taps%d" % i, "lsp-s%d" % i, "10.40.%d.%d" % (i // 200, i % 200 + 1))
                 for i in range(n_ports)]
        zone_of = {p[0]: 2000 for p in ports}
        setup(w, ports, zone_of, bg)
        lines = []
        for i, (name, _, ip) in enumerate(ports):
            lines += port_lines(ip, 2000, peers, per_peer, 10000 + 300 * i)
        w.fill(lines)
        table = w.total()
        W, ws = measure_w(w)
        log("  W = %.3f s (%s) on %d entries" % (W, ", ".join("%.3f" % x for x in ws), table))
        scanned0 = w.metric("ctflushd_entries_scanned_total")
        t0 = time.time()
        for i, p in enumerate(ports):
            delay = t0 + i * gap - time.time()
            if delay > 0:
                time.sleep(delay)
            w.vsctl("del-port", "br-int", p[0])
        storm_end = time.time()
        jobs = wait_removals(w, t0, n_ports, 600)
        clean = max(j["finished"] for j in jobs) - t0
        passes = (w.metric("ctflushd_entries_scanned_total") - scanned0) / table
        entries = w.entries()
        left = sum(w.count(ip=p[2], entries=entries) for p in ports)
        if left or any(j["state"] != "done" for j in jobs):
            raise cw.Failure("%d entries of the removed ports left" % left)
        length = storm_end - t0
        log("  storm %.3f s, clean %.3f s, %d jobs, %.2f passes" % (length, clean, len(jobs), passes))
        return {
            "scenario": "storm", "table": table, "ports": n_ports, "entries_removed": len(lines),
            "W_s": round(W, 4), "W_runs_s": ws, "storm_s": round(length, 4),
            "clean_s": round(clean, 4), "jobs": len(jobs), "passes": round(passes, 3),
            "targets": [
                target("storm: passes <= storm length / W + 3", passes, length / W + 3),
                target("storm: clean <= storm end + 3 W + 1 s", clean, length + 3 * W + 1),
            ],
        }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("scenario", choices=["zones", "storm"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    cw.require_root_and_tools()
    try:
        res = (zones if a.scenario == "zones" else storm)(a.build, a.quick)
    except cw.Failure as e:
        print("FAIL %s: %s" % (a.scenario, e), file=sys.stderr, flush=True)
        return 1
    text = json.dumps(res)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    return 0 if all(t["pass"] for t in res["targets"]) else 3


if __name__ == "__main__":
    sys.exit(main())
