"""A private world for ctflushd integration tests.

One World is: a temp dir, a private ovsdb-server serving an Open_vSwitch
database built from the installed schema, a network namespace whose
conntrack table the test fills, and ctflushd running in that namespace
against that server, with its control socket and state dir in the temp dir.

Everything a World starts it stops again in close(), which runs on every way
out (the tests use it as a context manager, and an atexit hook covers a
test killed by ctest's timeout with SIGTERM).

The checks read the kernel table with conntrack(8), not with ctflushd's own
code, so a bug in our dump path cannot hide a bug in our delete path.

CTFD_TIME_SCALE stretches the deadlines (a slow build checks the same
things). CTFD_DAEMON_WRAPPER is a command prefix for ctflushd, in shell
words, run inside the namespace: with valgrind, the harness sets --log-file
to a file per process in the World's temp dir (the daemon forks its watcher
and worker without exec, so valgrind follows them) and close() fails the
test on any error or definite/indirect leak found there:

    CTFD_DAEMON_WRAPPER="valgrind --leak-check=full \
        --errors-for-leak-kinds=definite,indirect" CTFD_TIME_SCALE=10 ...

CTFD_ONLY=NAME[,NAME...] runs only those scenarios of a test file.

Standard library only: CI runs it with Debian's python3.
"""

import atexit
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
SKIP = 77
SCALE = float(os.environ.get("CTFD_TIME_SCALE", "1"))
WRAPPER = shlex.split(os.environ.get("CTFD_DAEMON_WRAPPER", ""))
VALGRIND = bool(WRAPPER) and os.path.basename(WRAPPER[0]) == "valgrind"

_live_worlds = []


def skip(why):
    print("SKIP: " + why, file=sys.stderr)
    sys.exit(SKIP)


def require_root_and_tools():
    if os.geteuid() != 0:
        skip("needs root")
    for tool in ("ovsdb-server", "ovsdb-tool", "ovs-vsctl", "conntrack", "ip"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            skip(tool + " is not installed")
    if not os.path.exists(SCHEMA):
        skip(SCHEMA + " is missing")


def _close_all():
    # An exception in an atexit hook does not change the exit status, and a
    # valgrind finding must never pass for a success.
    failed = False
    for w in list(_live_worlds):
        try:
            w.close()
        except Failure as e:
            print("FAIL at exit: %s" % e, file=sys.stderr, flush=True)
            failed = True
    if failed:
        sys.stdout.flush()
        os._exit(1)


atexit.register(_close_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)
    print("ok   " + what, flush=True)


def wait_for(pred, timeout, what, interval=0.05):
    """Polls pred() until it is true; returns its value or raises."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise Failure("timed out after %.1f s waiting for %s (last: %r)" % (timeout, what, last))


_ENTRY_ADDR = re.compile(r"\b(src|dst)=([0-9a-fA-F.:]+)")
_ENTRY_ZONE = re.compile(r"\bzone=(\d+)")


class World:
    def __init__(self, build, name, daemon_args=(), ovsdb=True):
        self.build = build
        self.ctflushd = os.path.join(build, "ctflushd")
        self.ctflushctl = os.path.join(build, "ctflushctl")
        self.ctfill = os.path.join(build, "ctfill")
        self.tmp = tempfile.mkdtemp(prefix="ctfd-%s." % name)
        self.ns = ("ctfd%d%s" % (os.getpid(), name))[:15]
        self.db_sock = os.path.join(self.tmp, "db.sock")
        self.ctl_sock = os.path.join(self.tmp, "ctflushd.sock")
        self.state_dir = os.path.join(self.tmp, "state")
        self.config = os.path.join(self.tmp, "ctflushd.conf")
        self.daemon_args = list(daemon_args)
        self.daemon = None
        self.daemon_log = None
        self.daemon_exits = []      # (pid, returncode) of each daemon run
        self.ovsdb_pid = None
        self.env = dict(os.environ, OVS_RUNDIR=self.tmp, OVS_LOGDIR=self.tmp,
                        OVS_DBDIR=self.tmp, OVS_SYSCONFDIR=self.tmp)
        self.env["PATH"] = self.env.get("PATH", "") + ":/usr/sbin:/sbin"
        open(self.config, "w").close()
        _live_worlds.append(self)
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        if ovsdb:
            subprocess.run(["ovsdb-tool", "create", os.path.join(self.tmp, "conf.db"), SCHEMA],
                           check=True, env=self.env)
            self.start_ovsdb()
            self.vsctl("init")
            self.vsctl("add-br", "br-int")

    # ovsdb-server
    def start_ovsdb(self):
        pidfile = os.path.join(self.tmp, "ovsdb.pid")
        subprocess.run(["ovsdb-server", "--remote=punix:" + self.db_sock,
                        "--unixctl=" + os.path.join(self.tmp, "ovsdb.ctl"),
                        "--pidfile=" + pidfile, "--detach", "--no-chdir",
                        "--log-file=" + os.path.join(self.tmp, "ovsdb.log"),
                        os.path.join(self.tmp, "conf.db")], check=True, env=self.env)
        with open(pidfile) as f:
            self.ovsdb_pid = int(f.read().strip())

    def stop_ovsdb(self):
        if self.ovsdb_pid:
            _kill_wait(self.ovsdb_pid, signal.SIGTERM)
            self.ovsdb_pid = None
        try:
            os.unlink(self.db_sock)
        except FileNotFoundError:
            pass

    def vsctl(self, *args):
        r = subprocess.run(["ovs-vsctl", "--db=unix:" + self.db_sock, "--no-wait", "--timeout=10"]
                           + list(args), env=self.env, capture_output=True, text=True)
        if r.returncode:
            raise Failure("ovs-vsctl %s: %s" % (" ".join(args), r.stderr.strip()))
        return r.stdout

    def add_port(self, name, iface_ids=None, port_ids=None, tag=None, bridge="br-int"):
        cmd = ["add-port", bridge, name]
        if tag is not None:
            cmd.append("tag=%d" % tag)
        for k, v in (port_ids or {}).items():
            cmd.append('external_ids:%s="%s"' % (k, v))
        cmd += ["--", "set", "Interface", name, "type=internal"]
        for k, v in (iface_ids or {}).items():
            cmd.append('external_ids:%s="%s"' % (k, v))
        self.vsctl(*cmd)

    def del_ports(self, names, bridge="br-int"):
        cmd = []
        for n in names:
            cmd += ["--", "del-port", bridge, n]
        self.vsctl(*cmd[1:])

    # The namespace's conntrack table.
    def nsexec(self, *cmd, **kw):
        return subprocess.run(["ip", "netns", "exec", self.ns] + list(cmd), **kw)

    def fill(self, lines):
        r = self.nsexec(self.ctfill, "-q", "--from", "-", input="\n".join(lines) + "\n",
                        text=True, capture_output=True)
        if r.returncode:
            raise Failure("ctfill: " + r.stderr)

    def fill_gen(self, spec):
        r = self.nsexec(self.ctfill, "-q", "--gen", spec, capture_output=True, text=True)
        if r.returncode:
            raise Failure("ctfill: " + r.stderr)

    def entries(self):
        """Every entry as (set of addresses, zone)."""
        r = self.nsexec("conntrack", "-L", capture_output=True, text=True)
        out = []
        for line in r.stdout.splitlines():
            addrs = {m.group(2) for m in _ENTRY_ADDR.finditer(line)}
            if not addrs:
                continue
            z = _ENTRY_ZONE.search(line)
            out.append((addrs, int(z.group(1)) if z else 0))
        return out

    def count(self, ip=None, zone=None, entries=None):
        n = 0
        for addrs, z in (entries if entries is not None else self.entries()):
            if (ip is None or ip in addrs) and (zone is None or zone == z):
                n += 1
        return n

    def total(self):
        r = self.nsexec(self.ctfill, "--count", capture_output=True, text=True)
        return int(r.stdout.split()[0])

    # The daemon.
    def start_daemon(self, extra=(), env=None, wait=True):
        if self.daemon_log is None:
            self.daemon_log = open(os.path.join(self.tmp, "ctflushd.log"), "a")
        args = ["ip", "netns", "exec", self.ns] + self.wrapper() + [
            self.ctflushd, "--config", self.config,
            "--ovsdb", "unix:" + self.db_sock, "--control", self.ctl_sock,
            "--state-dir", self.state_dir, "--log-level", "debug"]
        args += self.daemon_args + list(extra)
        self.daemon = subprocess.Popen(args, stdout=self.daemon_log, stderr=self.daemon_log,
                                       env=dict(self.env, **(env or {})))
        if wait:
            wait_for(lambda: self.try_status(), 20 * SCALE, "the daemon to answer status")
            wait_for(lambda: (self.ctl("status").get("ovsdb") or {}).get("synced"), 20 * SCALE,
                     "the daemon's first OVSDB snapshot")
            # The worker proves the kernel's features before its first job;
            # deadlines in the tests are about jobs, not about that. The
            # probe is bounded at 90 s (PROBE_TIMEOUT_MS): its walks cross
            # the host's whole conntrack hash, which other namespaces fill.
            wait_for(lambda: self.ctl("status")["worker"]["state"] in ("idle", "running"),
                     90 * SCALE, "the worker's probe")
        return self.daemon

    def wrapper(self):
        """CTFD_DAEMON_WRAPPER's words; valgrind logs each process here."""
        if not VALGRIND:
            return list(WRAPPER)
        if any(a.startswith(("--log-file", "--log-fd", "--log-socket", "--xml"))
               for a in WRAPPER):
            raise Failure("CTFD_DAEMON_WRAPPER: leave valgrind's output to the harness")
        # %p: the parent and each forked child write their own file. The
        # FIFOs for vgdb go here too: a SIGKILLed valgrind leaves them behind.
        extra = ["--log-file=" + os.path.join(self.tmp, "valgrind.%p.log")]
        if not any(a.startswith("--vgdb-prefix") for a in WRAPPER):
            extra.append("--vgdb-prefix=" + os.path.join(self.tmp, "vgdb"))
        return WRAPPER + extra

    def stop_daemon(self, sig=signal.SIGTERM, timeout=None):
        if not self.daemon:
            return None
        timeout = 10 * SCALE if timeout is None else timeout
        daemon, self.daemon = self.daemon, None
        daemon.send_signal(sig)
        try:
            rc = daemon.wait(timeout)
        except subprocess.TimeoutExpired:
            daemon.kill()
            rc = daemon.wait()
            raise Failure("ctflushd did not stop within %d s of signal %d" % (timeout, sig))
        finally:
            self.daemon_exits.append((daemon.pid, daemon.returncode))
        return rc

    def try_status(self):
        try:
            return self.ctl("status")
        except Failure:
            return None

    def ctl_raw(self, *args, json_out=True, input=None, timeout=60):
        cmd = [self.ctflushctl, "--socket", self.ctl_sock]
        if json_out:
            cmd.append("--json")
        return subprocess.run(cmd + list(args), capture_output=True, text=True, input=input,
                              timeout=timeout)

    def metric(self, name):
        """The value of one unlabelled sample in `ctflushctl metrics`."""
        r = self.ctl_raw("metrics", json_out=False)
        for line in r.stdout.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise Failure("no metric %s (exit %d)" % (name, r.returncode))

    def ctl(self, *args, timeout=60):
        r = self.ctl_raw(*args, timeout=timeout)
        if r.returncode:
            raise Failure("ctflushctl %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                         r.stderr.strip()))
        try:
            return json.loads(r.stdout)
        except ValueError as e:
            raise Failure("ctflushctl %s: not JSON (%s): %r" % (" ".join(args), e, r.stdout))

    def request(self, obj_or_bytes, timeout=10):
        """One raw request on the control socket; returns the reply lines."""
        data = obj_or_bytes if isinstance(obj_or_bytes, bytes) else \
            (json.dumps(obj_or_bytes) + "\n").encode()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.ctl_sock)
        s.sendall(data)
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        s.close()
        return [json.loads(l) for l in buf.decode().splitlines() if l.strip()]

    def jobs(self, limit=1000):
        return self.ctl("jobs", "--limit", str(limit))

    def wait_idle(self, timeout=None):
        timeout = 30 * SCALE if timeout is None else timeout
        def idle():
            st = self.ctl("status")
            return st if (not st["running"] and not st["queue_depth"]
                          and not st["batch_pending"]) else None
        return wait_for(idle, timeout, "the daemon to be idle")

    def log_text(self):
        try:
            with open(os.path.join(self.tmp, "ctflushd.log")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def close(self):
        """Stops everything and removes the temp dir; raises Failure (after
        all that) if the daemon would not stop or valgrind found a problem."""
        if self not in _live_worlds:
            return
        _live_worlds.remove(self)
        problems = []
        if self.daemon:
            # SIGTERM, not SIGKILL: every scenario ends through the daemon's
            # shutdown path, and under valgrind that is what checks for leaks.
            try:
                self.stop_daemon()
            except Failure as e:
                problems.append(str(e))
        self.stop_ovsdb()
        subprocess.run(["ip", "netns", "del", self.ns], stderr=subprocess.DEVNULL)
        if self.daemon_log:
            self.daemon_log.close()
        if VALGRIND:
            problems += self.valgrind_findings()
        if os.environ.get("CTFD_KEEP_TMP"):
            print("kept " + self.tmp, file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if problems:
            raise Failure("\n".join(problems))

    def valgrind_findings(self):
        """What the valgrind logs of this World's daemons report, as a list
        of messages with the log text; empty when clean."""
        findings = []
        exited = {pid for pid, rc in self.daemon_exits if rc is not None and rc >= 0}
        for path in sorted(_glob_logs(self.tmp)):
            pid = int(path.rsplit(".", 2)[-2])
            with open(path, errors="replace") as f:
                text = f.read()
            why = _valgrind_problems(text)
            # A process SIGKILLed (by a test, or a child by its parent)
            # leaves no summary, but the errors it met are in the log. A
            # parent that exited by itself must have been checked for leaks.
            if pid in exited and not _VG_SUMMARY.search(text):
                why.append("no ERROR SUMMARY though the daemon exited")
            if why:
                lines = text.splitlines()
                if len(lines) > 400:
                    lines = lines[:400] + ["... (%d more lines)" % (len(lines) - 400)]
                findings.append("valgrind: %s: %s\n%s" % (os.path.basename(path),
                                                          "; ".join(why), "\n".join(lines)))
        if self.daemon_exits and not any(_glob_logs(self.tmp)):
            findings.append("valgrind: the daemon ran but wrote no log in " + self.tmp)
        return findings

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            self.close()        # its Failure is the test's
            return False
        if not issubclass(et, SystemExit):
            sys.stderr.write("---- ctflushd log (last 60 lines) ----\n")
            sys.stderr.write("\n".join(self.log_text().splitlines()[-60:]) + "\n")
        try:
            self.close()
        except Failure as e:
            # The test already fails with its own error; show this one too.
            print("also: %s" % e, file=sys.stderr, flush=True)
        return False


def _glob_logs(tmp):
    return [os.path.join(tmp, n) for n in os.listdir(tmp)
            if n.startswith("valgrind.") and n.endswith(".log")]


_VG_SUMMARY = re.compile(r"^==\d+== ERROR SUMMARY: ([\d,]+) errors?", re.M)
_VG_LOST = re.compile(r"^==\d+== +(definitely|indirectly) lost: ([\d,]+) bytes", re.M)
# Memcheck's error kinds (mc_errors.c), each printed when it happens: a
# process killed later still has them in its log.
_VG_ERROR = re.compile(
    r"^==\d+== (Invalid (read|write|free)|Mismatched free|Use of uninitialised"
    r"|Conditional jump or move depends|Syscall param|Uninitialised byte"
    r"|Unaddressable byte|Jump to the invalid address|Source and destination overlap"
    r"|Illegal memory pool|Argument '.*' of function .* has a fishy value"
    r"|Invalid alignment|Invalid size value|realloc\(\) with size 0"
    r"|Process terminating with default action).*", re.M)


def _valgrind_problems(text):
    why = []
    for m in _VG_SUMMARY.finditer(text):
        if int(m.group(1).replace(",", "")):
            why.append("ERROR SUMMARY: %s errors" % m.group(1))
    for m in _VG_LOST.finditer(text):
        if int(m.group(2).replace(",", "")):
            why.append("%s lost: %s bytes" % (m.group(1), m.group(2)))
    seen = []
    for m in _VG_ERROR.finditer(text):
        head = m.group(0).split("== ", 1)[1]
        if head not in seen:
            seen.append(head)
    why += seen[:5]
    return why


def _kill_wait(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                return
        except FileNotFoundError:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def entries_for(ips, peers, per_pair=1, zone=None, proto="tcp", base_port=10000):
    """ctfill lines: per_pair entries between every ip and every peer."""
    lines = []
    n = 0
    for ip in ips:
        for peer in peers:
            for k in range(per_pair):
                n += 1
                line = "%s %s %s %d %d" % (proto, ip, peer, base_port + n % 50000, 80 + k)
                if zone:
                    line += " zone=%d" % zone
                lines.append(line)
    return lines


def run_tests(tests):
    """Runs [(name, fn)] in order; exit 1 on the first failure. CTFD_ONLY
    (a comma list) selects scenarios; exit 77 if it selects none here."""
    require_root_and_tools()
    only = [n.strip() for n in os.environ.get("CTFD_ONLY", "").split(",") if n.strip()]
    if only:
        names = [name for name, _ in tests]
        unknown = [n for n in only if n not in names]
        if unknown:
            print("CTFD_ONLY: no scenario %s here (there are: %s)"
                  % (", ".join(unknown), ", ".join(names)), file=sys.stderr)
        tests = [(name, fn) for name, fn in tests if name in only]
        if not tests:
            skip("CTFD_ONLY selects no scenario of this file")
    for name, fn in tests:
        print("== " + name, flush=True)
        t0 = time.monotonic()
        try:
            fn()
        except Failure as e:
            print("FAIL %s: %s" % (name, e), file=sys.stderr, flush=True)
            sys.exit(1)
        print("   (%.1f s)" % (time.monotonic() - t0), flush=True)
    print("all passed")
