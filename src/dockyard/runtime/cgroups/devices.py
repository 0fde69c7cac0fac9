"""Device access rules with cgroup v1 semantics, emulated so both v1 and v2 enforce the same thing.

Facts (the v1 devices controller, Documentation/admin-guide/cgroup-v1/devices.rst):
- A devices cgroup has a default (allow all, or deny all) and a list of exceptions. Writing
  "a" to devices.allow makes it allow-all with no exceptions; "a" to devices.deny makes it
  deny-all with no exceptions. Any other rule adds an exception when it goes against the
  default, and removes (part of) one when it agrees with it.
- devices.list shows the allowed entries: "a *:* rwm" for an allow-all cgroup (its deny
  exceptions cannot be read back), else one "type major:minor access" line per allowed entry.
- Removing an exception only matches an identical entry: denying "c 1:3" does not punch a hole
  in an allowed "c *:*". runc refuses such a rule rather than letting v1 silently keep access,
  and so does this emulator.

The emulator is runc's (devices_emulator.go): apply the spec's rules in order to get the target
state, then either write the fewest transition rules (v1, so a running container never loses a
device it keeps) or compile the clean rule list into a BPF program (v2).
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import DeviceRule
from dockyard.records import field, record

WILDCARD = -1

_PERMS = "rwm"


def perms_to_set(access: str) -> int:
    bits = 0
    for ch in access:
        index = _PERMS.find(ch)
        if index < 0:
            raise InvalidArgument(f"invalid device access {access!r}: only r, w and m are allowed")
        bits |= 1 << index
    return bits


def set_to_perms(bits: int) -> str:
    return "".join(ch for i, ch in enumerate(_PERMS) if bits & (1 << i))


ALL_PERMS = perms_to_set("rwm")


@record(frozen=True, order=True)
class Match:
    """Which devices a rule is about: type "b" or "c", and major/minor (WILDCARD for "*")."""

    major: int
    minor: int
    type: str

    def text(self) -> str:
        major = "*" if self.major == WILDCARD else str(self.major)
        minor = "*" if self.minor == WILDCARD else str(self.minor)
        return f"{self.type} {major}:{minor}"


@record(frozen=True)
class Rule:
    """One device rule; type "a" means every device (major/minor/access ignored)."""

    type: str
    major: int
    minor: int
    access: str
    allow: bool

    def cgroup_string(self) -> str:
        """What devices.allow / devices.deny take: "c 1:3 rwm", "a *:* rwm"."""
        if self.type == "a":
            return "a *:* rwm"
        return f"{Match(self.major, self.minor, self.type).text()} {self.access}"


def from_spec(rule: DeviceRule) -> Rule:
    """An OCI linux.resources.devices entry as a Rule; a malformed one is InvalidArgument."""
    if rule.type not in ("a", "b", "c"):
        raise InvalidArgument(f"invalid device rule type {rule.type!r}: must be a, b or c")
    access = rule.access or "rwm"
    if perms_to_set(access) == 0:
        raise InvalidArgument("invalid device rule: empty access")
    majmin: list[int] = []
    for name, value in (("major", rule.major), ("minor", rule.minor)):
        if value is None or value == WILDCARD:
            majmin.append(WILDCARD)
        elif value < 0 or value > 0xFFFFFFFF:
            raise InvalidArgument(f"invalid device rule {name} {value}")
        else:
            majmin.append(value)
    return Rule(rule.type, majmin[0], majmin[1], set_to_perms(perms_to_set(access)), rule.allow)


@record
class Emulator:
    """The state of one devices cgroup: its default and its exceptions (Match -> perm bits)."""

    default_allow: bool = False
    exceptions: dict[Match, int] = field(default_factory=dict)

    def is_allow_all(self) -> bool:
        return self.default_allow and not self.exceptions

    def apply(self, rule: Rule) -> None:
        if rule.type == "a":
            # A wildcard resets the cgroup: allow-all or deny-all, no exceptions.
            self.default_allow, self.exceptions = rule.allow, {}
            return
        match, bits = Match(rule.major, rule.minor, rule.type), perms_to_set(rule.access)
        if rule.allow == self.default_allow:
            self._remove(match, bits)
        else:
            self.exceptions[match] = self.exceptions.get(match, 0) | bits

    def _remove(self, match: Match, bits: int) -> None:
        for partial in (Match(WILDCARD, match.minor, match.type), Match(match.major, WILDCARD, match.type),
                        Match(WILDCARD, WILDCARD, match.type)):
            if partial != match and self.exceptions.get(partial, 0) & bits:
                raise InvalidArgument(
                    f"device rule [{match.text()} {set_to_perms(bits)}] not supported by the devices cgroup: "
                    f"it cannot punch a hole in the wildcard rule [{partial.text()} "
                    f"{set_to_perms(self.exceptions[partial])}]")
        left = self.exceptions.get(match, 0) & ~bits
        if left:
            self.exceptions[match] = left
        else:
            self.exceptions.pop(match, None)

    def transition(self, target: Emulator) -> list[Rule]:
        """The fewest rules that turn this state into `target` without a moment of wider access
        than either, except when the default itself changes (or ours is unknowable)."""
        rules: list[Rule] = []
        old = self.exceptions
        # An allow-all cgroup's deny exceptions cannot be read back, so it is always reset.
        if self.default_allow or self.default_allow != target.default_allow:
            rules.append(Rule("a", WILDCARD, WILDCARD, "rwm", target.default_allow))
            old = {}
        for match in sorted(old):
            dropped = old[match] & ~target.exceptions.get(match, 0)
            if dropped:
                rules.append(Rule(match.type, match.major, match.minor, set_to_perms(dropped), target.default_allow))
        for match in sorted(target.exceptions):
            gained = target.exceptions[match] & ~old.get(match, 0)
            if gained:
                rules.append(Rule(match.type, match.major, match.minor, set_to_perms(gained), not target.default_allow))
        return rules

    def clean_rules(self) -> list[Rule]:
        """The state as a deny-all cgroup plus exceptions (the form a BPF program checks)."""
        return Emulator(default_allow=False).transition(self)


def target(rules: list[DeviceRule]) -> Emulator:
    """Apply the spec's rules in order to a deny-all cgroup, as runc does."""
    emu = Emulator(default_allow=False)
    for rule in rules:
        emu.apply(from_spec(rule))
    return emu


def parse_list(text: str) -> Emulator:
    """The state a v1 devices.list shows (allow entries only; "a *:* rwm" means allow-all)."""
    emu = Emulator(default_allow=False)
    for line in text.splitlines():
        parts = line.replace(":", " ").split()
        if not parts:
            continue
        if len(parts) != 4:
            raise InvalidArgument(f"malformed devices.list line {line!r}")
        kind, major, minor, access = parts
        if kind == "a":
            emu.apply(Rule("a", WILDCARD, WILDCARD, "rwm", True))
            continue
        if kind not in ("b", "c"):
            raise InvalidArgument(f"malformed devices.list line {line!r}")
        emu.apply(Rule(kind, WILDCARD if major == "*" else int(major), WILDCARD if minor == "*" else int(minor),
                       access, True))
    return emu
