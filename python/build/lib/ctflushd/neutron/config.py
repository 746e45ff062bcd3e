"""The [ctflushd] options of the neutron agent's configuration.

Owns: the option definitions; both the L2 agent extension and the firewall
drivers register them (registering twice is a no-op in oslo.config).
"""

from oslo_config import cfg

GROUP = "ctflushd"

OPTS = [
    cfg.StrOpt("socket",
               help="ctflushd's control socket. Default: $CTFLUSHD_SOCKET, "
                    "else /run/ctflushd/ctflushd.sock."),
    cfg.FloatOpt("timeout", default=1.0, min=0.01,
                 help="Seconds one exchange with ctflushd may take (connect, "
                      "send, every reply). The agent's own threads never wait "
                      "on it: the I/O runs on a green thread of its own."),
    cfg.FloatOpt("retry_interval", default=2.0, min=0.05,
                 help="Seconds before trying ctflushd again after it could not "
                      "be reached (doubles up to 30 s while it stays down). "
                      "Meanwhile the firewall drivers use neutron's own "
                      "conntrack deletion at once."),
    cfg.FloatOpt("resync_interval", default=60.0, min=1.0,
                 help="Seconds between the extension's checks that ctflushd is "
                      "the same process; after a restart it sends every port's "
                      "addresses again."),
    cfg.FloatOpt("zone_wait", default=5.0, min=0.0,
                 help="With a ctflushd firewall driver loaded, seconds the "
                      "extension holds a new port's first set-ips until the "
                      "driver has told it the port's conntrack zone, so the "
                      "daemon never sees the zone change from none to N."),
    cfg.BoolOpt("include_pair_prefixes", default=False,
                help="Send allowed-address-pair CIDRs wider than one address "
                     "(10.0.0.0/24, 0.0.0.0/0) as the port's addresses. Off by "
                     "default: such a prefix covers other VMs' addresses, and "
                     "the port's removal would delete their entries too (in "
                     "the port's zone). Host pairs (/32, /128) are always sent."),
    cfg.BoolOpt("require_selector_support", default=True,
                help="Firewall drivers: hand deletions to ctflushd only when "
                     "its status lists the 'flush-selectors' feature (the "
                     "direction/proto/family/tuple members of flush). An older "
                     "daemon ignores those members and would delete more than "
                     "neutron does; then neutron's own manager runs."),
    cfg.IntOpt("max_request_bytes", default=65536, min=1024,
               help="ctflushd's max-request-bytes: longer flush requests are "
                    "cut into several."),
    cfg.FloatOpt("log_interval", default=60.0, min=0.0,
                 help="Seconds between two log lines of the same kind of "
                      "failure (the ones in between are counted)."),
]


def register_opts(conf=None):
    conf = conf or cfg.CONF
    conf.register_opts(OPTS, group=GROUP)
    return conf[GROUP]


def list_opts():
    """For oslo-config-generator."""
    return [(GROUP, OPTS)]
