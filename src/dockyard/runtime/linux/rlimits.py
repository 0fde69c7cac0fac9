"""Resource limits (process.rlimits) for the container process.

Facts:
- setrlimit(2) limits are per process, inherited across fork and kept across execve, so the init
  sets them on itself just before execve. The resource numbers differ on a few architectures
  (alpha, mips, sparc), so they come from Python's `resource` module, not from a table here.
- Lowering either limit is always allowed. Raising the hard limit above its current value needs
  CAP_SYS_RESOURCE (EPERM otherwise), and RLIMIT_NOFILE can never go above the fs.nr_open sysctl
  (EPERM even with the capability). A soft limit above the hard limit is EINVAL.
- OCI values are uint64 and 2**64-1 means unlimited (RLIM_INFINITY). Python's `resource` takes
  signed 64-bit values and casts them back to rlim_t, so a value v >= 2**63 is passed as v - 2**64,
  which keeps every uint64 exact.
- runc sets each limit with prlimit on the init's pid and names the type on error
  ("error setting rlimit type RLIMIT_NOFILE: ..."); the same wording is kept here.
"""

from __future__ import annotations

import errno
import resource

from dockyard.errors import InvalidArgument, SystemCallError
from dockyard.oci.runtime_spec import Rlimit
from dockyard.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

# The OCI names (runtime-spec config.md, POSIX platform process) -> the resource numbers of this host.
RESOURCES: dict[str, int] = {
    "RLIMIT_AS": resource.RLIMIT_AS,
    "RLIMIT_CORE": resource.RLIMIT_CORE,
    "RLIMIT_CPU": resource.RLIMIT_CPU,
    "RLIMIT_DATA": resource.RLIMIT_DATA,
    "RLIMIT_FSIZE": resource.RLIMIT_FSIZE,
    "RLIMIT_LOCKS": 10,  # Python's `resource` lacks it; 10 on every architecture Linux has
    "RLIMIT_MEMLOCK": resource.RLIMIT_MEMLOCK,
    "RLIMIT_MSGQUEUE": resource.RLIMIT_MSGQUEUE,
    "RLIMIT_NICE": resource.RLIMIT_NICE,
    "RLIMIT_NOFILE": resource.RLIMIT_NOFILE,
    "RLIMIT_NPROC": resource.RLIMIT_NPROC,
    "RLIMIT_RSS": resource.RLIMIT_RSS,
    "RLIMIT_RTPRIO": resource.RLIMIT_RTPRIO,
    "RLIMIT_RTTIME": resource.RLIMIT_RTTIME,
    "RLIMIT_SIGPENDING": resource.RLIMIT_SIGPENDING,
    "RLIMIT_STACK": resource.RLIMIT_STACK,
}

UNLIMITED = 2**64 - 1
_NR_OPEN = "/proc/sys/fs/nr_open"


@record(frozen=True)
class Limit:
    """One checked limit: the OCI name, the host's resource number, and uint64 values."""

    type: str
    resource: int
    soft: int
    hard: int


def _show(value: int) -> str:
    return "unlimited" if value >= UNLIMITED else str(value)


def parse(rlimits: Sequence[Rlimit]) -> list[Limit]:
    """Check names, values and uniqueness; done before fork so a bad config fails `create` early."""
    limits: list[Limit] = []
    seen: set[str] = set()
    for r in rlimits:
        number = RESOURCES.get(r.type)
        if number is None:
            raise InvalidArgument(f"unknown rlimit type {r.type!r}")
        if r.type in seen:
            raise InvalidArgument(f"rlimit type {r.type} is set more than once")
        seen.add(r.type)
        for what, value in (("soft", r.soft), ("hard", r.hard)):
            if not 0 <= value <= UNLIMITED:
                raise InvalidArgument(f"invalid rlimit {r.type}: {what} limit {value} is not an unsigned 64-bit value")
        if r.soft > r.hard:
            raise InvalidArgument(
                f"invalid rlimit {r.type}: soft limit {_show(r.soft)} is above hard limit {_show(r.hard)}"
            )
        limits.append(Limit(r.type, number, r.soft, r.hard))
    return limits


def _signed(value: int) -> int:
    # See the facts above: resource takes a C long long and casts it to rlim_t.
    return value - 2**64 if value >= 2**63 else value


def _unsigned(value: int) -> int:
    return value + 2**64 if value < 0 else value


def current(limit_type: str) -> tuple[int, int]:
    """(soft, hard) of this process for an OCI rlimit name, as uint64 values."""
    soft, hard = resource.getrlimit(RESOURCES[limit_type])
    return _unsigned(soft), _unsigned(hard)


def _why_denied(limit: Limit) -> str:
    """The likely reason for an EPERM, named for the person reading the error."""
    _, hard_now = current(limit.type)
    if limit.type == "RLIMIT_NOFILE":
        try:
            with open(_NR_OPEN, "rb") as f:
                nr_open = int(f.read())
        except (OSError, ValueError):
            nr_open = None
        if nr_open is not None and limit.hard > nr_open:
            return f" (RLIMIT_NOFILE cannot go above fs.nr_open, {nr_open})"
    if limit.hard > hard_now:
        return f" (raising the hard limit above {_show(hard_now)} needs CAP_SYS_RESOURCE)"
    return ""


def apply(rlimits: Sequence[Rlimit | Limit]) -> None:
    """Set each limit on the calling process. Accepts the spec records or the result of `parse`."""
    limits = [r for r in rlimits if isinstance(r, Limit)]
    limits += parse([r for r in rlimits if isinstance(r, Rlimit)])
    for limit in limits:
        try:
            # prlimit rather than setrlimit: Python turns setrlimit's EPERM into a ValueError.
            resource.prlimit(0, limit.resource, (_signed(limit.soft), _signed(limit.hard)))
        except OSError as err:
            code = err.errno or errno.EPERM
            raise _error(limit, code, _why_denied(limit) if code == errno.EPERM else "") from None
        except ValueError:
            # prlimit's EINVAL (soft above hard); `parse` already rules it out.
            raise _error(limit, errno.EINVAL, "") from None


def _error(limit: Limit, code: int, hint: str) -> SystemCallError:
    """runc's wording, with the reason appended after the strerror text when one is known."""
    error = SystemCallError(f"error setting rlimit type {limit.type}", code)
    if hint:
        error.args = (f"{error}{hint}",)
    return error
