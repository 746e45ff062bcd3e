"""The openvswitch agent's L2 extension `ctflushd`: tells the daemon each
port's addresses (neutron keeps them out of OVSDB), so that the port's
removal from OVSDB flushes its conntrack entries.

    [agent]
    extensions = ctflushd

handle_port(context, details) -> set-ips for details['vif_port'].port_name:
- "ips": the fixed IPs and the allowed-address-pair IPs, both families. A
  pair that is one address (10.0.0.7, 10.0.0.7/32, fd00::7/128) is sent as
  that address. A wider pair (10.0.0.0/24, 0.0.0.0/0) is left out unless
  [ctflushd] include_pair_prefixes is set: it covers addresses of other VMs,
  and the port's removal (or the daemon's flush-on-add) would delete their
  entries too. A VM that answers for a whole prefix keeps its entries of
  addresses in it until they time out; its own fixed IPs are flushed.
- "zone": the conntrack zone neutron's firewall gave the port, when a
  ctflushd firewall driver is loaded and has said (zonebook.py); otherwise
  left out (the daemon's own rules apply: zone-from-vlan-tag, or none).
  With such a driver loaded, a new compute port's first set-ips waits up to
  [ctflushd] zone_wait seconds for its zone (the agent calls handle_port
  before it sets up the port's filter), so the daemon never sees a live
  port's zone change from none to N.
- "migrating": true when details['migrating_to'] is this host (nova is
  live-migrating the VM here, and it arrives with its connections alive).

delete_port works with only 'port_id' in its data: the extension forgets
the port and sends nothing (the OVSDB removal is what flushes). After an
OVS restart (handle_switch_restart, or neutron 21's OVS_RESTARTED callback)
and whenever the daemon is seen to have restarted, every port is sent again.

Nothing here raises into the agent, and nothing does I/O on the agent's
threads: handle_port records what is wanted and wakes a green thread of the
extension's own, which sends what changed, pipelined on one connection. If
ctflushd is down, the latest addresses of every port are kept and sent when
it answers again. Failures are logged with a rate limit.

Owns: the latest wanted (addresses, zone, migrating) per port id, what was
last sent for each, and the green thread that sends.
"""

import ipaddress
import time

import eventlet
from eventlet import queue as eventlet_queue
from neutron_lib.agent import l2_extension
from neutron_lib.callbacks import events as cb_events
from neutron_lib.callbacks import registry as cb_registry
from neutron_lib.callbacks import resources as cb_resources
from oslo_config import cfg
from oslo_log import log as logging

from ctflushd import client as ctfclient
from ctflushd.neutron import config
from ctflushd.neutron import ratelog
from ctflushd.neutron import zonebook

LOG = logging.getLogger(__name__)

_MAX_BACKOFF = 30.0
_PORT_NAME_MAX = 255


class _Port:
    __slots__ = ("name", "ips", "zone", "migrating", "sent", "hold_until", "rejected")

    def __init__(self, name):
        self.name = name            # the OVSDB Interface name (tap..., qvo...)
        self.ips = ()               # sorted addresses (and prefixes) to send
        self.zone = None            # conntrack zone, None while unknown
        self.migrating = False
        self.sent = None            # what the daemon last accepted: want()
        self.hold_until = 0.0       # monotonic time the first send waits for (zone)
        self.rejected = None        # a want() the daemon refused (bad-request)

    def want(self):
        return (self.name, self.ips, self.zone, self.migrating)


class CtflushdAgentExtension(l2_extension.L2AgentExtension):

    def __init__(self):
        super().__init__()
        self._ports = {}            # port id -> _Port
        self._dirty = set()         # port ids whose want() differs from sent
        self._wake = None
        self._thread = None
        self._daemon = None         # (pid, start time) of the daemon last talked to
        self._next_check = 0.0
        self._down_until = 0.0
        self._busy = False
        self._agent_api = None
        self.stats = {"sent": 0, "failed": 0, "rejected": 0, "resyncs": 0, "bad_input": 0}

    # neutron's extension interface.
    def consume_api(self, agent_api):
        self._agent_api = agent_api

    def initialize(self, connection, driver_type):
        self._opts = config.register_opts(cfg.CONF)
        self._host = cfg.CONF.host
        self._client = ctfclient.Client(self._opts.socket, timeout=self._opts.timeout,
                                        max_request_bytes=self._opts.max_request_bytes)
        self._rlog = ratelog.RateLimitedLog(LOG, self._opts.log_interval)
        self._backoff = self._opts.retry_interval
        self._wake = eventlet_queue.LightQueue()
        zonebook.BOOK.subscribe(self._zone_changed)
        cb_registry.subscribe(self._ovs_restarted, cb_resources.AGENT,
                              cb_events.OVS_RESTARTED)
        self._thread = eventlet.spawn_n(self._run)
        LOG.info("ctflushd extension: sending port addresses to %s", self._client.path)

    def handle_port(self, context, details):
        try:
            self._handle_port(details)
        except Exception as e:
            self.stats["bad_input"] += 1
            self._rlog.error("handle_port", "ctflushd: handle_port failed on %s: %r",
                             _device_of(details), e)

    def delete_port(self, context, details):
        try:
            port_id = details.get("port_id") or details.get("device")
            if port_id and self._ports.pop(port_id, None) is not None:
                self._dirty.discard(port_id)
        except Exception as e:
            self._rlog.error("delete_port", "ctflushd: delete_port failed on %r: %r",
                             details, e)

    def handle_switch_restart(self):
        try:
            self._resend_all("switch restart")
        except Exception as e:
            self._rlog.error("restart", "ctflushd: handle_switch_restart failed: %r", e)

    def _ovs_restarted(self, resource, event, trigger, payload=None):
        self.handle_switch_restart()

    # What handle_port wants sent.
    def _handle_port(self, details):
        port_id = details.get("port_id") or details.get("device")
        if not port_id:
            self.stats["bad_input"] += 1
            self._rlog.warning("input", "ctflushd: port details without port_id: %r",
                               _short(details))
            return
        vif = details.get("vif_port")
        name = getattr(vif, "port_name", None)
        if not isinstance(name, str) or not _port_name_ok(name):
            self.stats["bad_input"] += 1
            self._rlog.warning("input", "ctflushd: port %s: no usable vif_port.port_name "
                               "(%r); its addresses are not sent", port_id, name)
            return
        ips, bad = self._addresses(details)
        if bad:
            self.stats["bad_input"] += 1
            self._rlog.warning("input", "ctflushd: port %s (%s): ignoring addresses that "
                               "do not parse: %s", port_id, name, bad[:8])
            if not ips:
                return          # keep what the daemon has rather than clear it
        st = self._ports.get(port_id)
        now = time.monotonic()
        if st is None or st.name != name:
            st = _Port(name)
            zone = zonebook.BOOK.get(port_id)
            if zone is None and self._expects_zone(details):
                st.hold_until = now + self._opts.zone_wait
            self._ports[port_id] = st
        st.zone = zonebook.BOOK.get(port_id)
        st.ips = ips
        st.migrating = bool(details.get("migrating_to")) and \
            details.get("migrating_to") == self._host
        if not ips and st.sent is None:
            return              # nothing to set and nothing to clear
        self._mark(port_id, st)

    def _expects_zone(self, details):
        """A ctflushd firewall driver will publish this port's zone soon."""
        return (zonebook.BOOK.driver is not None
                and details.get("port_security_enabled", True) is not False
                and str(details.get("device_owner", "")).startswith("compute:"))

    def _addresses(self, details):
        out, bad = set(), []
        for item in details.get("fixed_ips") or ():
            raw = item.get("ip_address") if isinstance(item, dict) else item
            try:
                out.add(str(ipaddress.ip_interface(str(raw)).ip))
            except ValueError:
                bad.append(raw)
        for item in details.get("allowed_address_pairs") or ():
            raw = item.get("ip_address") if isinstance(item, dict) else None
            try:
                net = ipaddress.ip_network(str(raw), strict=False)
            except ValueError:
                bad.append(raw)
                continue
            if net.num_addresses == 1:
                out.add(str(net.network_address))
            elif self._opts.include_pair_prefixes:
                out.add(str(net))
        return tuple(sorted(out)), [str(b) for b in bad]

    def _zone_changed(self, port_id, zone):
        st = self._ports.get(port_id)
        if st is None:
            return
        st.zone = zone
        st.hold_until = 0.0
        self._mark(port_id, st)

    def _mark(self, port_id, st):
        if st.want() != st.sent and st.want() != st.rejected:
            self._dirty.add(port_id)
            if self._wake is not None:
                self._wake.put(None)

    def _resend_all(self, why):
        self.stats["resyncs"] += 1
        for port_id, st in self._ports.items():
            st.sent = None
            st.rejected = None
            if st.ips:
                self._dirty.add(port_id)
        if self._dirty:
            LOG.info("ctflushd: %s: sending the addresses of %d port(s) again", why,
                     len(self._dirty))
        if self._wake is not None:
            self._wake.put(None)

    # The green thread.
    def _run(self):
        while True:
            try:
                self._wake.get(timeout=self._sleep_time())
            except eventlet_queue.Empty:
                pass
            while True:
                try:
                    self._wake.get_nowait()
                except eventlet_queue.Empty:
                    break
            self._busy = True
            try:
                self._cycle()
            except Exception:
                LOG.exception("ctflushd: the extension's sender failed; retrying")
                self._down_until = time.monotonic() + self._backoff
            finally:
                self._busy = False

    def _sleep_time(self):
        now = time.monotonic()
        t = self._next_check
        if self._dirty:
            held = [self._ports[p].hold_until for p in self._dirty if p in self._ports]
            t = min([t] + [max(h, self._down_until) for h in held])
        return min(max(t - now, 0.01), self._opts.resync_interval)

    def _due(self, now):
        return [p for p in sorted(self._dirty)
                if p in self._ports and self._ports[p].hold_until <= now]

    def _cycle(self):
        now = time.monotonic()
        if now < self._down_until:
            return
        self._dirty &= set(self._ports)
        due = self._due(now)
        if not due and now < self._next_check:
            return
        try:
            with self._client.connect() as conn:
                status = conn.request({"cmd": "status"})
                self._check_daemon(status)
                self._next_check = time.monotonic() + self._opts.resync_interval
                due = self._due(time.monotonic())
                if not due:
                    return
                wants = [(p, self._ports[p].want()) for p in due]
                reqs = [ctfclient.set_ips_request(
                    w[0], list(w[1]), ctfclient.UNSET if w[2] is None else w[2], w[3])
                    for _, w in wants]
                outcomes = conn.pipeline(reqs, self._opts.timeout * max(1, len(reqs) / 200))
        except ctfclient.Error as e:
            failure = e
        else:
            failure = None
        if failure is not None:
            # Logged outside the except clause: oslo.log would append a
            # traceback to every line.
            self.stats["failed"] += 1
            self._down_until = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, _MAX_BACKOFF)
            if not self._dirty:
                # Only the periodic check: nothing is owed yet, and the
                # rate limit is kept for the line that says something is.
                LOG.debug("ctflushd: cannot reach the daemon (%s)", failure)
                return
            self._rlog.warning("unreachable", "ctflushd: cannot reach the daemon (%s); "
                               "%d port(s) wait to be sent, retrying in %.1f s",
                               failure, len(self._dirty), self._down_until - time.monotonic())
            return
        self._backoff = self._opts.retry_interval
        self._rlog.reset("unreachable")
        retry = False
        for (port_id, want), out in zip(wants, outcomes):
            st = self._ports.get(port_id)
            if isinstance(out, ctfclient.DaemonError) and out.code == "bad-request":
                self.stats["rejected"] += 1
                self._rlog.error("rejected", "ctflushd: set-ips for %s refused: %s",
                                 want[0], out.message)
                if st is not None and st.want() == want:
                    st.rejected = want
                    self._dirty.discard(port_id)
                continue
            if isinstance(out, ctfclient.Error):
                self.stats["failed"] += 1
                retry = True
                self._rlog.warning("failed", "ctflushd: set-ips for %s failed (%s); will "
                                   "retry", want[0], out)
                continue
            self.stats["sent"] += 1
            if st is not None:
                st.sent = want
                if st.want() == want:
                    self._dirty.discard(port_id)
        if retry:
            self._down_until = time.monotonic() + self._backoff

    def _check_daemon(self, status):
        if not isinstance(status, dict):
            raise ctfclient.ProtocolError("status result is not an object")
        ident = (status.get("pid"), time.time() - float(status.get("uptime_s") or 0))
        old = self._daemon
        self._daemon = ident
        if old is not None and (old[0] != ident[0] or abs(old[1] - ident[1]) > 3):
            self._resend_all("ctflushd restarted (pid %s -> %s)" % (old[0], ident[0]))

    # For tests and operators.
    def pending(self):
        """Port ids whose latest addresses the daemon has not accepted yet."""
        return sorted(self._dirty)

    def wait_sent(self, timeout=10.0):
        """Waits (green) until nothing is pending; returns whether it came."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._dirty and not self._busy:
                return True
            eventlet.sleep(0.02)
        return not self._dirty


def _port_name_ok(name):
    return 0 < len(name) <= _PORT_NAME_MAX and all(0x20 < ord(c) < 0x7f for c in name)


def _device_of(details):
    try:
        return details.get("port_id") or details.get("device")
    except Exception:
        return repr(details)[:80]


def _short(details):
    try:
        return {k: details[k] for k in ("device", "device_owner") if k in details}
    except Exception:
        return repr(details)[:80]
