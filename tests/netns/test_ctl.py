#!/usr/bin/python3
"""ctflushctl and the control socket against a running daemon.

  commands      every ctflushctl command, text and --json (JSON must parse)
  wait          flush --wait follows a job to the end; exit 1 when it fails
  pause-cancel  pause keeps jobs queued, cancel cancels one, pause --now
                stops the running job and requeues it, resume finishes it
  bad-requests  malformed, unknown, oversized and cut-off requests get an
                error reply (or are dropped) and the daemon carries on
  non-root      a non-root peer may read but not mutate
  concurrency   100 concurrent clients and one stuck client while a large
                flush runs: every status is answered, none waits on the flush
  sd-notify     a fake NOTIFY_SOCKET receives READY=1, WATCHDOG=1, STOPPING=1

    test_ctl.py BUILD_DIR
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctfd_world import Failure, World, check, entries_for, run_tests, wait_for  # noqa: E402

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
SLOW = float(os.environ.get("CTFD_TIME_SCALE", "1"))
PEERS = ["10.9.0.%d" % j for j in range(1, 21)]


def t_commands():
    with World(BUILD, "cmds") as w:
        w.add_port("tap1", iface_ids={"iface-id": "vm1", "ip": "10.0.1.1"})
        w.fill(entries_for(["10.0.1.1", "10.0.1.2"], PEERS))
        w.start_daemon()
        # Text output: a human reads it; check the facts are in it.
        r = w.ctl_raw("status", json_out=False)
        check(r.returncode == 0 and "ports" in r.stdout.lower() and "10.0.1.1" not in r.stderr,
              "status (text) exits 0")
        for cmd in (["status"], ["jobs"], ["ports"], ["metrics"]):
            r = w.ctl_raw(*cmd, json_out=False)
            check(r.returncode == 0 and r.stdout.strip(), "%s (text) prints something" % cmd[0])
        st = w.ctl("status")
        for key in ("queue_depth", "running", "jobs_done", "jobs_failed", "entries_deleted",
                    "ports", "paused", "ovsdb_connected"):
            check(key in st, "status --json has %s" % key)
        ports = w.ctl("ports")["ports"]
        check(any(p["name"] == "tap1" and p["ips"] == ["10.0.1.1"] and p["iface_id"] == "vm1"
                  for p in ports), "ports --json lists tap1 with its IP and iface-id")

        res = w.ctl("flush", "--local", "10.0.1.2", "--peers", "10.9.0.1,10.9.0.2", "--wait")
        check(res.get("event") == "end" and res["ok"] and res["jobs"][0]["deleted"] == 2,
              "flush --wait: one job, 2 entries deleted")
        check(w.count("10.0.1.2") == 18, "exactly those 2 entries are gone from the kernel")
        jobs = w.ctl("jobs")
        check(jobs["finished"][0]["origin"] == "manual" and jobs["finished"][0]["state"] == "done",
              "jobs --json shows the manual job done")

        res = w.ctl("set-ips", "tap1", "10.0.1.1,fd00::1")
        check(res["ips"] == ["10.0.1.1", "fd00::1"], "set-ips answers with the IPs")
        check(w.ctl("pause")["paused"] is True and w.ctl("status")["paused"] is True, "pause")
        check(w.ctl("resume")["paused"] is False and w.ctl("status")["paused"] is False, "resume")
        m = w.ctl_raw("metrics", json_out=False).stdout
        check("ctflushd_jobs_done_total 1" in m and "ctflushd_job_duration_seconds_count 1" in m,
              "metrics: Prometheus text with the job counted")
        check("text" in w.ctl("metrics"), "metrics --json")
        check(w.ctl("reload")["reloaded"] is True, "reload")
        r = w.ctl_raw("cancel", "9999")
        check(r.returncode == 1 and "no such job" in r.stderr, "cancel of an unknown job: exit 1")
        r = w.ctl_raw("flush", "--local", "10.0.1.300")
        check(r.returncode == 2, "a bad address is a usage error: exit 2")
        r = w.ctl_raw("frobnicate")
        check(r.returncode == 2, "an unknown command: exit 2")
        r = subprocess.run([w.ctflushctl, "--socket", w.tmp + "/nothing.sock", "status"],
                           capture_output=True, text=True)
        check(r.returncode == 3 and "nothing.sock" in r.stderr, "no daemon: exit 3")


def t_wait_failure():
    with World(BUILD, "waitf") as w:
        w.fill(entries_for(["10.0.2.1"], PEERS))
        w.start_daemon()
        # Force a strategy that cannot express a CIDR job: the engine refuses
        # it, the job fails for good, and --wait says so.
        with open(w.config, "w") as f:
            f.write("strategy = filtered-flush\nmax-attempts = 1\n")
        check(w.ctl("reload")["reloaded"], "reload picks up the config file")
        r = w.ctl_raw("flush", "--local", "10.0.2.0/24", "--wait")
        check(r.returncode == 1, "flush --wait of a failing job exits 1")
        end = json.loads(r.stdout)
        check(end["ok"] is False and end["jobs"][0]["state"] == "failed" and end["jobs"][0]["error"],
              "the end event says failed, with the reason")
        check(w.count("10.0.2.1") == 20, "nothing was deleted")
        check(w.ctl("status")["jobs_failed"] == 1, "status counts the failure")
        with open(w.config, "w") as f:
            f.write("# defaults\n")
        w.ctl("reload")
        res = w.ctl("flush", "--local", "10.0.2.0/24", "--wait")
        check(res["ok"] and w.count("10.0.2.1") == 0, "after reload the same job succeeds")


def big_world(name, extra=()):
    w = World(BUILD, name, daemon_args=["--max-delete-rate", "20000"] + list(extra))
    w.fill_gen("total=150000,locals=200,peers=500,seed=7")
    w.start_daemon()
    return w


def t_pause_cancel():
    with big_world("pause") as w:
        w.ctl("pause")
        a = w.ctl("flush", "--local", "10.1.0.1")["jobs"][0]
        b = w.ctl("flush", "--local", "10.1.0.2")["jobs"][0]
        time.sleep(0.3)
        st = w.ctl("status")
        check(st["paused"] and st["queue_depth"] == 2 and st["running"] is None,
              "paused: both jobs stay queued")
        check(w.ctl("cancel", str(b))["state"] == "cancelled", "cancel a queued job")
        big = w.ctl("flush", "--local", "10.1.0.0/24")["jobs"][0]
        w.ctl("resume")
        wait_for(lambda: (w.ctl("status")["running"] or {}).get("id") == big, 10 * SLOW,
                 "the big job to run")
        res = w.ctl("pause", "--now")
        check(res["requeued"] == big, "pause --now stops the running job and requeues it")
        st = w.ctl("status")
        check(st["running"] is None and any(j["id"] == big for j in w.jobs()["queued"]),
              "the big job is queued again")
        w.ctl("resume")
        w.wait_idle(120 * SLOW)
        hist = {j["id"]: j for j in w.jobs()["finished"]}
        check(hist[a]["state"] == "done" and hist[b]["state"] == "cancelled"
              and hist[big]["state"] == "done", "a done, b cancelled, big done after resume")
        check(w.count("10.1.0.1") == 0 and w.count("10.1.0.5") == 0, "and its entries are gone")


def t_bad_requests():
    with World(BUILD, "badreq") as w:
        w.start_daemon()
        cases = [
            (b"not json\n", "bad-request"),
            (b'{"cmd":"frobnicate"}\n', "unknown-command"),
            (b'{"cmd":"flush","local":"10.0.0.1","zone":65536}\n', "bad-request"),
            (b'{"cmd":"flush","local":"@/etc/passwd"}\n', "bad-request"),
            (b'{"cmd":"flush","local":"any","peers":"any"}\n', "bad-request"),
            (b'[1,2,3]\n', "bad-request"),
            (b'{"cmd":"status"' + b' ' * 70000 + b'}\n', "too-large"),
        ]
        for data, code in cases:
            replies = w.request(data)
            check(replies and replies[0]["ok"] is False and replies[0]["error"]["code"] == code,
                  "%r... -> %s" % (data[:30], code))
        # Cut off mid-request: the client goes away; the daemon must not care.
        s = socket.socket(socket.AF_UNIX)
        s.connect(w.ctl_sock)
        s.sendall(b'{"cmd":"sta')
        s.close()
        check(w.ctl("status")["ports"] >= 0, "the daemon still answers after all of it")


def t_non_root():
    with World(BUILD, "nonroot", daemon_args=["--control-mode", "0666"]) as w:
        os.chmod(w.tmp, 0o711)     # mkdtemp's 0700 would stop nobody at the door
        w.start_daemon()
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                  w.ctflushctl, "--socket", w.ctl_sock, "--json"]
        r = subprocess.run(nobody + ["status"], capture_output=True, text=True)
        check(r.returncode == 0 and json.loads(r.stdout)["paused"] is False,
              "a non-root peer may read status")
        for cmd in (["pause"], ["flush", "--local", "10.0.0.1"], ["set-ips", "x", "10.0.0.1"],
                    ["reload"], ["cancel", "1"]):
            r = subprocess.run(nobody + cmd, capture_output=True, text=True)
            check(r.returncode == 1 and "forbidden" in (r.stderr + r.stdout),
                  "a non-root peer may not %s" % cmd[0])
        check(w.ctl("status")["paused"] is False and not w.jobs()["queued"],
              "and nothing changed")


def t_concurrency():
    with big_world("conc") as w:
        job = w.ctl("flush", "--local", "10.1.0.0/24")["jobs"][0]
        wait_for(lambda: (w.ctl("status")["running"] or {}).get("id") == job, 10 * SLOW,
                 "the big flush to run")
        stuck = socket.socket(socket.AF_UNIX)
        stuck.connect(w.ctl_sock)
        stuck.sendall(b'{"cmd":"status"')      # and never the rest
        results, errors = [], []

        def client():
            try:
                t0 = time.monotonic()
                r = w.request({"cmd": "status"}, timeout=10)
                results.append((time.monotonic() - t0, r[0]))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=client) for _ in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stuck.close()
        check(not errors and len(results) == 100 and all(r["ok"] for _, r in results),
              "100 concurrent status requests all answered (%d errors)" % len(errors))
        still = w.ctl("status")["running"]
        check(still is not None and still["id"] == job,
              "...while the flush was still running (none waited on it)")
        worst = max(t for t, _ in results)
        print("     slowest of 100 concurrent status replies: %.3f s" % worst)


def t_sd_notify():
    with World(BUILD, "notify") as w:
        path = os.path.join(w.tmp, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(0.2)
        got = []

        def drain(until, want):
            deadline = time.monotonic() + until
            while time.monotonic() < deadline and want not in got:
                try:
                    got.extend(sock.recv(4096).decode().split("\n"))
                except socket.timeout:
                    pass
            return want in got

        w.start_daemon(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
        check(drain(10, "READY=1"), "READY=1 received")
        check(drain(3, "WATCHDOG=1"), "WATCHDOG=1 received")
        # Keep reading while the daemon stops: its WATCHDOG=1 pings would
        # otherwise fill the datagram queue (net.unix.max_dgram_qlen, 10
        # by default) during a slow (valgrind) shutdown, and a full queue
        # drops STOPPING=1 as systemd's never-full one would not.
        stopping = []
        reader = threading.Thread(target=lambda: stopping.append(drain(30 * SLOW, "STOPPING=1")))
        reader.start()
        rc = w.stop_daemon(signal.SIGTERM)
        reader.join()
        check(stopping == [True], "STOPPING=1 received")
        check(rc == 0, "clean exit (exit status %r)" % (rc,))
        sock.close()


TESTS = [
    ("commands", t_commands),
    ("wait", t_wait_failure),
    ("pause-cancel", t_pause_cancel),
    ("bad-requests", t_bad_requests),
    ("non-root", t_non_root),
    ("concurrency", t_concurrency),
    ("sd-notify", t_sd_notify),
]

if __name__ == "__main__":
    run_tests(TESTS)
