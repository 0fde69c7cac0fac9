"""An OCI runtime spec record (`dockyard.oci.runtime_spec.Spec`) written as config.json, the way
runtime-spec's Go types marshal it: their field order and their `omitempty` rules, so the document
reads like the one dockerd hands runc. `Spec.from_json` reads it back."""

from __future__ import annotations

from typing import Any

from dockyard.engine.seccomp_default import seccomp_to_json
from dockyard.oci import runtime_spec as rs

__all__ = ["spec_to_json"]


def _user(u: rs.User) -> dict[str, Any]:
    out: dict[str, Any] = {"uid": u.uid, "gid": u.gid}
    if u.umask is not None:
        out["umask"] = u.umask
    if u.additional_gids:
        out["additionalGids"] = list(u.additional_gids)
    if u.username:
        out["username"] = u.username
    return out


def _caps(c: rs.Capabilities) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (("bounding", c.bounding), ("effective", c.effective), ("inheritable", c.inheritable),
                       ("permitted", c.permitted), ("ambient", c.ambient)):
        if value:
            out[key] = list(value)
    return out


def _process(p: rs.Process) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if p.terminal:
        out["terminal"] = True
    if p.console_size is not None:
        out["consoleSize"] = {"height": p.console_size.height, "width": p.console_size.width}
    out["user"] = _user(p.user)
    if p.args:
        out["args"] = list(p.args)
    if p.env:
        out["env"] = list(p.env)
    out["cwd"] = p.cwd
    if p.capabilities is not None:
        out["capabilities"] = _caps(p.capabilities)
    if p.rlimits:
        out["rlimits"] = [{"type": r.type, "hard": r.hard, "soft": r.soft} for r in p.rlimits]
    if p.no_new_privileges:
        out["noNewPrivileges"] = True
    if p.apparmor_profile:
        out["apparmorProfile"] = p.apparmor_profile
    if p.oom_score_adj is not None:
        out["oomScoreAdj"] = p.oom_score_adj
    if p.scheduler is not None:
        s = p.scheduler
        sched: dict[str, Any] = {"policy": s.policy}
        for key, value in (("nice", s.nice), ("priority", s.priority), ("runtime", s.runtime),
                           ("deadline", s.deadline), ("period", s.period)):
            if value:
                sched[key] = value
        if s.flags:
            sched["flags"] = list(s.flags)
        out["scheduler"] = sched
    if p.selinux_label:
        out["selinuxLabel"] = p.selinux_label
    if p.io_priority is not None:
        out["ioPriority"] = {"class": p.io_priority.klass, "priority": p.io_priority.priority}
    return out


def _mount(m: rs.Mount) -> dict[str, Any]:
    out: dict[str, Any] = {"destination": m.destination}
    if m.type:
        out["type"] = m.type
    if m.source:
        out["source"] = m.source
    if m.options:
        out["options"] = list(m.options)
    return out


def _hooks(h: rs.Hooks) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in rs.HOOK_KINDS:
        hooks = h[kind]
        if hooks:
            items = []
            for hook in hooks:
                item: dict[str, Any] = {"path": hook.path}
                if hook.args:
                    item["args"] = list(hook.args)
                if hook.env:
                    item["env"] = list(hook.env)
                if hook.timeout is not None:
                    item["timeout"] = hook.timeout
                items.append(item)
            out[kind] = items
    return out


def _device_rule(r: rs.DeviceRule) -> dict[str, Any]:
    out: dict[str, Any] = {"allow": r.allow}
    if r.type and not (r.type == "a" and r.major is None and r.minor is None):
        out["type"] = r.type
    if r.major is not None:
        out["major"] = r.major
    if r.minor is not None:
        out["minor"] = r.minor
    if r.access:
        out["access"] = r.access
    return out


def _resources(r: rs.Resources) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if r.devices:
        out["devices"] = [_device_rule(d) for d in r.devices]
    if r.memory is not None:
        m = r.memory
        mem: dict[str, Any] = {}
        for key, value in (("limit", m.limit), ("reservation", m.reservation), ("swap", m.swap), ("kernel", m.kernel),
                           ("kernelTCP", m.kernel_tcp), ("swappiness", m.swappiness),
                           ("disableOOMKiller", m.disable_oom_killer), ("useHierarchy", m.use_hierarchy),
                           ("checkBeforeUpdate", m.check_before_update)):
            if value is not None:
                mem[key] = value
        out["memory"] = mem
    if r.cpu is not None:
        c = r.cpu
        cpu: dict[str, Any] = {}
        for key, value in (("shares", c.shares), ("quota", c.quota), ("burst", c.burst), ("period", c.period),
                           ("realtimeRuntime", c.realtime_runtime), ("realtimePeriod", c.realtime_period)):
            if value is not None:
                cpu[key] = value
        if c.cpus:
            cpu["cpus"] = c.cpus
        if c.mems:
            cpu["mems"] = c.mems
        if c.idle is not None:
            cpu["idle"] = c.idle
        out["cpu"] = cpu
    if r.pids_limit is not None:
        out["pids"] = {"limit": r.pids_limit}
    if r.block_io is not None:
        b = r.block_io
        blkio: dict[str, Any] = {}
        if b.weight is not None:
            blkio["weight"] = b.weight
        if b.leaf_weight is not None:
            blkio["leafWeight"] = b.leaf_weight
        if b.weight_device:
            items = []
            for w in b.weight_device:
                item: dict[str, Any] = {"major": w.major, "minor": w.minor}
                if w.weight is not None:
                    item["weight"] = w.weight
                if w.leaf_weight is not None:
                    item["leafWeight"] = w.leaf_weight
                items.append(item)
            blkio["weightDevice"] = items
        for key, devices in (("throttleReadBpsDevice", b.throttle_read_bps), ("throttleWriteBpsDevice", b.throttle_write_bps),
                             ("throttleReadIOPSDevice", b.throttle_read_iops),
                             ("throttleWriteIOPSDevice", b.throttle_write_iops)):
            if devices:
                blkio[key] = [{"major": t.major, "minor": t.minor, "rate": t.rate} for t in devices]
        out["blockIO"] = blkio
    if r.hugepage_limits:
        out["hugepageLimits"] = [{"pageSize": h.page_size, "limit": h.limit} for h in r.hugepage_limits]
    if r.unified:
        out["unified"] = dict(r.unified)
    return out


def _device(d: rs.Device) -> dict[str, Any]:
    out: dict[str, Any] = {"path": d.path, "type": d.type, "major": d.major, "minor": d.minor}
    if d.file_mode is not None:
        out["fileMode"] = d.file_mode
    if d.uid is not None:
        out["uid"] = d.uid
    if d.gid is not None:
        out["gid"] = d.gid
    return out


def _linux(lx: rs.Linux) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if lx.uid_mappings:
        out["uidMappings"] = [{"containerID": m.container_id, "hostID": m.host_id, "size": m.size} for m in lx.uid_mappings]
    if lx.gid_mappings:
        out["gidMappings"] = [{"containerID": m.container_id, "hostID": m.host_id, "size": m.size} for m in lx.gid_mappings]
    if lx.sysctl:
        out["sysctl"] = dict(sorted(lx.sysctl.items()))
    if lx.resources is not None:
        out["resources"] = _resources(lx.resources)
    if lx.cgroups_path:
        out["cgroupsPath"] = lx.cgroups_path
    if lx.namespaces:
        out["namespaces"] = [{"type": n.type, **({"path": n.path} if n.path else {})} for n in lx.namespaces]
    if lx.devices:
        out["devices"] = [_device(d) for d in lx.devices]
    if lx.seccomp is not None:
        out["seccomp"] = seccomp_to_json(lx.seccomp)
    if lx.rootfs_propagation:
        out["rootfsPropagation"] = lx.rootfs_propagation
    if lx.masked_paths:
        out["maskedPaths"] = list(lx.masked_paths)
    if lx.readonly_paths:
        out["readonlyPaths"] = list(lx.readonly_paths)
    if lx.mount_label:
        out["mountLabel"] = lx.mount_label
    if lx.intel_rdt is not None:
        out["intelRdt"] = lx.intel_rdt
    if lx.personality is not None:
        out["personality"] = {"domain": lx.personality.domain, **({"flags": list(lx.personality.flags)}
                                                                  if lx.personality.flags else {})}
    return out


def spec_to_json(spec: rs.Spec) -> dict[str, Any]:
    """`spec` as config.json: runtime-spec Go field order and omitempty rules; `hooks` is always written
    (Docker writes `"hooks": {}`)."""
    out: dict[str, Any] = {"ociVersion": spec.oci_version}
    if spec.process is not None:
        out["process"] = _process(spec.process)
    root: dict[str, Any] = {"path": spec.root.path}
    if spec.root.readonly:
        root["readonly"] = True
    out["root"] = root
    if spec.hostname:
        out["hostname"] = spec.hostname
    if spec.domainname:
        out["domainname"] = spec.domainname
    if spec.mounts:
        out["mounts"] = [_mount(m) for m in spec.mounts]
    out["hooks"] = _hooks(spec.hooks)
    if spec.annotations:
        out["annotations"] = dict(sorted(spec.annotations.items()))
    out["linux"] = _linux(spec.linux)
    return out
