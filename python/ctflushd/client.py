"""A client for ctflushd's control protocol (docs/protocol.md).

Newline-delimited JSON over a unix stream socket: one request line, one reply
line, in order; several requests may be sent before reading their replies
(pipelining); a flush with "wait": true is followed by event lines.

Standard library only. Every socket operation runs against a deadline, so a
call never blocks its caller for longer than the timeout it was given (a
daemon that accepts and then says nothing costs the caller `timeout`
seconds, no more). Under eventlet (monkey-patched `socket`) the same code
yields to other green threads while it waits: the socket module is looked up
at call time, so patching after this module was imported works too.

Errors are typed, one class per way a request can fail:

    Error            the base class
    Unreachable      no daemon answers on the socket, or the connection was
                     lost before a reply came (the request may or may not
                     have been carried out)
    Timeout          the deadline passed (connect, send or receive)
    ProtocolError    the bytes that came back are not a reply of this protocol
    DaemonError      the daemon refused the request: .code is the protocol's
                     error code ("bad-request", "queue-full", ...), .message
                     the daemon's text

Owns: nothing between calls. A Client is a socket path and timeouts; each
call opens a connection and closes it before returning (Client.connect()
hands out a Connection for several requests in a row).
"""

import json
import os
import socket
import time

DEFAULT_SOCKET = "/run/ctflushd/ctflushd.sock"
SOCKET_ENV = "CTFLUSHD_SOCKET"
DEFAULT_TIMEOUT = 2.0

# The daemon's default max-request-bytes; a longer line is refused with
# too-large and the connection closed.
DEFAULT_MAX_REQUEST_BYTES = 65536
# A reply longer than this is taken for garbage (a ports or jobs reply of a
# very large host is a few MiB).
MAX_REPLY_BYTES = 64 << 20
# Requests in flight on one connection, in bytes: well under what the daemon
# lets wait unread before it stops reading (a few MiB), so a long pipeline
# never stalls on the daemon's back-pressure.
PIPELINE_WINDOW_BYTES = 256 << 10

ERROR_CODES = ("bad-request", "unknown-command", "too-large", "forbidden", "queue-full",
               "not-found", "busy", "timeout", "internal")


class Error(Exception):
    """A request to ctflushd failed."""


class Unreachable(Error):
    """No daemon answers on the socket, or the connection was lost."""


class Timeout(Error):
    """The deadline passed before the daemon answered."""


class ProtocolError(Error):
    """What came back is not a reply of the control protocol."""


class DaemonError(Error):
    """The daemon answered with an error envelope."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message


class _Unset:
    def __repr__(self):
        return "UNSET"


UNSET = _Unset()            # "leave this member out of the request"


def _why(e):
    """An OSError as words (eventlet's green sockets give strerror as the
    errno's name)."""
    if getattr(e, "errno", None):
        return os.strerror(e.errno)
    return str(e)


def socket_path(path=None):
    """The socket a client uses: the argument, else $CTFLUSHD_SOCKET, else
    the daemon's default."""
    return path or os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET


def flush_request(local, peers="any", zone=None, mark=None, mark_mask=None, direction=None,
                  proto=None, dport=None, family=None, tuple=None, wait=False):
    """A flush request as a dict; members left at None are not sent (the
    daemon's defaults apply). Address lists may be lists or one string."""
    req = {"cmd": "flush", "local": _addr_list(local, "local"),
           "peers": _addr_list(peers, "peers")}
    for key, val in (("zone", zone), ("mark", mark), ("mark_mask", mark_mask),
                     ("direction", direction), ("proto", proto), ("dport", dport),
                     ("family", family), ("tuple", tuple)):
        if val is not None:
            req[key] = val
    if wait:
        req["wait"] = True
    return req


def set_ips_request(port, ips, zone=UNSET, migrating=None):
    """A set-ips request as a dict. zone: UNSET leaves it out, None sends
    null (no zone), an int sends that zone. migrating: None leaves it out."""
    if not isinstance(port, str) or not port:
        raise ValueError("port: must be a non-empty string")
    req = {"cmd": "set-ips", "port": port, "ips": _addr_list(ips, "ips")}
    if zone is not UNSET:
        req["zone"] = zone
    if migrating is not None:
        req["migrating"] = bool(migrating)
    return req


def _addr_list(val, what):
    if isinstance(val, str):
        return val
    try:
        return [str(a) for a in val]
    except TypeError:
        raise ValueError("%s: must be \"any\", a string or a list of addresses" % what)


def encode(request):
    """One request as the bytes sent for it (compact JSON and a newline)."""
    return (json.dumps(request, separators=(",", ":"), ensure_ascii=True) + "\n").encode()


def _parse_line(line):
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ProtocolError("reply is not JSON (%s): %r" % (e, line[:200]))
    if not isinstance(obj, dict):
        raise ProtocolError("reply is not a JSON object: %r" % line[:200])
    return obj


def _outcome(obj):
    """The result of a reply envelope, or the DaemonError it carries."""
    ok = obj.get("ok")
    if ok is True:
        return obj.get("result")
    if ok is False:
        err = obj.get("error")
        if not isinstance(err, dict) or not isinstance(err.get("code"), str):
            raise ProtocolError("error reply without an error code: %r" % obj)
        return DaemonError(err["code"], str(err.get("message", "")))
    if "event" in obj:
        raise ProtocolError("an event line where a reply was due: %r" % obj)
    raise ProtocolError("reply has no boolean 'ok': %r" % obj)


class Connection:
    """One connection to the daemon, for several requests in a row. Use it
    as a context manager, or close() it. Every method takes a timeout that
    bounds the whole call."""

    def __init__(self, path, timeout, max_request_bytes=DEFAULT_MAX_REQUEST_BYTES):
        self.path = path
        self.timeout = timeout
        self.max_request_bytes = max_request_bytes
        self._buf = bytearray()
        self._sock = None
        deadline = time.monotonic() + timeout
        pause = 0.001
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                sock.connect(path)
                break
            except socket.timeout:
                sock.close()
                raise Timeout("connect %s: no answer within %.3f s" % (path, timeout))
            except BlockingIOError:
                # A unix socket whose listen backlog is full refuses a
                # non-blocking connect with EAGAIN: the daemon is busy
                # accepting; try again until the deadline.
                sock.close()
                if time.monotonic() + pause > deadline:
                    raise Timeout("connect %s: the daemon's backlog stayed full for "
                                  "%.3f s" % (path, timeout))
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
            except OSError as e:
                sock.close()
                raise Unreachable("connect %s: %s" % (path, _why(e)))
        if time.monotonic() > deadline:
            sock.close()
            raise Timeout("connect %s: no answer within %.3f s" % (path, timeout))
        self._sock = sock

    def close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # Low-level I/O against a deadline.
    def _remaining(self, deadline, what):
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout("%s: no answer within the deadline" % what)
        return left

    def _send(self, data, deadline):
        if self._sock is None:
            raise Unreachable("connection is closed")
        view = memoryview(data)
        while view:
            self._sock.settimeout(self._remaining(deadline, "send"))
            try:
                n = self._sock.send(view)
            except socket.timeout:
                raise Timeout("send: the daemon read nothing before the deadline")
            except (BrokenPipeError, ConnectionResetError) as e:
                self.close()
                raise Unreachable("send: connection lost (%s)" % _why(e))
            except OSError as e:
                self.close()
                raise Unreachable("send: %s" % _why(e))
            view = view[n:]

    def _readline(self, deadline):
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[:nl + 1]
                if line.strip():
                    return line
                continue
            if len(self._buf) > MAX_REPLY_BYTES:
                raise ProtocolError("reply longer than %d bytes" % MAX_REPLY_BYTES)
            if self._sock is None:
                raise Unreachable("connection is closed")
            self._sock.settimeout(self._remaining(deadline, "receive"))
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout:
                raise Timeout("receive: no reply before the deadline")
            except OSError as e:
                self.close()
                raise Unreachable("receive: %s" % _why(e))
            if not chunk:
                self.close()
                if self._buf.strip():
                    raise ProtocolError("connection closed inside a reply: %r"
                                        % bytes(self._buf[:200]))
                raise Unreachable("the daemon closed the connection before replying")
            self._buf += chunk

    def _encode_checked(self, request):
        data = encode(request)
        if len(data) - 1 > self.max_request_bytes:
            raise ValueError("request of %d bytes is over max-request-bytes (%d)"
                             % (len(data) - 1, self.max_request_bytes))
        return data

    # Requests.
    def request(self, request, timeout=None):
        """Sends one request and returns its result; raises DaemonError for
        an error reply. Not for flush with wait (use flush_wait)."""
        if request.get("wait"):
            raise ValueError("request(): a waiting flush needs flush_wait()")
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self._send(self._encode_checked(request), deadline)
        out = _outcome(_parse_line(self._readline(deadline)))
        if isinstance(out, DaemonError):
            raise out
        return out

    def pipeline(self, requests, timeout=None):
        """Sends every request on this connection without waiting for each
        reply, and returns one outcome per request, in order: its result, or
        the Error it met (DaemonError for a refusal; Unreachable for the
        requests left unanswered when the daemon closed the connection, as
        it does after too-large). Raises Timeout when the deadline passes
        (its .outcomes holds what had come back). Replies are read while
        sending, so the daemon's back-pressure never deadlocks the two."""
        lines = []
        for r in requests:
            if r.get("wait"):
                raise ValueError("pipeline(): a waiting flush cannot share a connection")
            lines.append(self._encode_checked(r))
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        outcomes = []
        sizes = []          # lengths of the lines sent and not yet answered
        in_flight = 0
        nxt = 0
        try:
            while len(outcomes) < len(lines):
                batch = []
                while nxt < len(lines) and (not batch and not sizes or
                                            in_flight + len(lines[nxt]) <= PIPELINE_WINDOW_BYTES):
                    batch.append(lines[nxt])
                    sizes.append(len(lines[nxt]))
                    in_flight += len(lines[nxt])
                    nxt += 1
                if batch:
                    self._send(b"".join(batch), deadline)
                outcomes.append(_outcome(_parse_line(self._readline(deadline))))
                in_flight -= sizes.pop(0)
        except Unreachable as e:
            outcomes += [e] * (len(lines) - len(outcomes))
        except Timeout as e:
            e.outcomes = outcomes
            raise
        return outcomes

    def flush_wait(self, request, timeout, on_event=None):
        """Sends a flush with "wait": true and follows its events until the
        end event, which it returns ({"event":"end","ok":..,"jobs":[..]}).
        on_event(event) is called for each progress event and for the
        reply's result ({"jobs":[..],"merged":..}, as {"event":"queued",...})."""
        request = dict(request, wait=True)
        deadline = time.monotonic() + timeout
        self._send(self._encode_checked(request), deadline)
        out = _outcome(_parse_line(self._readline(deadline)))
        if isinstance(out, DaemonError):
            raise out
        if on_event:
            on_event(dict(out or {}, event="queued"))
        while True:
            obj = _parse_line(self._readline(deadline))
            ev = obj.get("event")
            if ev == "end":
                return obj
            if ev is None:
                raise ProtocolError("a reply line where an event was due: %r" % obj)
            if on_event:
                on_event(obj)


class Client:
    """ctflushd's control socket. socket: path (default: $CTFLUSHD_SOCKET,
    else /run/ctflushd/ctflushd.sock); timeout: seconds any one call may take
    (connect, send, every reply)."""

    def __init__(self, socket=None, timeout=DEFAULT_TIMEOUT,
                 max_request_bytes=DEFAULT_MAX_REQUEST_BYTES):
        self.path = socket_path(socket)
        self.timeout = float(timeout)
        self.max_request_bytes = max_request_bytes

    def connect(self, timeout=None):
        """A Connection for several requests in a row (a context manager)."""
        return Connection(self.path, self.timeout if timeout is None else timeout,
                          self.max_request_bytes)

    def request(self, request, timeout=None):
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self.connect(timeout) as c:
            return c.request(request, max(deadline - time.monotonic(), 0.001))

    def pipeline(self, requests, timeout=None):
        """Many requests on one connection; see Connection.pipeline."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self.connect(timeout) as c:
            return c.pipeline(requests, max(deadline - time.monotonic(), 0.001))

    # The commands.
    def status(self, timeout=None):
        return self.request({"cmd": "status"}, timeout)

    def jobs(self, limit=None, timeout=None):
        req = {"cmd": "jobs"}
        if limit is not None:
            req["limit"] = int(limit)
        return self.request(req, timeout)

    def ports(self, timeout=None):
        return self.request({"cmd": "ports"}, timeout)["ports"]

    def set_ips(self, port, ips, zone=UNSET, migrating=None, timeout=None):
        return self.request(set_ips_request(port, ips, zone, migrating), timeout)

    def flush(self, local, peers="any", wait=False, timeout=None, on_event=None, **selectors):
        """Queues a flush. Without wait: returns {"jobs":[..],"merged":..} as
        soon as the daemon has queued it. With wait: follows the jobs until
        they end and returns the end event; timeout then bounds the wait
        (default: 60 times the client's timeout)."""
        req = flush_request(local, peers, **selectors)
        if not wait:
            return self.request(req, timeout)
        timeout = self.timeout * 60 if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self.connect(timeout) as c:
            return c.flush_wait(req, max(deadline - time.monotonic(), 0.001), on_event)

    def flush_many(self, requests, timeout=None):
        """Many flushes (dicts from flush_request(), or keyword dicts for it)
        pipelined on one connection, none waiting; one outcome per request."""
        reqs = [r if r.get("cmd") == "flush" else flush_request(**r) for r in requests]
        return self.pipeline(reqs, timeout)

    def metrics(self, timeout=None):
        return self.request({"cmd": "metrics"}, timeout)["text"]
