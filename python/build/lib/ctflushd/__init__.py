"""ctflushd's Python side: a control-protocol client (ctflushd.client) and
the OpenStack neutron integration (ctflushd.neutron: an L2 agent extension
and firewall drivers that hand conntrack deletions to the daemon)."""

__version__ = "0.1.0"
