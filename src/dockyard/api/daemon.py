"""`dockyardd`: the daemon. Flags as dockerd's where they apply; daemon.json as dockerd reads it.

    dockyardd [-H unix:///run/dockyard.sock] [-H tcp://127.0.0.1:2375] [--data-root /var/lib/dockyard]
              [--exec-root /run/dockyard] [--pidfile /run/dockyard.pid] [--config-file daemon.json]
              [--tlsverify --tlscacert ca.pem --tlscert cert.pem --tlskey key.pem] [--log-level info]
              [--live-restore=true|false] [--insecure-tcp] [--ip 0.0.0.0]

TCP without TLS is refused unless the address is a loopback one or `--insecure-tcp` is given:
whoever reaches the socket is root on the host. SIGHUP re-reads the config file (log-level, debug,
live-restore take effect); SIGTERM/SIGINT stop the daemon, leaving containers running under their
monitors when live-restore is on (the default), stopping them when it is off.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import grp
import ipaddress
import json
import logging
import os
import signal
import ssl
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_HOST = "unix:///run/dockyard.sock"
DEFAULT_DATA_ROOT = "/var/lib/dockyard"
DEFAULT_EXEC_ROOT = "/run/dockyard"
DEFAULT_PIDFILE = "/run/dockyard.pid"
DEFAULT_CONFIG = "/etc/dockyard/daemon.json"

log = logging.getLogger("dockyardd")


class UsageError(Exception):
    pass


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dockyardd", description="A Docker-compatible container engine daemon")
    p.add_argument("-H", "--host", action="append", default=None, help="daemon socket(s) to listen on")
    p.add_argument("--data-root", default=None)
    p.add_argument("--exec-root", default=None)
    p.add_argument("-p", "--pidfile", default=None)
    p.add_argument("--config-file", default=None)
    p.add_argument("--tls", action="store_true", default=None)
    p.add_argument("--tlsverify", action="store_true", default=None)
    p.add_argument("--tlscacert", default=None)
    p.add_argument("--tlscert", default=None)
    p.add_argument("--tlskey", default=None)
    p.add_argument("-l", "--log-level", default=None, choices=["debug", "info", "warn", "error", "fatal"])
    p.add_argument("-D", "--debug", action="store_true", default=None)
    p.add_argument("--live-restore", nargs="?", const=True, type=_bool, default=None)
    p.add_argument("--insecure-tcp", action="store_true", default=False)
    p.add_argument("--cgroup-parent", default=None)
    p.add_argument("-G", "--group", default=None)
    p.add_argument("--ip", default=None, help="Default IP when binding container ports (default 0.0.0.0)")
    p.add_argument("--log-driver", default=None, help="Default driver for container logs (default json-file)")
    p.add_argument("--log-opt", action="append", default=None, help="Default log driver options for containers")
    return p.parse_args(argv)


_CONFIG_KEYS = {"hosts": "host", "data-root": "data_root", "exec-root": "exec_root", "pidfile": "pidfile",
                "tls": "tls", "tlsverify": "tlsverify", "tlscacert": "tlscacert", "tlscert": "tlscert",
                "tlskey": "tlskey", "log-level": "log_level", "debug": "debug", "live-restore": "live_restore",
                "cgroup-parent": "cgroup_parent", "group": "group", "ip": "ip", "log-driver": "log_driver",
                "log-opts": "log_opt"}


def load_config(path: str | None) -> dict[str, Any]:
    if not path:
        if not os.path.exists(DEFAULT_CONFIG):
            return {}
        path = DEFAULT_CONFIG
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read() or b"{}")
    except FileNotFoundError:
        raise UsageError(f"unable to configure the Docker daemon with file {path}: open {path}: "
                         "no such file or directory") from None
    except ValueError as err:
        raise UsageError(f"unable to configure the Docker daemon with file {path}: {err}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"unable to configure the Docker daemon with file {path}: not a JSON object")
    unknown = sorted(set(doc) - set(_CONFIG_KEYS) - {"runtimes", "default-runtime", "storage-driver", "features",
                                                       "experimental"})
    if unknown:
        raise UsageError(f"the following directives don't match any configuration option: {', '.join(unknown)}")
    return doc


def merge(args: argparse.Namespace, config: dict[str, Any]) -> dict[str, Any]:
    """Flags win over the file; a key given in both is an error, as dockerd has it."""
    settings: dict[str, Any] = {}
    conflicts = []
    for key, attr in _CONFIG_KEYS.items():
        flag = getattr(args, attr)
        if flag is not None and key in config:
            conflicts.append(f"{key}: (from flag: {flag}, from file: {config[key]})")
        settings[attr] = flag if flag is not None else config.get(key)
    if conflicts:
        raise UsageError("the following directives are specified both as a flag and in the configuration file: "
                         + ", ".join(conflicts))
    settings["host"] = settings["host"] or [DEFAULT_HOST]
    if isinstance(settings["host"], str):
        settings["host"] = [settings["host"]]
    settings["data_root"] = settings["data_root"] or DEFAULT_DATA_ROOT
    settings["exec_root"] = settings["exec_root"] or DEFAULT_EXEC_ROOT
    settings["pidfile"] = settings["pidfile"] or DEFAULT_PIDFILE
    settings["live_restore"] = True if settings["live_restore"] is None else bool(settings["live_restore"])
    settings["log_level"] = settings["log_level"] or ("debug" if settings["debug"] else "info")
    settings["cgroup_parent"] = settings["cgroup_parent"] or "/dockyard"
    settings["insecure_tcp"] = args.insecure_tcp
    settings["log_driver"], settings["log_opt"] = _log_defaults(settings["log_driver"], settings["log_opt"])
    from dockyard.network.ports import valid_default_ip

    try:
        settings["ip"] = valid_default_ip(str(settings["ip"] or "0.0.0.0"))
    except ValueError as err:
        raise UsageError(f'invalid argument "{settings["ip"]}" for "--ip" flag: {err}') from None
    return settings


def _log_defaults(driver: Any, options: Any) -> tuple[str, dict[str, str]]:
    """The containers' default log driver and options (`--log-driver`, `--log-opt k=v` or daemon.json's
    `log-driver`, `log-opts`), checked as a container's would be, in dockerd's words."""
    from dockyard.engine.logs import validate_log_config
    from dockyard.errors import InvalidArgument

    if isinstance(options, list):  # the flags
        pairs = [str(o).partition("=") for o in options]
        bad = [o for o, (_, eq, _) in zip(options, pairs, strict=True) if not eq]
        if bad:
            raise UsageError(f'invalid argument "{bad[0]}" for "--log-opt" flag: invalid key value pair format: '
                             f"{bad[0]}")
        options = {key: value for key, _, value in pairs}
    if options is not None and not (isinstance(options, dict) and all(isinstance(v, str) for v in options.values())):
        raise UsageError("log-opts: expected an object of strings")
    driver = str(driver or "json-file")
    try:
        validate_log_config(driver, options)
    except InvalidArgument as err:
        raise UsageError(f"failed to set log opts: {err}") from None
    return driver, dict(options or {})


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plan_listeners(settings: dict[str, Any]) -> list[tuple[str, Any]]:
    """[("unix", path) | ("tcp", (host, port, ssl_context or None))], refusing unsafe TCP."""
    out: list[tuple[str, Any]] = []
    tls = bool(settings.get("tlsverify") or settings.get("tls") or settings.get("tlscert"))
    for addr in settings["host"]:
        if "://" not in addr:
            addr = ("unix://" + addr) if addr.startswith("/") else "tcp://" + addr
        parts = urlsplit(addr)
        if parts.scheme == "unix":
            out.append(("unix", parts.path or "/run/dockyard.sock"))
        elif parts.scheme == "tcp":
            host = parts.hostname or "127.0.0.1"
            port = parts.port or (2376 if tls else 2375)
            if not tls and not _is_loopback(host) and not settings.get("insecure_tcp"):
                raise UsageError(
                    f"refusing to listen on {addr} without TLS: anyone who can reach this address gets root on "
                    "this host through the API. Use --tlsverify --tlscacert --tlscert --tlskey, a loopback address "
                    "(tcp://127.0.0.1:2375), or --insecure-tcp if you really mean it")
            out.append(("tcp", (host, port, _ssl_context(settings) if tls else None)))
        else:
            raise UsageError(f"invalid host: {addr}: only unix:// and tcp:// are supported")
    return out


def _ssl_context(settings: dict[str, Any]) -> ssl.SSLContext:
    cert, key = settings.get("tlscert"), settings.get("tlskey")
    if not cert or not key:
        raise UsageError("TLS needs --tlscert and --tlskey")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
        if settings.get("tlsverify"):
            if not settings.get("tlscacert"):
                raise UsageError("--tlsverify needs --tlscacert")
            ctx.load_verify_locations(settings["tlscacert"])
            ctx.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as err:
        raise UsageError(f"could not load the TLS configuration: {err}") from None
    return ctx


def _write_pidfile(path: str) -> None:
    try:
        with open(path) as f:
            old = int(f.read().strip() or 0)
    except (OSError, ValueError):
        old = 0
    if old and old != os.getpid() and os.path.exists(f"/proc/{old}"):
        try:
            with open(f"/proc/{old}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            cmdline = b""
        if b"dockyardd" in cmdline or b"dockyard.api.daemon" in cmdline:
            raise UsageError(f"pid file found, ensure dockyardd is not running or delete {path}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    os.rename(tmp, path)


def _warm_up() -> None:
    """Import what the monitors and the container's init need before any fork (so the forked
    monitor imports nothing), and what the API calls on the first requests."""
    import importlib


    for name in ("dockyard.engine.hostfiles", "dockyard.engine.logs", "dockyard.runtime.linux.seccomp",
                 "dockyard.runtime.cgroups.stats", "dockyard.runtime.cgroups.warmup", "dockyard.runtime.cgroups.v1",
                 "dockyard.runtime.cgroups.v2", "dockyard.runtime.cgroups.fs", "dockyard.runtime.cgroups.host",
                 "dockyard.runtime.cgroups.devices_v1", "dockyard.runtime.cgroups.convert",
                 "dockyard.runtime.cgroups.devices", "dockyard.runtime.cgroups.validate"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


# What a monitor runs: imported by the zygote (engine/zygote.py) before it forks any monitor.
MONITOR_MODULES = (
    "dockyard.engine.monitor", "dockyard.engine.logs", "dockyard.oci.runtime_spec", "dockyard.runtime.container",
    "dockyard.runtime.linux.init", "dockyard.runtime.linux.terminal", "dockyard.runtime.linux.seccomp",
    "dockyard.runtime.hooks", "dockyard.runtime.cgroups", "dockyard.runtime.cgroups.stats",
    "dockyard.runtime.cgroups.warmup", "dockyard.runtime.cgroups.v1", "dockyard.runtime.cgroups.v2",
    "dockyard.runtime.cgroups.fs", "dockyard.runtime.cgroups.host", "dockyard.runtime.cgroups.devices_v1",
    "dockyard.runtime.cgroups.convert", "dockyard.runtime.cgroups.devices", "dockyard.runtime.cgroups.validate",
    "dockyard.network.ports", "dockyard.network.proxy",
    # libseccomp, loaded once here rather than in every container's helper (~1 ms a start).
    "dockyard.runtime.linux.seccomp:libseccomp_version",
)


async def serve(settings: dict[str, Any], config_path: str | None, zygote: Any = None) -> int:
    from aiohttp import web

    from dockyard.api.server import Api, build_app
    from dockyard.engine.engine import Engine

    listeners = plan_listeners(settings)
    _warm_up()
    bus = _event_bus()
    engine = Engine(settings["data_root"], settings["exec_root"], cgroup_parent=settings["cgroup_parent"],
                    live_restore=settings["live_restore"], restore=False, zygote=zygote, default_bind_ip=settings["ip"],
                    default_log_config=(settings["log_driver"], settings["log_opt"]),
                    publish=(lambda t, a, i, attrs: bus.publish(t, a, i, attrs)) if bus is not None else None)
    api = Api(engine, debug=settings["log_level"] == "debug")
    api.bus = bus
    _install_health(engine)
    await asyncio.get_running_loop().run_in_executor(api.pool, engine.restore)
    app = build_app(api)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    sites: list[Any] = []
    for kind, where in listeners:
        if kind == "unix":
            path = str(where)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            site: Any = web.UnixSite(runner, path)
            await site.start()
            os.chmod(path, 0o660)
            with contextlib.suppress(KeyError, PermissionError):
                os.chown(path, 0, grp.getgrnam(settings.get("group") or "docker").gr_gid)
        else:
            host, port, ctx = where
            site = web.TCPSite(runner, host, port, ssl_context=ctx)
            await site.start()
        sites.append(site)
        log.info("API listen on %s", where if kind == "unix" else f"{where[0]}:{where[1]}")
    gc.collect()
    gc.freeze()  # the monitors are forks: keep the collector from touching (and copying) these pages
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: _reload(config_path, settings, engine))
    print(f"dockyardd ready (pid {os.getpid()}, data root {settings['data_root']})", flush=True)
    await stop.wait()
    log.info("shutting down")
    await runner.cleanup()
    await loop.run_in_executor(api.pool, engine.close)
    api.pool.shutdown(wait=False, cancel_futures=True)
    # Our socket files go with us, as Go's unix listeners unlink theirs when dockerd stops.
    for path in [str(where) for kind, where in listeners if kind == "unix"] + [settings["pidfile"]]:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return 0


def _event_bus() -> Any:
    try:
        from dockyard.engine.events import EventBus

        return EventBus()
    except NotImplementedError:
        return None


def _install_health(engine: Any) -> None:
    from dockyard.api import health

    engine.health_starter = health.starter(engine)


def _reload(config_path: str | None, settings: dict[str, Any], engine: Any) -> None:
    try:
        doc = load_config(config_path)
    except UsageError as err:
        log.error("reload: %s", err)
        return
    if "log-level" in doc or "debug" in doc:
        level = doc.get("log-level") or ("debug" if doc.get("debug") else "info")
        logging.getLogger().setLevel(_LEVELS.get(level, logging.INFO))
    if "live-restore" in doc:
        engine.live_restore = bool(doc["live-restore"])
    log.info("reloaded configuration from %s", config_path or DEFAULT_CONFIG)


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR,
           "fatal": logging.CRITICAL}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = merge(args, load_config(args.config_file))
        plan_listeners(settings)
    except UsageError as err:
        print(f"dockyardd: {err}", file=sys.stderr)
        return 1
    logging.basicConfig(level=_LEVELS.get(settings["log_level"], logging.INFO),
                        format="time=%(asctime)s level=%(levelname)s msg=%(message)s")
    if os.geteuid() != 0:
        print("dockyardd: needs to be started with root privileges", file=sys.stderr)
        return 1
    try:
        _write_pidfile(settings["pidfile"])
    except UsageError as err:
        print(f"dockyardd: {err}", file=sys.stderr)
        return 1
    from dockyard.engine.zygote import Zygote

    # First, while the process is small and has one thread: the monitors' zygote.
    zygote = Zygote.fork(MONITOR_MODULES)
    try:
        return asyncio.run(serve(settings, args.config_file, zygote))
    except UsageError as err:
        print(f"dockyardd: {err}", file=sys.stderr)
        zygote.close()
        return 1


if __name__ == "__main__":
    sys.exit(main())
