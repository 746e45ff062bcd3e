"""Which conntrack zone each port's entries live in, as the ctflushd
firewall drivers learn it from neutron's own conntrack manager, for the L2
agent extension to send with the port's addresses.

Why module state: the openvswitch agent builds its firewall driver and its
extensions separately, each from a name in its configuration, and gives them
no way to reach each other; both live in the agent's one process, so a
registry in a module is the channel. Only in-memory work happens here (the
listeners queue and return): a driver that publishes never waits on I/O.

Owns: the zone per port id, whether a ctflushd firewall driver is loaded,
and the listeners.
"""

import threading


class ZoneBook:
    def __init__(self):
        self._lock = threading.Lock()   # green under the agent's monkey-patching
        self._zones = {}                # port id -> zone (int)
        self._listeners = []            # fn(port_id, zone)
        self.driver = None              # name of the loaded ctflushd firewall driver

    def driver_loaded(self, name):
        self.driver = name

    def publish(self, port_id, zone):
        """The driver found port_id's zone (an int). Listeners hear of
        changes only."""
        if not port_id or not isinstance(zone, int) or isinstance(zone, bool):
            return
        with self._lock:
            if self._zones.get(port_id) == zone:
                return
            self._zones[port_id] = zone
            listeners = list(self._listeners)
        for fn in listeners:
            fn(port_id, zone)

    def get(self, port_id):
        with self._lock:
            return self._zones.get(port_id)

    def forget(self, port_id):
        with self._lock:
            self._zones.pop(port_id, None)

    def subscribe(self, fn):
        with self._lock:
            if fn not in self._listeners:
                self._listeners.append(fn)

    def unsubscribe(self, fn):
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)


BOOK = ZoneBook()
