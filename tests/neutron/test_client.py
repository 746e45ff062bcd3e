"""ctflushd.client against a real daemon (tests/netns/ctfd_world.py), against
peers that misbehave, and under eventlet.

Usage: /usr/bin/python3 test_client.py BUILD_DIR (as root; 77 without the
World's tools or Debian's python3 with eventlet).

Scenarios (CTFD_ONLY=name,...):
  commands    status, jobs, ports, set_ips, flush (queued, and waited for with
              its events), flush_many pipelining 400 requests on one connection
              with a bad one among them, the socket from $CTFLUSHD_SOCKET
  errors      typed errors: Unreachable, DaemonError with its code, a request over
              max-request-bytes, the daemon closing after too-large
  peers       a peer that never answers (Timeout within the deadline), one that
              sends garbage (ProtocolError), one that hangs up (Unreachable), one
              whose backlog is full (Timeout at connect)
  eventlet    the same client monkey-patched: other green threads run while it
              waits, its timeouts hold, and it talks to the daemon
"""

import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nlib  # noqa: E402
from nlib import Failure, check  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
_world = None


def world():
    global _world
    if _world is None:
        _world = nlib.ctfd_world.World(BUILD, "pycli")
        _world.start_daemon()
    return _world


def expect(exc_type, fn, what):
    try:
        fn()
    except exc_type as e:
        check(True, "%s: %s (%s)" % (what, type(e).__name__, e))
        return e
    except Exception as e:
        raise Failure("%s: wanted %s, got %s: %s" % (what, exc_type.__name__,
                                                     type(e).__name__, e))
    raise Failure("%s: wanted %s, nothing was raised" % (what, exc_type.__name__))


def test_commands():
    from ctflushd import client
    w = world()
    c = client.Client(w.ctl_sock, timeout=5)
    st = c.status()
    check(isinstance(st.get("pid"), int) and st.get("version"), "status: pid %s, version %s"
          % (st.get("pid"), st.get("version")))
    old = os.environ.get("CTFLUSHD_SOCKET")
    os.environ["CTFLUSHD_SOCKET"] = w.ctl_sock
    try:
        check(client.Client().status()["pid"] == st["pid"],
              "without a path the client takes $CTFLUSHD_SOCKET")
    finally:
        if old is None:
            del os.environ["CTFLUSHD_SOCKET"]
        else:
            os.environ["CTFLUSHD_SOCKET"] = old
    check(client.socket_path(None) == (old or client.DEFAULT_SOCKET), "else the default")
    w.add_port("tap-cli1", iface_ids={"iface-id": "cli-1"})
    r = c.set_ips("tap-cli1", ["10.3.0.5", "fd00:3::5"], zone=7, migrating=False)
    check(sorted(r["ips"]) == ["10.3.0.5", "fd00:3::5"], "set_ips: %s" % r)
    row = [p for p in c.ports() if p["name"] == "tap-cli1"]
    check(row and sorted(row[0]["ips"]) == ["10.3.0.5", "fd00:3::5"], "ports shows them")
    w.wait_idle()
    w.fill(nlib.ctfd_world.entries_for(["10.3.0.9"], ["10.4.0.1", "10.4.0.2"], 5))
    q = c.flush(["10.3.0.9"], ["10.4.0.1"])
    check(isinstance(q.get("jobs"), list) and q["jobs"], "flush, not waiting: jobs %s"
          % q.get("jobs"))
    events = []
    end = c.flush(["10.3.0.9"], "any", wait=True, timeout=60, on_event=events.append)
    check(end.get("event") == "end" and end.get("ok") is True,
          "flush with wait: the end event, ok (%d events before it)" % len(events))
    check(events and events[0].get("event") == "queued", "on_event saw the reply and events")
    w.wait_idle()
    check(w.count("10.3.0.9") == 0, "and the entries are gone")
    jobs = c.jobs(limit=5)
    check(len(jobs["finished"]) <= 5 and jobs["finished"], "jobs(limit=5): %d finished"
          % len(jobs["finished"]))
    # Many flushes pipelined, with the daemon paused so that none of them
    # runs: they are cancelled again, pipelined too.
    c.request({"cmd": "pause"})
    reqs = [client.flush_request(["10.5.%d.%d" % (i // 250, i % 250 + 1)], "any", zone=9)
            for i in range(400)]
    reqs[123] = client.flush_request(["10.5.0.300"], "any")
    t0 = time.monotonic()
    outs = c.flush_many(reqs, timeout=30)
    dt = time.monotonic() - t0
    bad = outs[123]
    good = [o for i, o in enumerate(outs) if i != 123]
    check(len(outs) == 400 and all(isinstance(o, dict) and "jobs" in o for o in good),
          "flush_many: 399 requests pipelined on one connection queued (%.0f ms)" % (dt * 1000))
    check(isinstance(bad, client.DaemonError) and bad.code == "bad-request",
          "the bad one among them: DaemonError %s (%s)" % (getattr(bad, "code", bad),
                                                          getattr(bad, "message", "")))
    ids = sorted({j for o in good for j in o["jobs"]})
    queued = {j["id"] for j in c.jobs(limit=0)["queued"]}
    check(ids and set(ids) <= queued, "their %d jobs are queued" % len(ids))
    cancels = c.pipeline([{"cmd": "cancel", "id": j} for j in ids])
    check(all(isinstance(o, dict) and o.get("state") == "cancelled" for o in cancels),
          "and cancelled again, %d cancels pipelined" % len(cancels))
    c.request({"cmd": "resume"})
    w.del_ports(["tap-cli1"])
    w.wait_idle()
    with c.connect() as conn:
        a = conn.request({"cmd": "status"})
        b = conn.request({"cmd": "ports"})
    check(a["pid"] == st["pid"] and "ports" in b, "a Connection carries requests in a row")


def test_errors():
    from ctflushd import client
    w = world()
    missing = os.path.join(w.tmp, "nothing-here.sock")
    e = expect(client.Unreachable, lambda: client.Client(missing).status(), "missing socket")
    check(isinstance(e, client.Error), "Unreachable is a client.Error")
    c = client.Client(w.ctl_sock, timeout=5)
    e = expect(client.DaemonError, lambda: c.request({"cmd": "nope"}), "unknown command")
    check(e.code == "unknown-command", "its code: %s" % e.code)
    e = expect(client.DaemonError, lambda: c.flush(["not-an-ip"]), "bad address")
    check(e.code == "bad-request" and e.message, "code bad-request, message %r" % e.message)
    big = client.flush_request(["10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255)
                                for i in range(8000)], "any", zone=3)
    expect(ValueError, lambda: c.request(big), "a request over max-request-bytes is refused "
           "before it is sent")
    loose = client.Client(w.ctl_sock, timeout=5, max_request_bytes=1 << 20)
    outs = loose.pipeline([{"cmd": "status"}, big, {"cmd": "status"}])
    check(isinstance(outs[0], dict), "pipeline: the request before is answered")
    check(isinstance(outs[1], client.DaemonError) and outs[1].code == "too-large",
          "the long line: DaemonError too-large")
    check(isinstance(outs[2], client.Unreachable),
          "the one after it: Unreachable (the daemon closed the connection)")


def _server(path, mode, tmp):
    """A unix peer that misbehaves: 'silent' accepts into the backlog and
    never answers, 'garbage' answers nonsense, 'hangup' closes at once."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(0 if mode == "full" else 16)
    if mode in ("silent", "full"):
        return s, None

    def serve():
        while True:
            try:
                conn, _ = s.accept()
            except OSError:
                return
            if mode == "garbage":
                conn.recv(4096)
                conn.sendall(b"this is not json\n")
            conn.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return s, t


def test_peers():
    from ctflushd import client
    tmp = world().tmp
    for mode, exc, what in (("silent", client.Timeout, "a peer that never answers"),
                            ("garbage", client.ProtocolError, "a peer that sends garbage"),
                            ("hangup", client.Unreachable, "a peer that hangs up")):
        path = os.path.join(tmp, mode + ".sock")
        s, _ = _server(path, mode, tmp)
        try:
            t0 = time.monotonic()
            expect(exc, lambda: client.Client(path, timeout=0.3).status(), what)
            dt = time.monotonic() - t0
            check(dt < 0.3 + 0.2, "returned after %.0f ms (timeout 300 ms)" % (dt * 1000))
        finally:
            s.close()
            os.unlink(path)
    path = os.path.join(tmp, "full.sock")
    s, _ = _server(path, "full", tmp)
    held = []
    try:
        # Fill the backlog; then connect itself must time out.
        for _ in range(4):
            h = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            h.setblocking(False)
            try:
                h.connect(path)
            except (BlockingIOError, OSError):
                pass
            held.append(h)
        t0 = time.monotonic()
        expect(client.Timeout, lambda: client.Client(path, timeout=0.3).status(),
               "a peer whose backlog is full")
        check(time.monotonic() - t0 < 0.5, "connect gave up within its deadline")
    finally:
        for h in held:
            h.close()
        s.close()
        os.unlink(path)


def eventlet_child(sock_path, silent_path):
    """Runs in a child: monkey-patched as the neutron agent is."""
    import eventlet
    eventlet.monkey_patch()
    from ctflushd import client
    ticks = [0]

    def ticker():
        while True:
            eventlet.sleep(0.01)
            ticks[0] += 1
    eventlet.spawn_n(ticker)
    st = client.Client(sock_path, timeout=5).status()
    assert isinstance(st["pid"], int), st
    print("ok   under eventlet: status from the daemon (pid %d)" % st["pid"])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(silent_path)
    s.listen(16)
    t0, before = time.monotonic(), ticks[0]
    try:
        client.Client(silent_path, timeout=0.5).status()
        raise SystemExit("FAIL: no Timeout from a silent peer under eventlet")
    except client.Timeout:
        pass
    dt, ran = time.monotonic() - t0, ticks[0] - before
    print("ok   a silent peer: Timeout after %.0f ms; another green thread ran %d times "
          "meanwhile" % (dt * 1000, ran))
    if not (0.45 < dt < 0.8) or ran < 20:
        raise SystemExit("FAIL: the wait blocked the hub or missed its deadline")
    results = []

    def worker(i):
        results.append(client.Client(sock_path, timeout=5).pipeline(
            [{"cmd": "status"}] * 50))
    pool = eventlet.GreenPool()
    for i in range(8):
        pool.spawn(worker, i)
    pool.waitall()
    ok = all(len(r) == 50 and all(isinstance(o, dict) for o in r) for r in results)
    print("ok   8 green threads pipelining 50 requests each" if ok else
          "FAIL: concurrent pipelines under eventlet: %r" % results[:1])
    sys.exit(0 if ok and len(results) == 8 else 1)


def test_eventlet():
    w = world()
    silent = os.path.join(w.tmp, "silent-ev.sock")
    r = subprocess.run([nlib.PYTHON, os.path.abspath(__file__), "--eventlet-child",
                        w.ctl_sock, silent], capture_output=True, text=True, timeout=60)
    sys.stdout.write(r.stdout)
    if r.returncode:
        raise Failure("the eventlet child exited %d: %s%s" % (r.returncode, r.stdout[-2000:],
                                                              r.stderr[-2000:]))
    check("FAIL" not in r.stdout, "the client works under eventlet")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--eventlet-child":
        return eventlet_child(sys.argv[2], sys.argv[3])
    nlib.ctfd_world.require_root_and_tools()
    if os.path.realpath(sys.executable) != os.path.realpath(nlib.PYTHON):
        nlib.skip("run with %s" % nlib.PYTHON)
    r = subprocess.run([nlib.PYTHON, "-c", "import eventlet"], capture_output=True)
    if r.returncode:
        nlib.skip("python3-eventlet is not installed (scripts/setup-neutron.sh)")
    nlib.install_package()
    tests = [("commands", test_commands), ("errors", test_errors), ("peers", test_peers),
             ("eventlet", test_eventlet)]
    try:
        nlib.ctfd_world.run_tests(tests)
    finally:
        if _world is not None:
            _world.close()


if __name__ == "__main__":
    main()
