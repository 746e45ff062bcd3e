"""Firewall drivers that hand neutron's conntrack deletions to ctflushd.

ctflushd_iptables_hybrid, ctflushd_iptables and ctflushd_openvswitch are
neutron's iptables_hybrid, iptables and openvswitch drivers, unchanged but
for their conntrack manager: a CtflushdConntrackManager wraps neutron's and
turns each delete_conntrack_state_by_rule / _by_remote_ips call into flush
requests (ctmap.py says which), queued for a green thread of its own that
pipelines them to the daemon on one connection without waiting for the
deletions. The agent's call returns as soon as the requests are queued.

When ctflushd cannot take a call (not reachable, an error reply, a daemon
without the 'flush-selectors' feature while require_selector_support is
set, a device the mapping cannot read), that call goes to neutron's own
manager, which runs its `conntrack -D` commands as it always did; the
failure is logged with a rate limit. Zones stay neutron's: get_device_zone
and everything else is neutron's manager's, and each zone the manager hands
out is also published to the zone book for the L2 agent extension.

Owns: per driver, its queue of handed-over calls, the green thread that
drains it, and whether ctflushd was reachable lately.
"""

import collections
import time

import eventlet
from eventlet import queue as eventlet_queue
from oslo_config import cfg
from oslo_log import log as logging

from neutron.agent.linux import iptables_firewall
from neutron.agent.linux.openvswitch_firewall import firewall as ovs_firewall

from ctflushd import client as ctfclient
from ctflushd.neutron import config
from ctflushd.neutron import ctmap
from ctflushd.neutron import ratelog
from ctflushd.neutron import zonebook

LOG = logging.getLogger(__name__)

FEATURE = "flush-selectors"
_MAX_BATCH_CALLS = 256          # calls pipelined on one connection at most
_MAX_BACKOFF = 30.0


class _Call:
    __slots__ = ("requests", "fallback", "what", "queued")

    def __init__(self, requests, fallback, what):
        self.requests = requests    # flush request dicts
        self.fallback = fallback    # runs the call through neutron's manager
        self.what = what            # for log lines
        self.queued = time.monotonic()


class CtflushdConntrackManager:
    """Stands in for neutron's IpConntrackManager / OvsIpConntrackManager
    (the wrapped `neutron_manager`); only the two delete calls and
    get_device_zone are its own, everything else is the wrapped manager's."""

    def __init__(self, neutron_manager, driver, namespace=None, conf=None):
        self._mgr = neutron_manager
        self._driver = driver
        self._namespace = namespace
        conf = conf or cfg.CONF
        self._opts = config.register_opts(conf)
        self._client = ctfclient.Client(self._opts.socket, timeout=self._opts.timeout,
                                        max_request_bytes=self._opts.max_request_bytes)
        self._rlog = ratelog.RateLimitedLog(LOG, self._opts.log_interval)
        self._queue = eventlet_queue.LightQueue()
        self._thread = None
        self._busy = False          # the green thread holds calls it took off the queue
        self._down_until = 0.0      # monotonic time before which calls go to neutron at once
        self._down_why = ""         # and why
        self._backoff = self._opts.retry_interval
        # Counters, for operators' debugging and the tests.
        self.stats = {"calls": 0, "handed_over": 0, "requests": 0, "fallbacks": 0,
                      "empty": 0}
        self.recent = collections.deque(maxlen=1000)   # requests the daemon accepted lately
        zonebook.BOOK.driver_loaded(driver)

    def __getattr__(self, name):
        # Everything not defined here (filtered_ports, _device_zone_map, ...)
        # is neutron's manager's.
        return getattr(self.__dict__["_mgr"], name)

    # Zones: neutron's, published for the extension.
    def get_device_zone(self, port, *args, **kwargs):
        zone = self._mgr.get_device_zone(port, *args, **kwargs)
        if zone and isinstance(port, dict):
            zonebook.BOOK.publish(port.get("device"), zone)
        return zone

    def _zone_of(self, device):
        return self.get_device_zone(device, create=False)

    # The two calls the firewall drivers make.
    def delete_conntrack_state_by_rule(self, device_info_list, rule):
        self._hand_over(
            lambda: ctmap.plan_by_rule(self._zone_of, device_info_list, rule,
                                       self._opts.max_request_bytes),
            lambda: self._mgr.delete_conntrack_state_by_rule(device_info_list, rule),
            "rule %s" % _rule_text(rule))

    def delete_conntrack_state_by_remote_ips(self, device_info_list, ethertype, remote_ips,
                                             mark=None):
        self._hand_over(
            lambda: ctmap.plan_by_remote_ips(self._zone_of, device_info_list, ethertype,
                                             remote_ips, mark, self._opts.max_request_bytes),
            lambda: self._mgr.delete_conntrack_state_by_remote_ips(
                device_info_list, ethertype, remote_ips, mark),
            "%s remote IPs %s%s" % (ethertype, sorted(map(str, remote_ips or ()))[:8],
                                    " mark %s" % mark if mark else ""))

    def _hand_over(self, plan, fallback, what):
        self.stats["calls"] += 1
        if self._namespace is not None:
            # ctflushd serves the network namespace it runs in, not the
            # agent's others (a router's, say).
            return self._fall_back([_Call([], fallback, what)], None)
        try:
            requests = plan()
        except Exception as e:
            self._rlog.warning("plan", "ctflushd: cannot map %s to flush requests (%s); "
                               "neutron's conntrack manager deletes it", what, e)
            return self._fall_back([_Call([], fallback, what)], None)
        if not requests:
            # neutron's commands for this call would delete nothing either.
            self.stats["empty"] += 1
            return None
        call = _Call(requests, fallback, what)
        if time.monotonic() < self._down_until:
            return self._fall_back([call], self._down_why)
        self._start()
        self._queue.put(call)
        return None

    def _start(self):
        if self._thread is None:
            self._thread = eventlet.spawn_n(self._run)

    def _fall_back(self, calls, why):
        for call in calls:
            self.stats["fallbacks"] += 1
            try:
                call.fallback()
            except Exception:
                LOG.exception("ctflushd: neutron's conntrack manager failed on %s", call.what)
        if why:
            self._rlog.warning("fallback:" + why.split(":", 1)[0],
                               "ctflushd: %s; neutron's conntrack manager deletes %d "
                               "call(s) (%s%s)", why, len(calls), calls[0].what,
                               ", ..." if len(calls) > 1 else "")

    # The green thread.
    def _run(self):
        while True:
            calls = [self._queue.get()]
            self._busy = True
            while len(calls) < _MAX_BATCH_CALLS:
                try:
                    calls.append(self._queue.get_nowait())
                except eventlet_queue.Empty:
                    break
            try:
                self._send(calls)
            except Exception:
                # A bug here must not end the thread (later calls would
                # queue for ever); neutron deletes what this batch held.
                LOG.exception("ctflushd: handing over %d call(s) failed", len(calls))
                self._fall_back(calls, None)
            finally:
                self._busy = False

    def _send(self, calls):
        if time.monotonic() < self._down_until:
            return self._fall_back(calls, self._down_why)
        requests = [r for c in calls for r in c.requests]
        timeout = self._opts.timeout * max(1.0, len(requests) / 200.0)
        try:
            with self._client.connect() as conn:
                if self._opts.require_selector_support:
                    status = conn.request({"cmd": "status"})
                    features = status.get("features") if isinstance(status, dict) else None
                    if not isinstance(features, list) or FEATURE not in features:
                        self._down_until = time.monotonic() + self._backoff
                        self._down_why = ("unsupported: the daemon at %s does not list the %r "
                                          "feature (require_selector_support)"
                                          % (self._client.path, FEATURE))
                        return self._fall_back(calls, self._down_why)
                outcomes = conn.pipeline(requests, timeout)
        except ctfclient.Error as e:
            failure = e
        else:
            failure = None
        if failure is not None:
            # Outside the except clause: oslo.log would add a traceback.
            self._down_until = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, _MAX_BACKOFF)
            self._down_why = "unreachable: %s" % failure
            return self._fall_back(calls, self._down_why)
        self._backoff = self._opts.retry_interval
        self._rlog.reset("fallback:unreachable")
        self._rlog.reset("fallback:unsupported")
        i = 0
        for call in calls:
            mine = outcomes[i:i + len(call.requests)]
            i += len(call.requests)
            bad = [o for o in mine if isinstance(o, ctfclient.Error)]
            if bad:
                self._fall_back([call], "refused: %s" % bad[0])
                continue
            self.stats["handed_over"] += 1
            self.stats["requests"] += len(mine)
            self.recent.extend(call.requests)
            LOG.debug("ctflushd: %s -> jobs %s", call.what,
                      [j for o in mine for j in (o or {}).get("jobs", [])])

    def drain(self, timeout=10.0):
        """Waits (green) until every queued call was sent or fell back; for
        tests and shutdown. Returns whether the queue is empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.qsize() == 0 and not self._busy:
                return True
            eventlet.sleep(0.01)
        return self._queue.qsize() == 0 and not self._busy


def _rule_text(rule):
    keys = ("ethertype", "direction", "protocol", "port_range_min", "port_range_max",
            "remote_ip_prefix", "remote_group_id")
    return ",".join("%s=%s" % (k, rule[k]) for k in keys if rule.get(k) is not None)


class _Handover:
    """What the three drivers add to neutron's: their manager wrapped."""

    CTFLUSHD_NAME = None

    def _ctflushd_manager(self, neutron_manager, namespace=None):
        return CtflushdConntrackManager(neutron_manager, self.CTFLUSHD_NAME,
                                        namespace=namespace)


class CtflushdIptablesFirewallDriver(_Handover, iptables_firewall.IptablesFirewallDriver):
    """neutron's iptables driver; conntrack deletions go to ctflushd."""

    CTFLUSHD_NAME = "ctflushd_iptables"

    def __init__(self, namespace=None):
        super().__init__(namespace=namespace)
        self.ipconntrack = self._ctflushd_manager(self.ipconntrack, namespace)


class CtflushdOVSHybridIptablesFirewallDriver(
        _Handover, iptables_firewall.OVSHybridIptablesFirewallDriver):
    """neutron's iptables_hybrid driver; conntrack deletions go to ctflushd."""

    CTFLUSHD_NAME = "ctflushd_iptables_hybrid"

    def __init__(self, namespace=None):
        super().__init__(namespace=namespace)
        self.ipconntrack = self._ctflushd_manager(self.ipconntrack, namespace)


class CtflushdOVSFirewallDriver(_Handover, ovs_firewall.OVSFirewallDriver):
    """neutron's openvswitch driver; its deletions (entries marked invalid,
    in the port's local VLAN zone) go to ctflushd."""

    CTFLUSHD_NAME = "ctflushd_openvswitch"

    def __init__(self, integration_bridge):
        super().__init__(integration_bridge)
        self.ipconntrack = self._ctflushd_manager(self.ipconntrack)
