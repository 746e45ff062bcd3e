"""What the neutron tests share: the checks that neutron can run here, the
package installed from this tree into a temp dir (entry points and all, so
neutron's own loaders find it by name), the kernel table read as a multiset
of entries, and a conntrack(8) shim that counts the processes neutron spawns.

The World (a namespace, a private ovsdb-server, ctflushd) is
tests/netns/ctfd_world.py's; this adds nothing to it.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "netns"))

import ctfd_world  # noqa: E402
from ctfd_world import Failure, check, skip, wait_for  # noqa: E402

__all__ = ["Failure", "check", "skip", "wait_for", "ctfd_world"]

PYTHON = "/usr/bin/python3"
NEUTRON = "/usr/lib/python3/dist-packages/neutron"
CONNTRACK = "/usr/sbin/conntrack"


def require_neutron():
    """Skips (77) unless this is root with Debian's neutron, iptables, ipset,
    pip and the World's tools."""
    ctfd_world.require_root_and_tools()
    if os.path.realpath(sys.executable) != os.path.realpath(PYTHON):
        skip("run with %s (Debian's python3, the one python3-neutron uses)" % PYTHON)
    if not os.path.isdir(NEUTRON):
        skip("python3-neutron is not installed (scripts/setup-neutron.sh)")
    for tool in ("iptables", "iptables-save", "iptables-restore", "ipset"):
        if not shutil.which(tool, path="/usr/sbin:/sbin:/usr/bin"):
            skip(tool + " is not installed (scripts/setup-neutron.sh)")
    r = subprocess.run([PYTHON, "-c", "import importlib.util as u, sys; sys.exit(any("
                        "u.find_spec(m) is None for m in ('pip','setuptools','wheel','eventlet')))"],
                       capture_output=True)
    if r.returncode:
        skip("python3-pip/setuptools/wheel/eventlet missing (scripts/setup-neutron.sh)")


_installed = None


def install_package():
    """pip-installs ./python into a temp dir (once per process) and puts it
    first on sys.path and PYTHONPATH; returns the dir."""
    global _installed
    if _installed:
        return _installed
    target = tempfile.mkdtemp(prefix="ctfd-py.")
    build = tempfile.mkdtemp(prefix="ctfd-pybuild.")
    src = os.path.join(build, "python")
    # Build from a copy: a build in the tree leaves build/ and *.egg-info.
    shutil.copytree(os.path.join(SRC, "python"), src,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    r = subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--no-build-isolation", "--no-cache-dir", "--disable-pip-version-check",
                        "--target", target, src], capture_output=True, text=True)
    shutil.rmtree(build, ignore_errors=True)
    if r.returncode:
        raise Failure("pip install ./python: %s%s" % (r.stdout, r.stderr))
    import atexit
    atexit.register(shutil.rmtree, target, True)
    sys.path.insert(0, target)
    os.environ["PYTHONPATH"] = target + (":" + os.environ["PYTHONPATH"]
                                         if os.environ.get("PYTHONPATH") else "")
    _installed = target
    return target


# The kernel table, read with conntrack(8).
_KV = re.compile(r"\b(src|dst|sport|dport|type|code|id|mark|zone)=(\S+)")


def snapshot(ns):
    """Every entry of namespace ns as a sorted list of tuples: (proto, orig
    src, orig dst, orig sport, orig dport, reply src, reply dst, mark, zone).
    Runs the real conntrack binary, never the shim."""
    out = []
    for fam in ("ipv4", "ipv6"):
        r = subprocess.run(["ip", "netns", "exec", ns, CONNTRACK, "-L", "-f", fam],
                           capture_output=True, text=True)
        if r.returncode:
            raise Failure("conntrack -L -f %s in %s: %s" % (fam, ns, r.stderr.strip()))
        for line in r.stdout.splitlines():
            words = line.split()
            if not words or "=" not in line:
                continue
            kv = {}
            for k, v in _KV.findall(line):
                kv.setdefault(k, []).append(v)
            src, dst = kv.get("src", []), kv.get("dst", [])
            out.append((words[0], src[0], dst[0],
                        (kv.get("sport") or ["-"])[0], (kv.get("dport") or ["-"])[0],
                        src[1] if len(src) > 1 else "-", dst[1] if len(dst) > 1 else "-",
                        int((kv.get("mark") or ["0"])[0]), int((kv.get("zone") or ["0"])[0])))
    return sorted(out)


def diff(a, b, limit=12):
    """Entries only in a, and only in b (multisets)."""
    from collections import Counter
    ca, cb = Counter(map(tuple, a)), Counter(map(tuple, b))
    only_a = sorted((ca - cb).elements())
    only_b = sorted((cb - ca).elements())
    return only_a[:limit], only_b[:limit], len(list((ca - cb).elements())), \
        len(list((cb - ca).elements()))


class ConntrackShim:
    """A directory with a `conntrack` that logs each run and then runs the
    real one; put first on PATH, it counts every conntrack process that
    neutron's own code spawns."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "shim")
        os.makedirs(self.dir, exist_ok=True)
        self.log = os.path.join(self.dir, "runs.log")
        open(self.log, "w").close()
        path = os.path.join(self.dir, "conntrack")
        with open(path, "w") as f:
            f.write("#!/bin/sh\necho \"start $$ $*\" >> %s\n%s \"$@\"\nrc=$?\n"
                    "echo \"end $$ $rc\" >> %s\nexit $rc\n" % (self.log, CONNTRACK, self.log))
        os.chmod(path, 0o755)

    def env(self, base=None):
        env = dict(base if base is not None else os.environ)
        env["PATH"] = self.dir + ":" + env.get("PATH", "") + ":/usr/sbin:/sbin"
        return env

    def runs(self):
        """(started, finished, the argument lists of those started)."""
        starts, ends, args = 0, 0, []
        with open(self.log) as f:
            for line in f:
                if line.startswith("start "):
                    starts += 1
                    args.append(line.split(None, 2)[2].strip() if line.count(" ") > 1 else "")
                elif line.startswith("end "):
                    ends += 1
        return starts, ends, args

    def reset(self):
        open(self.log, "w").close()


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)


def read_json(path):
    with open(path) as f:
        return json.load(f)
