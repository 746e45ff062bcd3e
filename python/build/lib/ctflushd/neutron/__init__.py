"""ctflushd for the OpenStack neutron openvswitch agent (docs/neutron.md).

extension.py   the L2 agent extension `ctflushd`: set-ips per port
firewall.py    the firewall drivers ctflushd_iptables_hybrid, ctflushd_iptables,
               ctflushd_openvswitch: conntrack deletions handed to the daemon
ctmap.py       which flush requests select what neutron's `conntrack -D` would
zonebook.py    the zone per port, from the drivers to the extension
config.py      the [ctflushd] options
ratelog.py     rate-limited log lines
"""
