"""The daemon's core: containers, monitors, exec, attach, restart policies, and their building blocks.

Public API (import the modules; nothing is imported here, so `dockyard.engine.monitor` stays light
for the monitor zygote):

    engine.Engine(data_root, exec_root, *, cgroup_parent, live_restore, publish, zygote)
        create, start, stop, kill, restart, pause, unpause, rename, resize, remove, prune, wait,
        attach, get, restore, close; .execs (execs.ExecManager), .images, .volumes
    engine.NotModified, engine.StartFailed, engine.AttachRequest, engine.parse_signal
    monitor.MonitorConfig, monitor.spawn, monitor.connect      the per-container/per-exec monitor
    zygote.Zygote                                               forks the monitors (small heap)
    container.Container, container.State, container.ContainerStore
    views.inspect, views.summary, views.list_containers        Docker's JSON shapes
    fsops.top, changes, export, archive_stat/get/put, commit    a container's filesystem from outside

Building blocks the engine calls (each module's docstring says more):
    config   Docker's create request records, decoding and validation
    spec     create request + image config -> OCI spec, as dockerd builds it
    hostfiles, user, devices, seccomp_default                   parts of the spec
    logs     the json-file driver (writer in the monitor, reader/follow in the daemon)
    events   the event bus behind /events
    health   the healthcheck state machine
"""
