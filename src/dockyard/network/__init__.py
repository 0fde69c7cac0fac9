"""Networking. Today: published ports (`-p`, `-P`) relayed by a userland proxy into the container's
own network namespace, without bridges or iptables. Bridges, IPAM and DNS are not written yet.

Public API (import the modules; this package imports nothing, the monitors load it):
    ports.plan(exposed, bindings, publish_all, default_ip) -> [Request]   what to bind, dockerd's rules
    ports.publishes(host_config) -> bool          whether the network mode publishes at all
    ports.check_allocated(requests, taken)        dockerd's port allocator check (BindFailed)
    ports.bind_all(requests) -> [Bound]           the host sockets, all or nothing (BindFailed)
    ports.network_ports(exposed, bound) -> {}     NetworkSettings.Ports
    proxy.spawn(container_pid, bound) -> pid      the relay process, inside the container's netns
"""
