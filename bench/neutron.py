"""neutron's conntrack manager against the ctflushd firewall driver's, on the
same table: one remote-group member removal for PORTS local ports x REMOTES
removed remote IPs (delete_conntrack_state_by_remote_ips, both directions,
iptables_hybrid's per-port zones), on a table of TOTAL entries.

Run by hand as root (not a test: neutron's side takes minutes):

    /usr/bin/python3 bench/neutron.py [--build DIR] [--total N] [--ports P]
        [--remotes R] [--sample S] [--per-pair K]

neutron's own manager runs `conntrack -D` per (port IP, remote IP,
direction), each of which walks the whole table; it is run for the first
S removed remote IPs only and its times extrapolated to R (each remote IP
costs the same: PORTS x 2 commands on an equal table). ctflushd's driver
gets the whole call. Reported, for each: the time until the call returned
to the agent, until the agent's side had nothing left queued, until the
entries were gone, and the entries deleted (neutron's sampled count scaled
the same way, so they must agree). Also how many times ctflushd's jobs
walked the table (one per job, but for zone flushes).
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "neutron"))
import nlib  # noqa: E402

CHILD = r'''
import json, os, sys, time
from neutron.common import eventlet_utils
eventlet_utils.monkey_patch()
import eventlet
from oslo_config import cfg
from oslo_concurrency import lockutils
from neutron.agent.linux import ip_conntrack
from neutron.conf.agent import common as agent_config
import neutron.privileged
a = json.loads(sys.argv[1])
agent_config.register_root_helper(cfg.CONF)
lockutils.set_defaults(a["tmp"])
cfg.CONF([], project="neutron")
cfg.CONF.set_override("root_helper", "", "AGENT")
neutron.privileged.default.set_client_mode(False)
devices = [{"device": "%08x-0000-4000-8000-000000000000" % i, "network_id": "n%d" % i,
            "fixed_ips": [ip]} for i, ip in enumerate(a["locals"])]
mgr = ip_conntrack.IpConntrackManager(lambda table: [], {}, {}, zone_per_port=True)
zones = [mgr.get_device_zone(d) for d in devices]
if a["mode"] == "ctflushd":
    from ctflushd.neutron import config, firewall
    config.register_opts(cfg.CONF)
    cfg.CONF.set_override("socket", a["socket"], "ctflushd")
    cfg.CONF.set_override("require_selector_support", False, "ctflushd")
    mgr = firewall.CtflushdConntrackManager(mgr, "bench")
print(json.dumps({"zones": zones}), flush=True)
sys.stdin.readline()                    # the parent has filled the table
t0 = time.time()
p0 = time.perf_counter()
mgr.delete_conntrack_state_by_remote_ips(devices, "IPv4", a["remotes"])
returned = time.perf_counter() - p0
if a["mode"] == "ctflushd":
    mgr.drain(600)
    out = {"stats": mgr.stats}
else:
    while not (mgr._queue.qsize() == 0 and mgr._queue.getting() == ip_conntrack.WORKERS):
        eventlet.sleep(0.01)
    out = {}
out.update(mode=a["mode"], t0=t0, returned_s=returned, queue_empty_s=time.perf_counter() - p0)
print(json.dumps(out), flush=True)
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--total", type=int, default=200000)
    ap.add_argument("--ports", type=int, default=20)
    ap.add_argument("--remotes", type=int, default=100)
    ap.add_argument("--sample", type=int, default=4)
    ap.add_argument("--per-pair", type=int, default=2)
    args = ap.parse_args()
    nlib.require_neutron()
    nlib.install_package()
    with open("/proc/sys/net/netfilter/nf_conntrack_max") as f:
        if int(f.read()) < args.total * 2:
            with open("/proc/sys/net/netfilter/nf_conntrack_max", "w") as g:
                g.write(str(args.total * 2))   # only ever raised
    locals_ = ["10.0.0.%d" % (i + 1) for i in range(args.ports)]
    remotes = ["10.0.1.%d" % (i + 1) for i in range(args.remotes)]
    results = {}
    with nlib.ctfd_world.World(os.path.abspath(args.build), "pybench") as w:
        w.start_daemon()
        for mode, rem in (("neutron", remotes[:args.sample]), ("ctflushd", remotes)):
            w.nsexec(nlib.CONNTRACK, "-F", capture_output=True)
            spec = {"mode": mode, "locals": locals_, "remotes": rem, "socket": w.ctl_sock,
                    "tmp": w.tmp}
            child = subprocess.Popen(["ip", "netns", "exec", w.ns, nlib.PYTHON, "-c", CHILD,
                                      json.dumps(spec)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
            zones = json.loads(child.stdout.readline())["zones"]
            # Matching entries: each port with each removed remote, both
            # directions, in its zone; the rest of the table: the same
            # pairs in zone 0, other remotes, and generated background.
            lines, n = [], 0
            for ip, z in zip(locals_, zones):
                for r in remotes:
                    for k in range(args.per_pair):
                        n += 1
                        lines.append("tcp %s %s %d 22 zone=%d" % (r, ip, 10000 + n % 50000, z))
                        lines.append("tcp %s %s %d 443 zone=%d" % (ip, r, 10000 + n % 50000, z))
                        lines.append("tcp %s %s %d 22" % (r, ip, 10000 + n % 50000))
            w.fill(lines)
            w.fill_gen("total=%d,locals=500,peers=500,bg-pct=50,seed=3" %
                       max(args.total - len(lines), 0))
            before = w.total()
            scanned0 = w.metric("ctflushd_entries_scanned_total")
            wall0 = time.time()
            child.stdin.write("go\n")
            child.stdin.flush()
            out = json.loads(child.stdout.readline())
            child.wait()
            if mode == "ctflushd":
                w.wait_idle(600)
                gone_s = time.time() - out["t0"]
                jobs = [j for j in w.jobs()["finished"] if j.get("origin") == "manual"
                        and j.get("finished") and j["finished"] >= int(wall0) - 1]
                out["jobs"] = len(jobs)
                out["job_detail"] = [{k: j.get(k) for k in ("strategy", "duration_s", "scanned",
                                                            "deleted", "zone", "attempts")}
                                     for j in jobs]
                # Walks of the table: the userspace passes (jobs that share
                # a dump count it once in the daemon's scanned total), plus
                # one kernel-side walk per filtered-dump job, whose 'scanned'
                # counts only what the kernel returned.
                dumped = w.metric("ctflushd_entries_scanned_total") - scanned0
                kernel = sum(1 for j in jobs if j.get("strategy") == "filtered-dump")
                out["passes"] = round(dumped / before + kernel, 2)
            else:
                gone_s = out["queue_empty_s"]
            after = w.total()
            scale = args.remotes / float(len(rem))
            out.update(table=before, deleted=before - after, gone_s=gone_s, scale=scale,
                       conntrack_commands=args.ports * len(rem) * 2)
            results[mode] = out
    nr, cr = results["neutron"], results["ctflushd"]
    print("table: %d entries; %d ports x %d removed remote IPs" % (nr["table"], args.ports,
                                                                   args.remotes))
    print("%-9s %12s %14s %14s %10s" % ("", "call (ms)", "queue (s)", "gone (s)", "deleted"))
    print("%-9s %12.3f %14.1f %14.1f %10d   (sampled %d of %d remote IPs, x%.0f; %d "
          "conntrack -D run, %d in all)" % (
              "neutron", nr["returned_s"] * 1000, nr["queue_empty_s"] * nr["scale"],
              nr["gone_s"] * nr["scale"], nr["deleted"] * nr["scale"], args.sample,
              args.remotes, nr["scale"], nr["conntrack_commands"],
              nr["conntrack_commands"] * nr["scale"]))
    print("%-9s %12.3f %14.3f %14.2f %10d   (%d jobs, %.2f table walks)" % (
        "ctflushd", cr["returned_s"] * 1000, cr["queue_empty_s"], cr["gone_s"], cr["deleted"],
        cr["jobs"], cr["passes"]))
    agree = int(round(nr["deleted"] * nr["scale"])) == cr["deleted"]
    print("deleted counts %s" % ("agree" if agree else "DIFFER"))
    print(json.dumps(results, sort_keys=True))
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
