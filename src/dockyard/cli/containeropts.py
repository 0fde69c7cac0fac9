"""`run`/`create` flags and their translation into the create body (Config + HostConfig), after
docker's cli/command/container/opts.go: the same flag names, the same checks and error texts, the
same JSON shape on the wire.

Value checks that docker makes while parsing flags (sizes, cpus, ulimits, -e, -l) live in the
`conv` of each flag, so they fail as `invalid argument "x" for "-m, --memory" flag: ...`;
the others (env files, ports, volumes, restart, conflicts) raise ValueError from `build`, which
`run`/`create` print as `dockyard: <why>` with exit 125.
"""

from __future__ import annotations

import os

from dockyard.cli.flags import Flag, bool_flag, int_flag, list_flag, parse_int, str_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.flags import Options

# --- value parsers (go-units and docker/cli/opts) --------------------------------------------

_BINARY = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_DECIMAL = {"k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4, "p": 1000**5}


def _go_float(text: str) -> float:
    if not text or text.strip() != text or text.lower() in ("nan", "inf", "+inf", "-inf", "infinity"):
        raise ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax')
    try:
        return float(text)
    except ValueError:
        raise ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax') from None


def parse_size(text: str, units: dict[str, int] = _BINARY) -> int:
    """go-units RAMInBytes (binary units; FromHumanSize with `_DECIMAL`)."""
    num, space, suffix = text.partition(" ")
    if not space:
        last = max(text.rfind(c) for c in "0123456789.")
        if last < 0:
            raise ValueError(f"invalid size: '{text}'")
        num, suffix = text[:last + 1], text[last + 1:]
    size = _go_float(num)
    if size < 0:
        raise ValueError(f"invalid size: '{text}'")
    if not suffix:
        return int(size)
    low = suffix.lower()
    if len(low) > 3:
        raise ValueError(f"invalid suffix: '{low}'")
    if low[0] == "b":
        if len(low) > 1:
            raise ValueError(f"invalid suffix: '{low}'")
        return int(size)
    if low[0] not in units or (len(low) == 2 and low[1] != "b") or (len(low) == 3 and low[1:] != "ib"):
        raise ValueError(f"invalid suffix: '{low}'")
    return int(size * units[low[0]])


def parse_mem_swap(text: str) -> int:
    return -1 if text == "-1" else parse_size(text)


def parse_cpus(text: str) -> int:
    """docker's NanoCPUs: a rational number of CPUs, times 1e9, which must be whole."""
    from fractions import Fraction
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"failed to parse {text} as a rational number") from None
    nano = value * 1_000_000_000
    if nano.denominator != 1:
        raise ValueError("value is too precise")
    return int(nano)


_ULIMITS = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
            "rss", "rtprio", "rttime", "sigpending", "stack")


def parse_ulimit(text: str) -> dict[str, Any]:
    name, eq, limits = text.partition("=")
    if not eq:
        raise ValueError(f"invalid ulimit argument: {text}")
    if name not in _ULIMITS:
        raise ValueError(f"invalid ulimit type: {name}")
    soft_text, colon, hard_text = limits.partition(":")
    soft = parse_int(soft_text)
    hard = parse_int(hard_text) if colon else soft
    if soft > hard:
        raise ValueError(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    return {"Name": name, "Hard": hard, "Soft": soft}


def _device_and_value(text: str) -> tuple[str, str]:
    """docker's `<device-path>:<value>` (opts.ValidateThrottle*Device, ValidateWeightDevice)."""
    path, colon, value = text.partition(":")
    if not colon or not path:
        raise ValueError(f"bad format: {text}")
    if not path.startswith("/dev/"):
        raise ValueError(f"bad format for device path: {text}")
    return path, value


def parse_throttle_bps(text: str) -> dict[str, Any]:
    path, value = _device_and_value(text)
    try:
        rate = parse_size(value)
    except ValueError:
        rate = -1
    if rate < 0:
        raise ValueError(f"invalid rate for device: {text}. The correct format is <device-path>:<number>[<unit>]. "
                         "Number must be a positive integer. Unit is optional and can be kb, mb, or gb")
    return {"Path": path, "Rate": rate}


def parse_throttle_iops(text: str) -> dict[str, Any]:
    path, value = _device_and_value(text)
    if not value.isdigit() or int(value) >= 1 << 64:
        raise ValueError(f"invalid rate for device: {text}. The correct format is <device-path>:<number>. "
                         "Number must be a positive integer")
    return {"Path": path, "Rate": int(value)}


def parse_weight_device(text: str) -> dict[str, Any]:
    path, value = _device_and_value(text)
    weight = int(value) if value.isdigit() and int(value) < 1 << 16 else -1
    if weight < 0 or (weight and not 10 <= weight <= 1000):
        raise ValueError(f"invalid weight for device: {text}")
    return {"Path": path, "Weight": weight}


def check_env(text: str) -> str:
    key, eq, _ = text.partition("=")
    if not key:
        raise ValueError(f"invalid environment variable: {text}")
    if eq:
        return text
    value = os.environ.get(key)
    return f"{key}={value}" if value is not None else text


def check_label(text: str) -> str:
    key = text.partition("=")[0].lstrip(" \t")
    if not key:
        raise ValueError(f"invalid label '{text}': empty name")
    if " " in key or "\t" in key:
        raise ValueError(f"label '{key}' contains whitespaces")
    return text


_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                   "m": 60_000_000_000, "h": 3_600_000_000_000}


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds."""
    s = text
    sign = 1
    if s[:1] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    total = 0.0
    while s:
        i = 0
        while i < len(s) and (s[i].isdigit() or s[i] == "."):
            i += 1
        if i == 0 or s[:i] == ".":
            raise ValueError(f'time: invalid duration "{text}"')
        number = float(s[:i])
        s = s[i:]
        j = 0
        while j < len(s) and not (s[j].isdigit() or s[j] == "."):
            j += 1
        unit = s[:j]
        s = s[j:]
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in _DURATION_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += number * _DURATION_UNITS[unit]
    return sign * int(total)


def _check_attach(text: str) -> str:
    low = text.lower()
    if low not in ("stdin", "stdout", "stderr"):
        raise ValueError("valid streams are STDIN, STDOUT and STDERR")
    return low


def _check_pull(text: str) -> str:
    if text not in ("always", "missing", "never", ""):
        raise ValueError(f"invalid pull option: '{text}': must be one of \"always\", \"missing\" or \"never\"")
    return text


# --- the flags ---------------------------------------------------------------------------

def container_flags() -> list[Flag]:
    """The flags `run` and `create` share (docker's addFlags plus create's own)."""
    return [
        list_flag("attach", "a", "Attach to STDIN, STDOUT or STDERR", _check_attach),
        list_flag("env", "e", "Set environment variables", check_env),
        list_flag("env-file", "", "Read in a file of environment variables"),
        str_flag("entrypoint", "", "Overwrite the default ENTRYPOINT of the image"),
        list_flag("group-add", "", "Add additional groups to join"),
        str_flag("hostname", "h", "Container host name"),
        str_flag("domainname", "", "Container NIS domain name"),
        bool_flag("interactive", "i", "Keep STDIN open even if not attached"),
        list_flag("label", "l", "Set meta data on a container", check_label),
        list_flag("label-file", "", "Read in a line delimited file of labels"),
        bool_flag("read-only", "", "Mount the container's root filesystem as read only"),
        str_flag("restart", "", "Restart policy to apply when a container exits", "no"),
        str_flag("stop-signal", "", "Signal to stop the container"),
        int_flag("stop-timeout", "", "Timeout (in seconds) to stop a container"),
        list_flag("sysctl", "", "Sysctl options", type_name="map"),
        bool_flag("tty", "t", "Allocate a pseudo-TTY"),
        list_flag("ulimit", "", "Ulimit options", parse_ulimit, "ulimit"),
        str_flag("user", "u", "Username or UID (format: <name|uid>[:<group|gid>])"),
        str_flag("workdir", "w", "Working directory inside the container"),
        bool_flag("rm", "", "Automatically remove the container and its associated anonymous volumes when it exits"),
        list_flag("cap-add", "", "Add Linux capabilities"),
        list_flag("cap-drop", "", "Drop Linux capabilities"),
        bool_flag("privileged", "", "Give extended privileges to this container"),
        list_flag("security-opt", "", "Security Options"),
        str_flag("userns", "", "User namespace to use"),
        str_flag("cgroupns", "", "Cgroup namespace to use (host|private)"),
        list_flag("add-host", "", "Add a custom host-to-IP mapping (host:ip)"),
        list_flag("dns", "", "Set custom DNS servers"),
        list_flag("dns-option", "", "Set DNS options"),
        list_flag("dns-opt", "", "Set DNS options", hidden=True),
        list_flag("dns-search", "", "Set custom DNS search domains"),
        list_flag("expose", "", "Expose a port or a range of ports"),
        str_flag("ip", "", "IPv4 address (e.g., 172.30.100.104)"),
        str_flag("ip6", "", "IPv6 address (e.g., 2001:db8::33)"),
        list_flag("link", "", "Add link to another container"),
        str_flag("mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
        list_flag("publish", "p", "Publish a container's port(s) to the host"),
        bool_flag("publish-all", "P", "Publish all exposed ports to random ports"),
        str_flag("network", "", "Connect a container to a network", type_name="network"),
        str_flag("net", "", "Connect a container to a network", type_name="network", hidden=True),
        list_flag("network-alias", "", "Add network-scoped alias for the container"),
        str_flag("log-driver", "", "Logging driver for the container"),
        list_flag("log-opt", "", "Log driver options"),
        list_flag("storage-opt", "", "Storage driver options for the container"),
        list_flag("tmpfs", "", "Mount a tmpfs directory"),
        list_flag("volumes-from", "", "Mount volumes from the specified container(s)"),
        list_flag("volume", "v", "Bind mount a volume"),
        list_flag("mount", "", "Attach a filesystem mount to the container", parse_mount, "mount"),
        str_flag("health-cmd", "", "Command to run to check health"),
        str_flag("health-interval", "", "Time between running the check (ms|s|m|h) (default 0s)", conv=parse_duration,
                 type_name="duration"),
        int_flag("health-retries", "", "Consecutive failures needed to report unhealthy"),
        str_flag("health-timeout", "", "Maximum time to allow one check to run (ms|s|m|h) (default 0s)",
                 conv=parse_duration, type_name="duration"),
        str_flag("health-start-period", "", "Start period for the container to initialize before starting "
                 "health-retries countdown (ms|s|m|h) (default 0s)", conv=parse_duration, type_name="duration"),
        bool_flag("no-healthcheck", "", "Disable any container-specified HEALTHCHECK"),
        str_flag("cidfile", "", "Write the container ID to the file"),
        str_flag("cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)"),
        str_flag("cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)"),
        int_flag("cpu-period", "", "Limit CPU CFS (Completely Fair Scheduler) period"),
        int_flag("cpu-quota", "", "Limit CPU CFS (Completely Fair Scheduler) quota"),
        int_flag("cpu-rt-period", "", "Limit CPU real-time period in microseconds"),
        int_flag("cpu-rt-runtime", "", "Limit CPU real-time runtime in microseconds"),
        int_flag("cpu-shares", "c", "CPU shares (relative weight)"),
        str_flag("cpus", "", "Number of CPUs", conv=parse_cpus, type_name="decimal"),
        int_flag("blkio-weight", "", "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)"),
        list_flag("blkio-weight-device", "", "Block IO weight (relative device weight)", parse_weight_device),
        list_flag("device-read-bps", "", "Limit read rate (bytes per second) from a device", parse_throttle_bps),
        list_flag("device-read-iops", "", "Limit read rate (IO per second) from a device", parse_throttle_iops),
        list_flag("device-write-bps", "", "Limit write rate (bytes per second) to a device", parse_throttle_bps),
        list_flag("device-write-iops", "", "Limit write rate (IO per second) to a device", parse_throttle_iops),
        str_flag("memory", "m", "Memory limit", conv=parse_size, type_name="bytes"),
        str_flag("memory-reservation", "", "Memory soft limit", conv=parse_size, type_name="bytes"),
        str_flag("memory-swap", "", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
                 conv=parse_mem_swap, type_name="bytes"),
        int_flag("memory-swappiness", "", "Tune container memory swappiness (0 to 100)", -1),
        bool_flag("oom-kill-disable", "", "Disable OOM Killer"),
        int_flag("oom-score-adj", "", "Tune host's OOM preferences (-1000 to 1000)"),
        int_flag("pids-limit", "", "Tune container pids limit (set -1 for unlimited)"),
        str_flag("cgroup-parent", "", "Optional parent cgroup for the container"),
        str_flag("ipc", "", "IPC mode to use"),
        str_flag("isolation", "", "Container isolation technology"),
        str_flag("pid", "", "PID namespace to use"),
        str_flag("shm-size", "", "Size of /dev/shm", conv=parse_size, type_name="bytes"),
        str_flag("uts", "", "UTS namespace to use"),
        str_flag("runtime", "", "Runtime to use for this container"),
        bool_flag("init", "", "Run an init inside the container that forwards signals and reaps processes"),
        list_flag("device", "", "Add a host device to the container"),
        list_flag("annotation", "", "Add an annotation to the container (passed through to the OCI runtime)",
                  type_name="map"),
        str_flag("name", "", "Assign a name to the container"),
        str_flag("platform", "", "Set platform if server is multi-platform capable"),
        str_flag("pull", "", 'Pull image before running ("always", "missing", "never")', "missing", _check_pull),
        bool_flag("quiet", "q", "Suppress the pull output"),
        bool_flag("help", "", "Print usage"),
    ]


# --- --mount, -v, -p ---------------------------------------------------------------------

def _split_csv(text: str) -> list[str]:
    """One CSV record (Go's encoding/csv): fields may be quoted with "", doubled quotes escape."""
    fields: list[str] = []
    field: list[str] = []
    i = 0
    quoted = False
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"':
                if text[i + 1:i + 2] == '"':
                    field.append('"')
                    i += 1
                else:
                    quoted = False
            else:
                field.append(ch)
        elif ch == '"' and not field:
            quoted = True
        elif ch == ",":
            fields.append("".join(field))
            field = []
        else:
            field.append(ch)
        i += 1
    if quoted:
        raise ValueError(f'parse error on line 1, column {len(text) + 1}: extraneous or missing " in quoted-field')
    fields.append("".join(field))
    return fields


def _mount_bool(key: str, value: str, has_value: bool) -> bool:
    if not has_value:
        return True
    low = value.lower()
    if low in ("1", "true"):
        return True
    if low in ("0", "false"):
        return False
    raise ValueError(f"invalid value for '{key}': invalid boolean value ({value!r}): must be one of "
                     '"true", "1", "false", or "0" (default "true")')


def parse_mount(text: str) -> dict[str, Any]:
    """docker's MountOpt.Set: `type=bind,source=/a,target=/b,readonly`."""
    value = text.strip()
    if not value:
        raise ValueError("value is empty")
    mount: dict[str, Any] = {"Type": "volume"}

    def sub(name: str) -> dict[str, Any]:
        return mount.setdefault(name, {})  # type: ignore[no-any-return]

    for field in _split_csv(value):
        key, eq, val = field.partition("=")
        if key.strip() != key:
            raise ValueError(f"invalid option '{key.strip()}' in '{field}': option should not have whitespace")
        if eq:
            if not val.strip():
                raise ValueError(f"invalid value for '{key}': value is empty")
            if val.strip() != val:
                raise ValueError(f"invalid value for '{key}' in '{field}': value should not have whitespace")
        key = key.lower()
        if not eq and key not in ("readonly", "ro", "volume-nocopy", "bind-nonrecursive", "bind-create-src"):
            raise ValueError(f"invalid field '{field}' must be a key=value pair")
        if key == "type":
            mount["Type"] = val.lower()
        elif key in ("source", "src"):
            mount["Source"] = os.path.abspath(val) if val.startswith(".") else val
        elif key in ("target", "dst", "destination"):
            mount["Target"] = val
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = _mount_bool(key, val, bool(eq))
        elif key == "consistency":
            mount["Consistency"] = val.lower()
        elif key == "bind-propagation":
            sub("BindOptions")["Propagation"] = val.lower()
        elif key == "bind-nonrecursive":
            raise ValueError("bind-nonrecursive is deprecated, use bind-recursive=disabled instead")
        elif key == "bind-recursive":
            option = {"enabled": "", "disabled": "NonRecursive", "writable": "ReadOnlyNonRecursive",
                      "readonly": "ReadOnlyForceRecursive"}
            if val not in option:
                raise ValueError(f'invalid value for {key}: {val} (must be "enabled", "disabled", "writable", or "readonly")')
            if option[val]:
                sub("BindOptions")[option[val]] = True
        elif key == "bind-create-src":
            sub("BindOptions")["CreateMountpoint"] = _mount_bool(key, val, bool(eq))
        elif key == "volume-subpath":
            sub("VolumeOptions")["Subpath"] = val
        elif key == "volume-nocopy":
            sub("VolumeOptions")["NoCopy"] = _mount_bool(key, val, bool(eq))
        elif key == "volume-label":
            k, _, v = val.partition("=")
            sub("VolumeOptions").setdefault("Labels", {})[k] = v
        elif key == "volume-driver":
            sub("VolumeOptions").setdefault("DriverConfig", {})["Name"] = val
        elif key == "volume-opt":
            k, _, v = val.partition("=")
            sub("VolumeOptions").setdefault("DriverConfig", {}).setdefault("Options", {})[k] = v
        elif key == "tmpfs-size":
            try:
                sub("TmpfsOptions")["SizeBytes"] = parse_size(val)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {val}") from None
        elif key == "tmpfs-mode":
            try:
                sub("TmpfsOptions")["Mode"] = int(val, 8)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {val}") from None
        else:
            raise ValueError(f"unknown option '{key}' in '{field}'")
    kind = mount["Type"]
    if kind not in ("bind", "volume", "tmpfs", "npipe", "cluster", "image"):
        return mount  # the daemon names what it does not know
    if kind != "bind" and "BindOptions" in mount:
        raise ValueError(f"cannot mix 'bind-*' options with mount type '{kind}'")
    if kind != "volume" and "VolumeOptions" in mount:
        raise ValueError(f"cannot mix 'volume-*' options with mount type '{kind}'")
    if kind != "tmpfs" and "TmpfsOptions" in mount:
        raise ValueError(f"cannot mix 'tmpfs-*' options with mount type '{kind}'")
    return mount


def parse_volume(spec: str) -> tuple[str, str, str]:
    """docker's volumespec.Parse reduced to what the create body needs: ("bind"|"volume", source,
    target). A spec without a source is an anonymous volume."""
    if not spec:
        raise ValueError("invalid empty volume spec")
    if len(spec) <= 2:
        return "volume", "", spec
    parts = spec.split(":")
    if any(p == "" for p in parts):
        raise ValueError(f"invalid spec: {spec}: empty section between colons")
    if len(parts) > 3:
        raise ValueError(f"invalid spec: {spec}: too many colons")
    if len(parts) == 1:
        return "volume", "", parts[0]
    source, target = parts[0], parts[1]
    kind = "bind" if source[0] in "./~" else "volume"
    return kind, source, target


def _port_range(text: str) -> tuple[int, int]:
    start, dash, end = text.partition("-")
    if not start.isdigit() or (dash and not end.isdigit()):
        raise ValueError(text)
    low, high = int(start), int(end) if dash else int(start)
    if low > 65535 or high > 65535 or high < low:
        raise ValueError(text)
    return low, high


def _valid_ip(text: str) -> bool:
    if ":" in text:
        try:
            import ipaddress
            ipaddress.IPv6Address(text)
            return True
        except ValueError:
            return False
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


def parse_publish(spec: str) -> list[tuple[str, dict[str, str]]]:
    """nat.ParsePortSpec: `[ip:][host[-range]:]container[-range][/proto]` -> [(port/proto, binding)]."""
    if "=" in spec:
        params = {"protocol": "tcp"}
        for param in spec.split(","):
            k, eq, v = param.partition("=")
            if not eq or not k:
                raise ValueError(f"invalid publish opts format (should be name=value but got '{param}')")
            params[k] = v
        spec = f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}"
    parts = spec.split(":")
    container = parts[-1]
    if len(parts) == 1:
        ip, host = "", ""
    elif len(parts) == 2:
        ip, host = "", parts[0]
    else:
        ip, host = ":".join(parts[:-2]), parts[-2]
    port_text, _, proto = container.partition("/")
    proto = proto or "tcp"
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    if ip and not _valid_ip(ip):
        raise ValueError(f"invalid IP address: {ip}")
    if not port_text:
        raise ValueError(f"no port specified: {spec}<empty>")
    try:
        start, end = _port_range(port_text)
    except ValueError:
        raise ValueError(f"invalid containerPort: {port_text}") from None
    host_start = host_end = 0
    if host:
        try:
            host_start, host_end = _port_range(host)
        except ValueError:
            raise ValueError(f"invalid hostPort: {host}") from None
        if end - start != host_end - host_start and end != start:
            raise ValueError(f"invalid ranges specified for container and host Ports: {port_text} and {host}")
    if proto.lower() not in ("tcp", "udp", "sctp"):
        raise ValueError(f"invalid proto: {proto}")
    result = []
    for i in range(end - start + 1):
        host_port = str(host_start + i) if host else ""
        if start == end and host_start != host_end:
            host_port = f"{host_start}-{host_end}"
        result.append((f"{start + i}/{proto.lower()}", {"HostIp": ip, "HostPort": host_port}))
    return result


def read_kv_file(path: str, lookup: bool) -> list[str]:
    """docker's kvfile.Parse: KEY=VALUE lines, `#` comments; a bare KEY takes the host's value
    (env files) or is dropped (label files)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError(f"open {path}: {(e.strerror or str(e)).lower()}") from None
    lines: list[str] = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        raw = raw.removesuffix(b"\r")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"invalid env file ({path}): invalid utf8 bytes at line {number}: "
                             f"[{' '.join(str(b) for b in raw)}]") from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        line = text.lstrip()
        if not line or line.startswith("#"):
            continue
        key, eq, _ = line.partition("=")
        if not key:
            raise ValueError(f"invalid env file ({path}): no variable name on line '{line}'")
        if " " in key or "\t" in key:
            raise ValueError(f"invalid env file ({path}): variable '{key}' contains whitespaces")
        if eq:
            lines.append(line)
        elif lookup and key in os.environ:
            lines.append(f"{key}={os.environ[key]}")
    return lines


# --- the create body ---------------------------------------------------------------------

def _kv_map(items: list[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in items:
        k, _, v = item.partition("=")
        result[k] = v
    return result


def normalize_caps(caps: list[str]) -> list[str]:
    """The moby client's normalizeCapabilities: upper case, CAP_ prefix (ALL kept), unique, sorted."""
    out = set()
    for cap in caps:
        cap = cap.upper()
        out.add(cap if cap == "ALL" or cap.startswith("CAP_") else "CAP_" + cap)
    return sorted(out)


def parse_restart(text: str) -> dict[str, Any]:
    if not text:
        return {"Name": "", "MaximumRetryCount": 0}
    name, colon, count = text.partition(":")
    if colon and not name:
        raise ValueError("invalid restart policy format: no policy provided before colon")
    retries = 0
    if count:
        try:
            retries = int(count)
        except ValueError:
            raise ValueError("invalid restart policy format: maximum retry count must be an integer") from None
    return {"Name": name, "MaximumRetryCount": retries}


def build(opts: Options, image: str, args: list[str], console: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """The POST /containers/create body for these flags (docker's parse()); ValueError on bad input."""
    attach = opts.values("attach")
    attach_stdin = "stdin" in attach or opts.on("interactive")
    attach_stdout = "stdout" in attach or not attach
    attach_stderr = "stderr" in attach or not attach
    swappiness = opts.num("memory-swappiness")
    if swappiness != -1 and not 0 <= swappiness <= 100:
        raise ValueError(f"invalid value: {swappiness}. Valid memory swappiness range is 0-100")
    volumes: dict[str, dict[str, Any]] = {}
    binds: list[str] = []
    for spec in opts.values("volume"):
        kind, source, _target = parse_volume(spec)
        if source:
            if kind == "bind" and source.startswith("."):
                host, _, rest = spec.partition(":")
                spec = os.path.abspath(host) + ":" + rest
            binds.append(spec)
        else:
            volumes[spec] = {}
    tmpfs: dict[str, str] = {}
    for item in opts.values("tmpfs"):
        k, _, v = item.partition(":")
        tmpfs[k] = v
    entrypoint: list[str] | None = None
    if opts.text("entrypoint"):
        entrypoint = [opts.text("entrypoint")]
    elif opts.changed("entrypoint"):
        entrypoint = [""]
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in opts.values("publish"):
        for port, binding in parse_publish(spec):
            exposed[port] = {}
            bindings.setdefault(port, []).append(binding)
    for spec in opts.values("expose"):
        port_text, _, proto = spec.partition("/")
        try:
            low, high = _port_range(port_text)
        except ValueError:
            raise ValueError(f"invalid range format for --expose: {spec}") from None
        for number in range(low, high + 1):
            exposed[f"{number}/{proto or 'tcp'}"] = {}
    env: list[str] = []
    for path in opts.values("env-file"):
        env.extend(read_kv_file(path, lookup=True))
    env.extend(opts.values("env"))
    labels: list[str] = []
    for path in opts.values("label-file"):
        labels.extend(read_kv_file(path, lookup=False))
    labels.extend(opts.values("label"))
    restart = parse_restart(opts.text("restart"))
    if opts.on("rm") and restart["Name"] not in ("", "no"):
        raise ValueError("conflicting options: cannot specify both --restart and --rm")
    security = opts.values("security-opt")
    for item in security:
        k, eq, v = item.partition("=")
        if not eq and k != "no-new-privileges":
            k, eq, v = item.partition(":")
        if (not eq or not v) and k != "no-new-privileges":
            raise ValueError(f'invalid --security-opt: "{item}"')
    storage: dict[str, str] = {}
    for item in opts.values("storage-opt"):
        k, eq, v = item.partition("=")
        if not eq:
            raise ValueError("invalid storage option")
        storage[k] = v
    log_opts = _kv_map(opts.values("log-opt"))
    if opts.text("log-driver") == "none" and log_opts:
        raise ValueError("invalid logging opts for driver none")
    health: dict[str, Any] | None = None
    have_health = any(opts.changed(n) for n in ("health-cmd", "health-interval", "health-timeout",
                                                 "health-start-period", "health-retries"))
    if opts.on("no-healthcheck"):
        if have_health:
            raise ValueError("--no-healthcheck conflicts with --health-* options")
        health = {"Test": ["NONE"]}
    elif have_health:
        for name in ("interval", "timeout", "start-period", "retries"):
            value = opts.value(f"health-{name}")
            if isinstance(value, int) and value < 0:
                raise ValueError(f"--health-{name} cannot be negative")
        health = {"Test": ["CMD-SHELL", opts.text("health-cmd")] if opts.text("health-cmd") else None,
                  "Interval": opts.value("health-interval") or 0, "Timeout": opts.value("health-timeout") or 0,
                  "StartPeriod": opts.value("health-start-period") or 0, "Retries": opts.num("health-retries")}
    devices = []
    for spec in opts.values("device"):
        parts = spec.split(":")
        if len(parts) > 3:
            raise ValueError(f"invalid device specification: {spec}")
        src, dst, perms = parts[0], parts[0], "rwm"
        if len(parts) >= 2:
            if set(parts[1]) <= set("rwm") and parts[1]:
                perms = parts[1]
            else:
                dst = parts[1]
        if len(parts) == 3:
            perms = parts[2]
        devices.append({"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": perms})
    network = opts.text("network") or opts.text("net") or "default"
    cap_add, cap_drop = normalize_caps(opts.values("cap-add")), normalize_caps(opts.values("cap-drop"))
    ulimits = sorted(opts.values("ulimit"), key=lambda u: str(u["Name"]))
    unique_ulimits = {u["Name"]: u for u in ulimits}

    config: dict[str, Any] = {
        "Hostname": opts.text("hostname"), "Domainname": opts.text("domainname"), "User": opts.text("user"),
        "AttachStdin": attach_stdin, "AttachStdout": attach_stdout, "AttachStderr": attach_stderr,
        "Tty": opts.on("tty"), "OpenStdin": opts.on("interactive"),
        "StdinOnce": opts.on("interactive") and attach_stdin,
        "Env": env or None, "Cmd": args or None, "Image": image, "Volumes": volumes,
        "WorkingDir": opts.text("workdir"), "Entrypoint": entrypoint, "OnBuild": None, "Labels": _kv_map(labels),
    }
    if exposed:
        config["ExposedPorts"] = exposed
    if opts.text("stop-signal"):
        config["StopSignal"] = opts.text("stop-signal")
    if opts.changed("stop-timeout"):
        config["StopTimeout"] = opts.num("stop-timeout")
    if health is not None:
        config["Healthcheck"] = health
    if opts.text("mac-address"):
        config["MacAddress"] = opts.text("mac-address")
    host_config: dict[str, Any] = {
        "Binds": binds or None, "ContainerIDFile": opts.text("cidfile"),
        "LogConfig": {"Type": opts.text("log-driver"), "Config": log_opts},
        "NetworkMode": network, "PortBindings": bindings, "RestartPolicy": restart, "AutoRemove": opts.on("rm"),
        "VolumeDriver": "", "VolumesFrom": opts.values("volumes-from") or None, "ConsoleSize": list(console),
        "CapAdd": cap_add or None, "CapDrop": cap_drop or None,
        "CgroupnsMode": opts.text("cgroupns"), "Dns": opts.values("dns"),
        "DnsOptions": opts.values("dns-option") + opts.values("dns-opt"), "DnsSearch": opts.values("dns-search"),
        "ExtraHosts": opts.values("add-host") or None, "GroupAdd": opts.values("group-add") or None,
        "IpcMode": opts.text("ipc"), "Cgroup": "", "Links": opts.values("link") or None,
        "OomScoreAdj": opts.num("oom-score-adj"), "PidMode": opts.text("pid"), "Privileged": opts.on("privileged"),
        "PublishAllPorts": opts.on("publish-all"), "ReadonlyRootfs": opts.on("read-only"),
        "SecurityOpt": security or None, "UTSMode": opts.text("uts"), "UsernsMode": opts.text("userns"),
        "ShmSize": opts.value("shm-size") or 0, "Isolation": opts.text("isolation"),
        "CpuShares": opts.num("cpu-shares"), "Memory": opts.value("memory") or 0, "NanoCpus": opts.value("cpus") or 0,
        "CgroupParent": opts.text("cgroup-parent"), "BlkioWeight": opts.num("blkio-weight"),
        "BlkioWeightDevice": opts.values("blkio-weight-device"),
        "BlkioDeviceReadBps": opts.values("device-read-bps"), "BlkioDeviceWriteBps": opts.values("device-write-bps"),
        "BlkioDeviceReadIOps": opts.values("device-read-iops"),
        "BlkioDeviceWriteIOps": opts.values("device-write-iops"),
        "CpuPeriod": opts.num("cpu-period"), "CpuQuota": opts.num("cpu-quota"),
        "CpuRealtimePeriod": opts.num("cpu-rt-period"), "CpuRealtimeRuntime": opts.num("cpu-rt-runtime"),
        "CpusetCpus": opts.text("cpuset-cpus"), "CpusetMems": opts.text("cpuset-mems"), "Devices": devices,
        "MemoryReservation": opts.value("memory-reservation") or 0, "MemorySwap": opts.value("memory-swap") or 0,
        "MemorySwappiness": swappiness, "OomKillDisable": opts.on("oom-kill-disable"),
        "PidsLimit": opts.num("pids-limit"), "Ulimits": list(unique_ulimits.values()),
    }
    if tmpfs:
        host_config["Tmpfs"] = tmpfs
    if opts.values("mount"):
        host_config["Mounts"] = opts.values("mount")
    if opts.values("sysctl"):
        host_config["Sysctls"] = _kv_map(opts.values("sysctl"))
    if storage:
        host_config["StorageOpt"] = storage
    if opts.text("runtime"):
        host_config["Runtime"] = opts.text("runtime")
    if opts.changed("init"):
        host_config["Init"] = opts.on("init")
    if opts.values("annotation"):
        host_config["Annotations"] = _kv_map(opts.values("annotation"))
    endpoints: dict[str, Any] = {}
    aliases = opts.values("network-alias")
    if aliases or opts.text("ip") or opts.text("ip6"):
        endpoint: dict[str, Any] = {"Aliases": aliases or None}
        if opts.text("ip") or opts.text("ip6"):
            endpoint["IPAMConfig"] = {"IPv4Address": opts.text("ip"), "IPv6Address": opts.text("ip6")}
        endpoints[network] = endpoint
    config["HostConfig"] = host_config
    config["NetworkingConfig"] = {"EndpointsConfig": endpoints}
    return config


def familiar_ref(image: str) -> str:
    """reference.FamiliarString(TagNameOnly(ref)): `busybox` -> `busybox:latest`, digests kept."""
    if "@" in image:
        return image
    last = image.rsplit("/", 1)[-1]
    name = image if ":" in last else image + ":latest"
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name
