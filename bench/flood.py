#!/usr/bin/env python3
"""Flood benchmark for ctflushd: port-event floods and control-client floods.

    sudo python3 bench/flood.py BUILD_DIR [--ports N] [--tx N] [--clients N]
                                          [--entries N] [--rate N] [--repeat N]
                                          [--only ports|clients|perport] [--out FILE]

Each scenario runs against a private world (tests/netns/ctfd_world.py): its
own ovsdb-server, a network namespace and ctflushd in it, so the host's OVSDB
and conntrack table are never touched. Everything here is *measured and
reported*, never asserted against a time: the numbers go to stdout and, as
JSON, to --out. The only failures are functional ones (the daemon stops
answering, or a scenario cannot be set up): exit 1.

Scenarios:
  ports    N ports added in TX ovs-vsctl transactions, then removed again in TX
           more (2N port events), while a probe client sends {"cmd":"status"}
           every 10 ms on one connection. Reports: flood time, time until the
           port table and the queue settle, status latency p50/p99/max, peak RSS
           of the parent, watcher and worker, jobs made (coalescing).
  perport  RSS of the parent and watcher per 1k ports (ports added in steps).
  clients  a flush of ENTRIES entries slowed by --max-delete-rate to ~5 s, and
           meanwhile CLIENTS connections of four kinds (status and read; connect
           and close; a request exactly at max-request-bytes; one byte over)
           from a thread pool, plus a probe client measuring status latency.
           Reports: latency, error codes received by kind, parent RSS before
           and after, and that the daemon still answers.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "netns"))
import ctfd_world as cw  # noqa: E402

MAX_REQUEST = 65536  # max-request-bytes default (config.c)


# ---------------------------------------------------------------- helpers

def proc_mem(pid):
    """(VmRSS, VmHWM) in KiB of pid, or (None, None)."""
    rss = hwm = None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, TypeError):
        pass
    return rss, hwm


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def lat_summary(xs):
    if not xs:
        return {"n": 0}
    return {"n": len(xs), "p50_ms": round(pct(xs, 50) * 1e3, 3),
            "p99_ms": round(pct(xs, 99) * 1e3, 3), "max_ms": round(max(xs) * 1e3, 3),
            "mean_ms": round(statistics.mean(xs) * 1e3, 3)}


class Conn:
    """One persistent control connection: request() sends a line, reads one."""

    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""

    def request(self, obj):
        self.s.sendall((json.dumps(obj) + "\n").encode())
        while b"\n" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError("daemon closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self):
        self.s.close()


class Prober(threading.Thread):
    """Sends status every `interval` s on one connection; records latencies
    and a sample of (t, ports, queue_depth, batch_pending, running) and RSS."""

    def __init__(self, path, interval=0.01, pids=None):
        super().__init__(daemon=True)
        self.path, self.interval = path, interval
        self.lat, self.samples, self.errors = [], [], []
        self.stop_ev = threading.Event()
        self.pids = pids or {}
        self.peak = {k: 0 for k in self.pids}

    def run(self):
        c = Conn(self.path)
        t_start = time.monotonic()
        n = 0
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            try:
                r = c.request({"cmd": "status"})
            except Exception as e:  # a reconnect is itself a finding
                self.errors.append(repr(e))
                try:
                    c.close()
                    c = Conn(self.path)
                except OSError:
                    pass
                time.sleep(self.interval)
                continue
            dt = time.monotonic() - t0
            self.lat.append(dt)
            res = r.get("result") or {}
            self.samples.append((round(t0 - t_start, 3), res.get("ports"),
                                 res.get("queue_depth"), res.get("batch_pending"),
                                 bool(res.get("running"))))
            n += 1
            if n % 10 == 0:
                for k, pid in self.pids.items():
                    rss, _ = proc_mem(pid)
                    if rss and rss > self.peak[k]:
                        self.peak[k] = rss
            rest = self.interval - (time.monotonic() - t0)
            if rest > 0:
                time.sleep(rest)
        c.close()

    def stop(self):
        self.stop_ev.set()
        self.join(10)


def pids_of(w):
    st = w.ctl("status")
    return {"parent": st["pid"], "worker": st["worker"]["pid"],
            "watcher": st["ovsdb"]["watcher_pid"]}


def mem_all(pids):
    out = {}
    for k, pid in pids.items():
        rss, hwm = proc_mem(pid)
        out[k] = {"pid": pid, "rss_kib": rss, "hwm_kib": hwm}
    return out


def counters(w):
    """A few totals from the metrics text."""
    text = w.ctl("metrics")["text"]
    want = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, val = line.rpartition(" ")
        if "{" in name:
            continue
        try:
            want[name] = float(val)
        except ValueError:
            pass
    return want


def vsctl_batch(w, cmds):
    """One ovs-vsctl transaction of many commands (faster than add_port)."""
    argv = []
    for c in cmds:
        argv += ["--"] + c
    return w.vsctl(*argv[1:])


def port_ip(i):
    return "10.%d.%d.%d" % (100 + i // 65536, (i // 256) % 256, i % 256)


def add_ports_cmds(lo, hi):
    cmds = []
    for i in range(lo, hi):
        name = "fp%d" % i
        cmds.append(["add-port", "br-int", name])
        cmds.append(["set", "Interface", name, "type=internal",
                     'external_ids:iface-id="vm-%d"' % i, 'external_ids:ip="%s"' % port_ip(i)])
    return cmds


def del_ports_cmds(lo, hi):
    return [["del-port", "br-int", "fp%d" % i] for i in range(lo, hi)]


def ovsdb_transact(w, ops):
    """One raw OVSDB transaction through ovsdb-client (no per-call DB download
    as ovs-vsctl does, so 100 transactions take seconds, not minutes)."""
    r = subprocess.run(["ovsdb-client", "transact", "unix:" + w.db_sock,
                        json.dumps(["Open_vSwitch"] + ops)],
                       capture_output=True, text=True, env=w.env, timeout=60)
    if r.returncode or '"error"' in r.stdout:
        raise cw.Failure("ovsdb-client transact: %s %s" % (r.stderr.strip(), r.stdout[:300]))
    return json.loads(r.stdout)


def add_ports_ops(lo, hi):
    ops, names = [], []
    for i in range(lo, hi):
        ext = ["map", [["iface-id", "vm-%d" % i], ["ip", port_ip(i)]]]
        ops.append({"op": "insert", "table": "Interface", "uuid-name": "i%d" % i,
                    "row": {"name": "fp%d" % i, "type": "internal", "external_ids": ext}})
        ops.append({"op": "insert", "table": "Port", "uuid-name": "p%d" % i,
                    "row": {"name": "fp%d" % i, "interfaces": ["named-uuid", "i%d" % i]}})
        names.append(["named-uuid", "p%d" % i])
    ops.append({"op": "mutate", "table": "Bridge", "where": [["name", "==", "br-int"]],
                "mutations": [["ports", "insert", ["set", names]]]})
    return ops


def port_uuids(w):
    r = ovsdb_transact(w, [{"op": "select", "table": "Port", "where": [],
                            "columns": ["name", "_uuid"]}])
    return {row["name"]: row["_uuid"][1] for row in r[0]["rows"]}


def del_ports_ops(uuids, lo, hi):
    gone = [["uuid", uuids["fp%d" % i]] for i in range(lo, hi)]
    return [{"op": "mutate", "table": "Bridge", "where": [["name", "==", "br-int"]],
             "mutations": [["ports", "delete", ["set", gone]]]}]


def wait_settled(w, n_ports, timeout=180):
    """Until ports == n_ports and nothing batched, queued or running."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        st = w.ctl("status")
        if (st["ports"] == n_ports and not st["queue_depth"] and not st["batch_pending"]
                and not st["running"]):
            return time.monotonic() - t0, st
        time.sleep(0.02)
    raise cw.Failure("not settled after %d s" % timeout)


# ---------------------------------------------------------------- scenario 1

def scen_ports(build, n_ports, n_tx, tag, use_vsctl=False):
    res = {"ports": n_ports, "transactions_each_way": n_tx,
           "client": "ovs-vsctl" if use_vsctl else "ovsdb-client transact"}
    with cw.World(build, "fl%s" % tag) as w:
        w.start_daemon()
        pids = pids_of(w)
        res["pids"] = pids
        res["mem_before"] = mem_all(pids)
        c0 = counters(w)
        jobs_before = w.ctl("status")
        base = jobs_before["ports"]      # br-int's own interface
        per_tx = max(1, n_ports // n_tx)
        probe = Prober(w.ctl_sock, 0.01, pids)
        probe.start()
        time.sleep(0.2)
        t0 = time.monotonic()
        if use_vsctl:
            for lo in range(0, n_ports, per_tx):
                vsctl_batch(w, add_ports_cmds(lo, min(n_ports, lo + per_tx)))
        else:
            for lo in range(0, n_ports, per_tx):
                ovsdb_transact(w, add_ports_ops(lo, min(n_ports, lo + per_tx)))
        t_added = time.monotonic() - t0
        if use_vsctl:
            for lo in range(0, n_ports, per_tx):
                vsctl_batch(w, del_ports_cmds(lo, min(n_ports, lo + per_tx)))
        else:
            uuids = port_uuids(w)
            for lo in range(0, n_ports, per_tx):
                ovsdb_transact(w, del_ports_ops(uuids, lo, min(n_ports, lo + per_tx)))
        t_flood = time.monotonic() - t0
        settle, st = wait_settled(w, base)
        t_settled = time.monotonic() - t0
        probe.stop()
        c1 = counters(w)
        res["mem_after"] = mem_all(pids)
        res["peak_rss_sampled_kib"] = probe.peak
        res["flood_s"] = round(t_flood, 3)
        res["adds_s"] = round(t_added, 3)
        res["settle_after_flood_s"] = round(settle, 3)
        res["settled_from_start_s"] = round(t_settled, 3)
        res["status_latency"] = lat_summary(probe.lat)
        res["probe_errors"] = probe.errors[:5]
        res["n_probe_errors"] = len(probe.errors)
        # When did the table reach its peak, and how far behind OVSDB was it?
        res["max_ports_seen"] = max((s[1] or 0) for s in probe.samples) if probe.samples else None
        res["max_queue_depth_seen"] = max((s[2] or 0) for s in probe.samples) if probe.samples else None
        res["max_batch_pending_seen"] = max((s[3] or 0) for s in probe.samples) if probe.samples else None
        done = st["jobs_done"] - jobs_before["jobs_done"]
        res["jobs_done"] = done
        res["jobs_failed"] = st["jobs_failed"] - jobs_before["jobs_failed"]
        res["port_events"] = 2 * n_ports
        deltas = {}
        for k in c1:
            if k.endswith("_total") and c1[k] != c0.get(k, 0):
                deltas[k] = c1[k] - c0.get(k, 0)
        res["metric_deltas"] = deltas
        jobs = w.jobs(1000)
        by_origin = {}
        for j in jobs["finished"]:
            # n_ports is not summable: every chunk of a chunked batch
            # carries the whole batch's port count; local_count is.
            o = by_origin.setdefault(j["origin"], {"jobs": 0, "ips": 0})
            o["jobs"] += 1
            o["ips"] += j.get("local_count") or 0
        res["history_by_origin(last<=history)"] = by_origin
        res["daemon_alive"] = w.daemon.poll() is None
    return res


# ---------------------------------------------------------------- scenario 3

def scen_perport(build, steps, step, tag):
    res = {"steps": []}
    with cw.World(build, "pp%s" % tag) as w:
        w.start_daemon()
        pids = pids_of(w)
        n = 0
        base_ports = w.ctl("status")["ports"]
        base = mem_all(pids)
        res["steps"].append({"ports": 0, "mem": base})
        for _ in range(steps):
            for lo in range(n, n + step, 100):
                ovsdb_transact(w, add_ports_ops(lo, lo + 100))
            n += step
            wait_settled(w, base_ports + n)
            time.sleep(0.3)
            res["steps"].append({"ports": n, "mem": mem_all(pids)})
        first, last = res["steps"][0], res["steps"][-1]
        for k in ("parent", "watcher"):
            d = (last["mem"][k]["rss_kib"] or 0) - (first["mem"][k]["rss_kib"] or 0)
            res["%s_kib_per_1k_ports" % k] = round(d / (n / 1000.0), 1)
        sf = os.path.join(w.state_dir, "state.json")
        try:
            res["state_json_bytes_per_port"] = round(os.path.getsize(sf) / n, 1)
        except OSError:
            pass
    return res


# ---------------------------------------------------------------- scenario 2

def exact_request(total_line_bytes):
    """A valid status request whose line, '\\n' included, has this length."""
    skel = '{"cmd":"status","pad":""}'
    pad = total_line_bytes - 1 - len(skel)
    assert pad >= 0
    return ('{"cmd":"status","pad":"%s"}\n' % ("x" * pad)).encode()


def one_shot(path, data, read=True, timeout=30, shut=False):
    """Connect, send data, read until EOF or one line. Returns
    ('ok'|'<error code>'|'eof'|'reset'|'connect-<errno>', seconds)."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        return "connect-" + (e.__class__.__name__), time.monotonic() - t0
    try:
        if data:
            s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        if not read:
            return "closed", time.monotonic() - t0
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        if not buf:
            return "eof", time.monotonic() - t0
        r = json.loads(buf.split(b"\n", 1)[0])
        if r.get("ok"):
            return "ok", time.monotonic() - t0
        return (r.get("error") or {}).get("code", "?"), time.monotonic() - t0
    except (ConnectionResetError, BrokenPipeError):
        return "reset", time.monotonic() - t0
    except socket.timeout:
        return "client-timeout", time.monotonic() - t0
    finally:
        s.close()


def find_boundary(path):
    """The longest accepted request line, found by probing around the limit."""
    out = {}
    for total in (MAX_REQUEST - 1, MAX_REQUEST, MAX_REQUEST + 1, MAX_REQUEST + 2):
        out[total] = one_shot(path, exact_request(total))[0]
    # and a CRLF-terminated one at the accepted maximum
    for total in (MAX_REQUEST + 1, MAX_REQUEST + 2):  # '\r' counts as line content
        crlf = exact_request(total - 1)[:-1] + b"\r\n"
        out["crlf_%d" % total] = one_shot(path, crlf)[0]
    ok = [t for t in out if isinstance(t, int) and out[t] == "ok"]
    return out, (max(ok) if ok else None)


def scen_clients(build, n_clients, entries, rate, tag, concurrency=64):
    res = {"clients": n_clients, "entries": entries, "max_delete_rate": rate}
    with cw.World(build, "cl%s" % tag, daemon_args=["--max-delete-rate", str(rate)]) as w:
        w.start_daemon()
        pids = pids_of(w)
        boundary, accepted_max = find_boundary(w.ctl_sock)
        res["boundary"] = {str(k): v for k, v in boundary.items()}
        res["longest_accepted_line_incl_newline"] = accepted_max
        over = (accepted_max or MAX_REQUEST) + 1
        at_limit = exact_request(accepted_max or MAX_REQUEST)
        one_over = exact_request(over)
        locals_ = 10
        w.fill_gen("total=%d,locals=%d,peers=10,bg-pct=0,ext-pct=0,seed=7" % (entries, locals_))
        res["table_entries"] = w.total()
        time.sleep(0.5)
        res["mem_before"] = mem_all(pids)
        probe = Prober(w.ctl_sock, 0.01, pids)
        probe.start()
        time.sleep(0.3)
        lat_idle = list(probe.lat)
        local = ",".join("10.1.0.%d" % (1 + i) for i in range(locals_))
        fl = w.ctl("flush", "--local", local, "--peers", "any")
        res["flush_reply"] = fl
        t_flush = time.monotonic()
        # wait for it to run
        cw.wait_for(lambda: w.ctl("status")["running"], 20, "the flush to start")
        mark = len(probe.lat)

        kinds = ["status", "connect-close", "at-limit", "one-over"]
        results = {k: {} for k in kinds}
        lock = threading.Lock()
        idx = [0]

        def worker():
            while True:
                with lock:
                    i = idx[0]
                    idx[0] += 1
                if i >= n_clients:
                    return
                kind = kinds[i % 4]
                if kind == "status":
                    r, _ = one_shot(w.ctl_sock, b'{"cmd":"status"}\n')
                elif kind == "connect-close":
                    r, _ = one_shot(w.ctl_sock, b"", read=False)
                elif kind == "at-limit":
                    r, _ = one_shot(w.ctl_sock, at_limit)
                else:
                    r, _ = one_shot(w.ctl_sock, one_over)
                with lock:
                    results[kind][r] = results[kind].get(r, 0) + 1

        t0 = time.monotonic()
        ths = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(300)
        res["client_flood_s"] = round(time.monotonic() - t0, 3)
        res["flush_running_at_flood_end"] = bool(w.ctl("status")["running"])
        lat_flood = probe.lat[mark:]
        res["replies_by_kind"] = results
        res["mem_mid"] = mem_all(pids)
        settle, st = wait_settled(w, w.ctl("status")["ports"], timeout=300)
        res["flush_total_s"] = round(time.monotonic() - t_flush, 3)
        probe.stop()
        res["status_latency_idle"] = lat_summary(lat_idle)
        res["status_latency_during_client_flood"] = lat_summary(lat_flood)
        res["status_latency_whole_flush"] = lat_summary(probe.lat[mark:])
        res["n_probe_errors"] = len(probe.errors)
        res["probe_errors"] = probe.errors[:5]
        res["peak_rss_sampled_kib"] = probe.peak
        time.sleep(0.5)
        res["mem_after"] = mem_all(pids)
        last = w.jobs(5)["finished"]
        res["flush_job"] = {k: last[0].get(k) for k in
                            ("state", "deleted", "duration_s", "strategy", "rate")} if last else None
        res["table_after"] = w.total()
        c = counters(w)
        res["control_metrics"] = {k: v for k, v in c.items() if "control" in k}
        # Held connections: max-clients + 50 open at once, each idle.
        held, busy, other = [], 0, {}
        n_hold = 1024 + 50
        for _ in range(n_hold):
            sk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sk.settimeout(5)
            try:
                sk.connect(w.ctl_sock)
                held.append(sk)
            except OSError as e:
                other[repr(e)] = other.get(repr(e), 0) + 1
                sk.close()
        time.sleep(1.0)
        res["mem_with_held_clients"] = mem_all(pids)
        probe_busy = one_shot(w.ctl_sock, b'{"cmd":"status"}\n')[0]
        for sk in held:
            sk.setblocking(False)
            try:
                d = sk.recv(4096)
                if b'"busy"' in d:
                    busy += 1
            except BlockingIOError:
                pass
            except OSError:
                pass
        for sk in held:
            sk.close()
        time.sleep(0.5)
        res["held_clients"] = {"opened": len(held), "busy_replies": busy,
                               "connect_errors": other,
                               "status_while_full": probe_busy}
        res["mem_after_held"] = mem_all(pids)
        # still answers?
        res["answers_after"] = one_shot(w.ctl_sock, b'{"cmd":"status"}\n')[0]
        res["daemon_alive"] = w.daemon.poll() is None
    return res


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--ports", type=int, default=5000)
    ap.add_argument("--tx", type=int, default=50)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--entries", type=int, default=150000)
    ap.add_argument("--rate", type=int, default=30000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--perport-steps", type=int, default=4)
    ap.add_argument("--perport-step", type=int, default=1000)
    ap.add_argument("--vsctl", action="store_true",
                    help="port flood through ovs-vsctl (slow client: ~1 s per transaction at 5k ports)")
    ap.add_argument("--only", choices=("ports", "clients", "perport"))
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    cw.require_root_and_tools()
    build = os.path.abspath(a.build)

    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    report = {"machine": {"nproc": os.cpu_count(), "loadavg_at_start": load,
                          "kernel": os.uname().release}, "runs": []}
    print("machine: %d cpus, load %s (other jobs on the machine make these numbers noisy)"
          % (os.cpu_count(), " ".join(load)), flush=True)
    ok = True
    for r in range(a.repeat):
        run = {}
        try:
            if a.only in (None, "ports"):
                run["ports"] = scen_ports(build, a.ports, a.tx, "%d" % r, a.vsctl)
                print(json.dumps({"ports": run["ports"]}, indent=1), flush=True)
            if a.only in (None, "perport"):
                run["perport"] = scen_perport(build, a.perport_steps, a.perport_step, "%d" % r)
                print(json.dumps({"perport": run["perport"]}, indent=1), flush=True)
            if a.only in (None, "clients"):
                run["clients"] = scen_clients(build, a.clients, a.entries, a.rate, "%d" % r)
                print(json.dumps({"clients": run["clients"]}, indent=1), flush=True)
        except cw.Failure as e:
            print("FAIL: %s" % e, file=sys.stderr)
            run["failure"] = str(e)
            ok = False
        for v in run.values():
            if isinstance(v, dict) and v.get("daemon_alive") is False:
                ok = False
            if isinstance(v, dict) and v.get("answers_after") not in (None, "ok"):
                ok = False
        report["runs"].append(run)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(report, f, indent=1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
