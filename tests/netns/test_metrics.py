#!/usr/bin/python3
"""GET /metrics from the daemon, and Debian's Prometheus scraping it.

The daemon runs in a World (private ovsdb-server, a network namespace with
its own conntrack table) with metrics-listen on 127.0.0.1 inside that
namespace, whose loopback is brought up; the test talks to it from a thread
that joined the namespace, and runs promtool and prometheus as Debian ships
them.

  http        GET /metrics: 200, the exposition content type, and the text
              `ctflushctl metrics` prints (same lines; same values but for
              the clock and the control socket's own counters); HEAD; 404
              for another path, 405 with Allow for another method, 400 for
              headers over 8 KiB, 413 for a body, and the endpoint serving
              on after each; keep-alive; status names the address and counts
              the scrapes; `promtool check metrics` passes on the body
  prometheus  prometheus (temp config, scrape interval 1 s, temp storage,
              its own port) scrapes the daemon: up == 1 through its HTTP
              API; then a port is deleted and its entries leave the kernel
              table, and the API shows ctflushd_jobs_done_total up by one,
              ctflushd_entries_deleted_total up by exactly what the job
              deleted, and ctflushd_port_removals_total up by one
  bind-fail   the port taken: the daemon exits 1 and says which address and
              why, and leaves no control socket behind

    test_metrics.py BUILD_DIR
"""

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctfd_world import (SCALE, Failure, World, check, entries_for, run_tests, skip,  # noqa: E402
                        wait_for)

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
PEERS = ["10.9.0.%d" % j for j in range(1, 11)]
# Inside the World's own network namespace every port is free.
METRICS_PORT = 9462
PROM_PORT = 9090
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def in_netns(ns, fn, *args):
    """fn(*args) on a thread that joined network namespace ns: sockets it
    opens are the namespace's (setns moves only the calling thread)."""
    out = {}

    def run():
        try:
            fd = os.open("/run/netns/" + ns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET):
                    e = ctypes.get_errno()
                    raise OSError(e, "setns: " + os.strerror(e))
            finally:
                os.close(fd)
            out["v"] = fn(*args)
        except BaseException as e:  # handed to the caller's thread
            out["e"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out["v"]


def raw_http(port, data, timeout=10):
    """Sends data, reads until the server closes; (status, headers, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout * SCALE)
    try:
        s.sendall(data)
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    return parse_response(buf)


def parse_response(buf):
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/1."):
        return None, {}, buf
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, body


def keep_alive(port, n):
    """n GETs on one connection; their (status, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10 * SCALE)
    out = []
    try:
        buf = b""
        for _ in range(n):
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: ctfd\r\n\r\n")
            while True:
                head, sep, rest = buf.partition(b"\r\n\r\n")
                if sep:
                    status, headers, _ = parse_response(head + sep)
                    length = int(headers["content-length"])
                    if len(rest) >= length:
                        out.append((status, rest[:length]))
                        buf = rest[length:]
                        break
                chunk = s.recv(65536)
                if not chunk:
                    raise Failure("the server closed a keep-alive connection")
                buf += chunk
    finally:
        s.close()
    return out


def samples(text):
    """{name{labels}: value} of an exposition, and its lines in order."""
    vals = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            vals[name] = value
    return vals


# Values that move between two reads on their own.
MOVING = ("ctflushd_uptime_seconds", "ctflushd_control_clients",
          "ctflushd_control_requests_total")


def metrics_world(name):
    w = World(BUILD, name)
    w.nsexec("ip", "link", "set", "lo", "up", check=True)
    return w


def t_http():
    with metrics_world("mhttp") as w:
        port = METRICS_PORT
        # From the config file this time (the other scenarios use the
        # option), so that a reload can change it.
        with open(w.config, "w") as f:
            f.write("metrics-listen = 127.0.0.1:%d\n" % port)
        w.start_daemon()
        get = b"GET /metrics HTTP/1.1\r\nHost: ctfd\r\nConnection: close\r\n\r\n"

        status, headers, body = in_netns(w.ns, raw_http, port, get)
        ctl = w.ctl_raw("metrics", json_out=False)
        check(status == 200 and headers.get("content-type") == CONTENT_TYPE,
              "GET /metrics: 200, Content-Type: " + CONTENT_TYPE)
        check(int(headers.get("content-length", -1)) == len(body),
              "Content-Length is the body's length (%d)" % len(body))
        text = body.decode("utf-8")
        check(ctl.returncode == 0, "ctflushctl metrics answers")
        http_lines = [l for l in text.splitlines() if l.startswith("#")]
        ctl_lines = [l for l in ctl.stdout.splitlines() if l.startswith("#")]
        check(http_lines == ctl_lines and len(http_lines) > 40,
              "the same %d HELP/TYPE lines as ctflushctl metrics, in order" % len(http_lines))
        a, b = samples(text), samples(ctl.stdout)
        check(list(a) == list(b), "the same %d samples, in order" % len(a))
        differ = [k for k in a if a[k] != b[k] and not k.startswith(MOVING)]
        check(not differ, "the same values but for the clock and the control socket's "
              "(differ: %s)" % differ)
        check(a["ctflushd_up"] == "1" and a["ctflushd_ports"] == "1",
              "ctflushd_up 1; ctflushd_ports 1 (br-int)")

        r = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True)
        check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
              "promtool check metrics has nothing to say (%s)"
              % (r.stdout + r.stderr).decode().strip())

        status, headers, hbody = in_netns(
            w.ns, raw_http, port, b"HEAD /metrics HTTP/1.1\r\nHost: ctfd\r\nConnection: close\r\n\r\n")
        check(status == 200 and hbody == b"" and headers.get("content-type") == CONTENT_TYPE
              and abs(int(headers.get("content-length", 0)) - len(body)) < 64,
              "HEAD: 200, the headers and GET's length, no body")

        for path in ("/", "/metric", "/metrics/", "/favicon.ico"):
            status, headers, b404 = in_netns(
                w.ns, raw_http, port,
                ("GET %s HTTP/1.1\r\nHost: ctfd\r\nConnection: close\r\n\r\n" % path).encode())
            check(status == 404 and b404 == b"Not found: ctflushd serves /metrics only.\n",
                  "GET %s: 404" % path)
        for method in ("POST", "PUT", "DELETE", "OPTIONS"):
            status, headers, b405 = in_netns(
                w.ns, raw_http, port,
                ("%s /metrics HTTP/1.1\r\nHost: ctfd\r\nContent-Length: 0\r\n"
                 "Connection: close\r\n\r\n" % method).encode())
            check(status == 405 and headers.get("allow") == "GET, HEAD",
                  "%s /metrics: 405, Allow: GET, HEAD" % method)
        big = b"GET /metrics HTTP/1.1\r\nHost: ctfd\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n"
        status, _, _ = in_netns(w.ns, raw_http, port, big)
        check(status == 400, "headers over 8 KiB: 400")
        status, _, _ = in_netns(w.ns, raw_http, port,
                                b"POST /metrics HTTP/1.1\r\nHost: ctfd\r\nContent-Length: 5"
                                b"\r\nConnection: close\r\n\r\nhello")
        check(status == 413, "a request body: 413")
        status, _, body2 = in_netns(w.ns, raw_http, port, get)
        check(status == 200 and samples(body2.decode())["ctflushd_up"] == "1",
              "and GET /metrics still serves")
        replies = in_netns(w.ns, keep_alive, port, 3)
        check([s for s, _ in replies] == [200] * 3, "three scrapes on one kept-alive connection")

        st = w.ctl("status")
        mh = st.get("metrics_http") or {}
        check(mh.get("listen") == "127.0.0.1:%d" % port
              and mh.get("address") == "127.0.0.1:%d" % port,
              "status: metrics_http listen and address 127.0.0.1:%d" % port)
        check(mh.get("scrapes") == 6 and mh.get("not_found") == 4 and mh.get("bad_method") == 4,
              "status counts 6 scrapes, 4 not found, 4 bad methods (got %s)" % mh)
        text_status = w.ctl_raw("status", json_out=False).stdout
        check("metrics http: http://127.0.0.1:%d/metrics, 6 scrapes" % port in text_status,
              "ctflushctl status shows the endpoint")
        # A reload keeps the endpoint where it is and says a restart is
        # needed to move it.
        with open(w.config, "w") as f:
            f.write("metrics-listen = 127.0.0.1:%d\n" % (port + 1))
        r = w.ctl("reload")
        check(r.get("reloaded") is True and r.get("restart_needed") == "metrics-listen"
              and "needs a restart to change: metrics-listen" in r.get("message", ""),
              "reload: 'needs a restart to change: metrics-listen' (%s)" % r.get("message"))
        status, _, _ = in_netns(w.ns, raw_http, port, get)
        check(status == 200, "and the endpoint stays on its address")


def prom_query(port, query):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": query}))
    with urllib.request.urlopen(url, timeout=5 * SCALE) as r:
        j = json.load(r)
    if j.get("status") != "success":
        raise Failure("prometheus: %s: %s" % (query, j))
    return j["data"]["result"]


def prom_value(port, query):
    """The single sample's value, or None while there is none."""
    res = prom_query(port, query)
    return float(res[0]["value"][1]) if len(res) == 1 else None


def prom_ready(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % port, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


class Prometheus:
    """Debian's prometheus in the World's namespace, on a temp config and
    storage; stopped (SIGTERM, then SIGKILL) on every way out."""

    def __init__(self, w, target_port):
        self.w = w
        self.dir = os.path.join(w.tmp, "prometheus")
        os.makedirs(os.path.join(self.dir, "data"))
        self.config = os.path.join(self.dir, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: ctflushd\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % target_port)
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.w.ns, PROMETHEUS, "--config.file=" + self.config,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % PROM_PORT, "--log.level=warn"],
            stdout=self.log, stderr=self.log, cwd=self.dir)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.log.close()

    def log_tail(self):
        with open(os.path.join(self.dir, "prometheus.log"), errors="replace") as f:
            return "".join(f.readlines()[-20:])


def t_prometheus():
    if not os.access(PROMETHEUS, os.X_OK):
        skip(PROMETHEUS + " is not installed (Debian's prometheus package)")
    ips = ["10.0.7.%d" % i for i in range(1, 4)]
    with metrics_world("mprom") as w:
        for i, ip in enumerate(ips):
            w.add_port("tap%d" % i, iface_ids={"iface-id": "vm%d" % i, "ip": ip})
        w.fill(entries_for(ips, PEERS, per_pair=3))
        w.start_daemon(["--metrics-listen", "127.0.0.1:%d" % METRICS_PORT])
        prom = Prometheus(w, METRICS_PORT)
        try:
            prom.start()
            q = lambda query: in_netns(w.ns, prom_value, PROM_PORT, query)  # noqa: E731
            wait_for(lambda: prom.proc.poll() is None and in_netns(w.ns, prom_ready, PROM_PORT),
                     60 * SCALE, "prometheus to be ready")
            check(True, "prometheus is ready")
            wait_for(lambda: q('up{job="ctflushd"}') == 1, 30 * SCALE,
                     "prometheus to scrape ctflushd (up == 1)")
            check(True, "prometheus scrapes ctflushd: up{job=\"ctflushd\"} == 1")
            check(q('ctflushd_up{job="ctflushd",instance="127.0.0.1:%d"}' % METRICS_PORT) == 1,
                  "ctflushd_up == 1, with prometheus's job and instance labels")
            st = w.wait_idle()
            jobs0 = q("ctflushd_jobs_done_total")
            deleted0 = q("ctflushd_entries_deleted_total")
            removals0 = q("ctflushd_port_removals_total")
            check(jobs0 == st["jobs_done"] and deleted0 == st["entries_deleted"],
                  "before: prometheus has jobs_done %s and entries_deleted %s, as status says"
                  % (jobs0, deleted0))

            w.del_ports(["tap0"])
            wait_for(lambda: w.count(ips[0]) == 0, 10 * SCALE, "tap0's entries to go")
            check(w.count(ips[1]) == 30 and w.count(ips[2]) == 30,
                  "tap0's 30 entries left the kernel table, the others' stayed")
            st = w.wait_idle()
            job = [j for j in w.jobs()["finished"] if j["origin"] == "port-remove"]
            check(len(job) == 1 and job[0]["deleted"] == 30, "one port-remove job, 30 deleted")

            wait_for(lambda: q("ctflushd_jobs_done_total") == jobs0 + 1, 20 * SCALE,
                     "prometheus to see the job")
            check(True, "prometheus: ctflushd_jobs_done_total %s -> %s" % (jobs0, jobs0 + 1))
            wait_for(lambda: q("ctflushd_entries_deleted_total") == deleted0 + 30, 20 * SCALE,
                     "prometheus to see the 30 deletes")
            check(True, "prometheus: ctflushd_entries_deleted_total %s -> %s"
                  % (deleted0, deleted0 + 30))
            check(q("ctflushd_port_removals_total") == removals0 + 1,
                  "prometheus: ctflushd_port_removals_total up by one")
            # Through the PromQL a dashboard would use.
            inc = q("max_over_time(ctflushd_entries_deleted_total[1m])"
                    " - min_over_time(ctflushd_entries_deleted_total[1m])")
            check(inc == 30, "max - min over the last minute of entries_deleted is 30 (%s)" % inc)
            check(q("ctflushd_job_duration_seconds_count") >= jobs0 + 1,
                  "the job duration histogram counted it")
        except Failure:
            print("---- prometheus log ----\n" + prom.log_tail(), file=sys.stderr)
            raise
        finally:
            prom.stop()


def t_bind_fail():
    with metrics_world("mbind") as w:
        holder = in_netns(w.ns, lambda: socket.create_server(("127.0.0.1", METRICS_PORT)))
        try:
            d = w.start_daemon(["--metrics-listen", "127.0.0.1:%d" % METRICS_PORT], wait=False)
            try:
                rc = d.wait(60 * SCALE)
            except subprocess.TimeoutExpired:
                raise Failure("the daemon did not exit with its port taken")
            finally:
                w.daemon = None
                w.daemon_exits.append((d.pid, d.returncode))
            check(rc == 1, "the daemon exits 1 (got %s)" % rc)
            want = "metrics-listen 127.0.0.1:%d: bind: Address already in use" % METRICS_PORT
            check(want in w.log_text(), "and says: " + want)
            check(not os.path.exists(w.ctl_sock), "its control socket is gone again")
        finally:
            holder.close()


if __name__ == "__main__":
    if not shutil.which(PROMTOOL):
        skip(PROMTOOL + " is not installed (Debian's prometheus package)")
    run_tests([("http", t_http), ("prometheus", t_prometheus), ("bind-fail", t_bind_fail)])
