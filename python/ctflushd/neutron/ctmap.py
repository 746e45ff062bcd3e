"""neutron's conntrack deletions as ctflushd flush requests.

neutron 21's IpConntrackManager (neutron/agent/linux/ip_conntrack.py) turns
each call into `conntrack -D` commands, one per (device IP, remote IP):

    conntrack -D [-p PROTO] -f FAMILY [-m MARK] -d|-s DEVICE_IP -w ZONE [-s|-d REMOTE]

ingress: the device IP is the original destination (-d) and the remote the
original source (-s); any other direction the reverse. conntrack matches
-s/-d against the original tuple only, -p against the layer-4 protocol, -f
the family, -m the mark (all bits), -w the zone. The functions here build
flush requests that select exactly the same entries:

- one request per (zone, family, protocol, mark, direction) of the call,
  "local" = the IPs of the call's devices in that zone and family, "peers" =
  the remote IPs of that family (or "any" when the call has none, or when
  one of them is of the other family: neutron then runs the command without
  a remote), "tuple": "orig", "direction": "ingress"|"egress"; the two
  directions of a remote-IP call, equal in all else, become one request
  with "direction": "either";
- what neutron skips is skipped: devices without a zone (zone None or 0),
  device IPs of the other family;
- what makes every one of neutron's commands fail deletes nothing here
  either: a protocol conntrack cannot resolve ("any", "300"), a family
  other than IPv4/IPv6; protocol "0", which neutron passes as "-p ip"
  (layer-4 protocol 0: no entry has it), becomes proto 0;
- a remote given as a prefix ("10.0.0.0/24", or "10.0.0.5/24", which
  conntrack masks) is sent as that prefix, host bits cleared.

Anything neutron's own code would raise on (an unparsable device IP) raises
here too, and the caller hands the call to neutron's manager.

Owns: nothing; pure functions.
"""

import json
import socket

import netaddr

ANY = "any"

# conntrack(8)'s protocol handlers, looked up by exact name before
# getprotobyname(3) (conntrack-tools' findproto).
_HANDLERS = {"tcp": 6, "udp": 17, "udplite": 136, "sctp": 132, "dccp": 33,
             "icmp": 1, "icmpv6": 58, "gre": 47}
_FAMILIES = ("ipv4", "ipv6")
# Bytes of a request line besides its address lists, with room to spare.
_BASE_BYTES = 400


class Unresolvable(Exception):
    """conntrack would refuse the command: nothing is deleted."""


def conntrack_proto(protocol):
    """The layer-4 protocol number `conntrack -p` ends up with for neutron's
    rule protocol, or None for no -p. Raises Unresolvable where conntrack
    exits with "unsupported protocol"."""
    if protocol is None:
        return None
    name = str(protocol)
    if name == "0":
        name = "ip"                 # what neutron passes (ip_conntrack.py)
    if name in _HANDLERS:
        return _HANDLERS[name]
    try:
        return socket.getprotobyname(name)
    except OSError:
        pass
    if name.isdigit() and int(name) <= 255:
        return int(name)
    raise Unresolvable("protocol %r" % (protocol,))


def _strtoul0(text):
    text = text.strip()
    if len(text) > 1 and text.startswith("0") and text[1] not in "xX":
        return int(text, 8)
    return int(text, 0)


def conntrack_mark(mark):
    """(value, mask) that `conntrack -m str(mark)` filters on."""
    if isinstance(mark, int) and not isinstance(mark, bool):
        return mark & 0xffffffff, 0xffffffff
    text = str(mark)
    try:
        if "/" in text:
            value, mask = text.split("/", 1)
            return _strtoul0(value) & 0xffffffff, _strtoul0(mask) & 0xffffffff
        return _strtoul0(text) & 0xffffffff, 0xffffffff
    except ValueError:
        raise Unresolvable("mark %r" % (mark,))


def _host_prefixlen(net):
    return 32 if net.version == 4 else 128


def _remote(addr):
    net = netaddr.IPNetwork(str(addr))
    if net.prefixlen == _host_prefixlen(net):
        return str(net.ip)
    return str(net.cidr)


def _rule_plan(zone_of, devices, rule, remote_ips, out):
    """Adds to out[(zone, family, proto, mark, direction)] -> (locals, peers)
    what neutron's commands for one rule delete."""
    ethertype = rule.get("ethertype")
    family = str(ethertype).lower()
    if family not in _FAMILIES:
        return
    proto = conntrack_proto(rule.get("protocol"))
    mark = rule.get("mark")
    mark = conntrack_mark(mark) if mark is not None else None
    direction = "ingress" if rule.get("direction") == "ingress" else "egress"
    peers = set()
    wildcard = not remote_ips
    for remote in remote_ips or ():
        if remote and str(netaddr.IPNetwork(remote).version) in str(ethertype):
            peers.add(_remote(remote))
        else:
            wildcard = True             # neutron's command then has no remote
    for device in devices:
        zone = zone_of(device)
        if not zone:
            continue
        locals_ = set()
        for ip in device.get("fixed_ips", []):
            net = netaddr.IPNetwork(ip)
            if str(net.version) not in str(ethertype):
                continue
            locals_.add(str(net.ip))
        if not locals_:
            continue
        key = (zone, family, proto, mark, direction)
        have_locals, have_peers = out.get(key, (set(), set()))
        have_locals |= locals_
        if wildcard or have_peers == ANY:
            have_peers = ANY
        else:
            have_peers = have_peers | peers
        out[key] = (have_locals, have_peers)


def _requests(plan, max_bytes):
    # The two directions of equal (zone, family, proto, mark, locals, peers)
    # are one request selecting either.
    merged = {}
    for (zone, family, proto, mark, direction), (locals_, peers) in plan.items():
        k = (zone, family, proto, mark, frozenset(locals_),
             ANY if peers == ANY else frozenset(peers))
        merged.setdefault(k, set()).add(direction)
    out = []
    for (zone, family, proto, mark, locals_, peers), directions in sorted(
            merged.items(), key=lambda kv: json.dumps(_sort_key(kv[0]))):
        for direction in sorted(directions) if len(directions) == 1 else ["either"]:
            base = {"cmd": "flush", "zone": zone, "family": family,
                    "direction": direction, "tuple": "orig"}
            if proto is not None:
                base["proto"] = proto
            if mark is not None:
                base["mark"] = mark[0]
                if mark[1] != 0xffffffff:
                    base["mark_mask"] = mark[1]
            out += _chunked(base, sorted(locals_), ANY if peers == ANY else sorted(peers),
                            max_bytes)
    return out


def _sort_key(k):
    zone, family, proto, mark, locals_, peers = k
    return [zone, family, -1 if proto is None else proto, list(mark or ()),
            sorted(locals_), peers if peers == ANY else sorted(peers)]


def _chunks(items, budget):
    chunk, size = [], 0
    for it in items:
        n = len(it) + 3
        if chunk and size + n > budget:
            yield chunk
            chunk, size = [], 0
        chunk.append(it)
        size += n
    if chunk:
        yield chunk


def _chunked(base, locals_, peers, max_bytes):
    """Requests of at most max_bytes each, together selecting locals x peers."""
    budget = max(max_bytes - _BASE_BYTES, 1024)
    out = []
    peers_len = 0 if peers == ANY else sum(len(p) + 3 for p in peers)
    local_budget = budget // 2 if peers_len > budget // 2 else budget - peers_len
    for lchunk in _chunks(locals_, local_budget):
        lsize = sum(len(a) + 3 for a in lchunk)
        if peers == ANY:
            out.append(dict(base, local=lchunk, peers=ANY))
            continue
        for pchunk in _chunks(peers, budget - lsize):
            out.append(dict(base, local=lchunk, peers=pchunk))
    return out


def plan_by_rule(zone_of, device_info_list, rule, max_bytes=65536):
    """Flush requests for delete_conntrack_state_by_rule(device_info_list, rule).
    zone_of(device) is the manager's get_device_zone(device, create=False)."""
    plan = {}
    try:
        _rule_plan(zone_of, device_info_list, rule, None, plan)
    except Unresolvable:
        return []
    return _requests(plan, max_bytes)


def plan_by_remote_ips(zone_of, device_info_list, ethertype, remote_ips, mark=None,
                       max_bytes=65536):
    """Flush requests for delete_conntrack_state_by_remote_ips(...): both
    directions, as neutron queues them."""
    plan = {}
    for direction in ("ingress", "egress"):
        rule = {"ethertype": str(ethertype).lower(), "direction": direction}
        if mark:
            rule["mark"] = mark
        try:
            _rule_plan(zone_of, device_info_list, rule, remote_ips, plan)
        except Unresolvable:
            continue
    return _requests(plan, max_bytes)
