"""Network and mount namespaces for a single-user server (Linux; needs CAP_SYS_ADMIN).

Called in the child between fork and exec, before privileges are dropped:

* a new **network namespace** with only loopback up: no route anywhere, not even to the host's
  own 127.0.0.1; the hub and proxy reach the server through a unix socket (a file, which
  crosses network namespaces);
* a new **mount namespace** in which the data root is covered by an empty tmpfs (no path to the
  warehouse, the raw store or other projects), the project's extract is bind-mounted read-only,
  the project's own workspace is mounted over the home directory and /tmp is private.

:func:`probe` tries all of it in a throw-away child so that a hub in secure mode can refuse to
start when the machine cannot provide it.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    _check(_libc.mount(source.encode() if source else None, target.encode(),
                       fstype.encode() if fstype else None, flags,
                       data.encode() if data else None), f"mount {target}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def loopback_up() -> None:
    """Bring ``lo`` up in the current network namespace (kernels talk ZMQ over loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def bind_mount(source: Path, target: Path, readonly: bool) -> None:
    _mount(str(source), str(target), None, MS_BIND | MS_REC)
    if readonly:
        _mount(None, str(target), None,
               MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REC)


def hide(path: Path) -> None:
    """Cover ``path`` with an empty, read-only tmpfs."""
    _mount("tmpfs", str(path), "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=0755")


def private_tmp(path: Path) -> None:
    _mount("tmpfs", str(path), "tmpfs", MS_NOSUID | MS_NODEV, "size=512m,mode=1777")


@dataclass(frozen=True)
class SandboxPlan:
    """What the child does before it drops privileges (all paths absolute, on the host)."""

    hidden: list[Path] = field(default_factory=list)
    readonly_binds: list[tuple[Path, Path]] = field(default_factory=list)
    writable_binds: list[tuple[Path, Path]] = field(default_factory=list)
    private_tmp: list[Path] = field(default_factory=list)
    #: code the server runs (the enclave environment, the sdwh package): kept visible read-only
    #: when it lives under a path that becomes a private tmp (a checkout in /tmp, as in CI).
    software: list[Path] = field(default_factory=list)
    #: target → (st_dev, st_ino) the mounted directory must have: a source path swapped for
    #: another directory between the hub's safe open and the mount is caught here.
    expected: dict[str, tuple[int, int]] = field(default_factory=dict)


def enter(plan: SandboxPlan) -> None:
    """Unshare network and mounts, then apply ``plan``. Raises OSError if any step fails."""
    unshare(CLONE_NEWNET | CLONE_NEWNS)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we do propagates to the host
    loopback_up()
    # Writable binds first (the workspace onto $HOME), then read-only ones (the extract into
    # it), then hide data roots: a source under a hidden path must be mounted before it goes.
    for source, target in plan.writable_binds:
        bind_mount(source, target, readonly=False)
        _check_identity(plan, target)
    for source, target in plan.readonly_binds:
        bind_mount(source, target, readonly=True)
        _check_identity(plan, target)
    for path in plan.hidden:
        if path.is_dir():
            hide(path)
    kept = _open_software_under(plan)
    for path in plan.private_tmp:
        private_tmp(path)
    for path, fd in kept:
        # Re-attach the code tree from a descriptor opened before /tmp was covered; the bind is
        # recursive, so data roots hidden inside it stay hidden.
        os.makedirs(path, exist_ok=True)
        bind_mount(Path(f"/proc/self/fd/{fd}"), path, readonly=True)
        os.close(fd)


def _open_software_under(plan: SandboxPlan) -> list[tuple[Path, int]]:
    kept = []
    for path in plan.software:
        if any(path == tmp or path.is_relative_to(tmp) for tmp in plan.private_tmp):
            kept.append((path, os.open(path, os.O_PATH | os.O_DIRECTORY)))
    return kept


def _check_identity(plan: SandboxPlan, target: Path) -> None:
    want = plan.expected.get(str(target))
    if want is None:
        return
    info = os.stat(target)
    if (info.st_dev, info.st_ino) != want:
        raise OSError(f"{target}: the mounted directory is not the one the hub checked")


def probe(hidden: Path | None = None) -> str | None:
    """None when namespaces and mounts work here; otherwise why not (for a refusal)."""
    if os.geteuid() != 0:
        return "the hub is not running as root (needed for namespaces and per-user accounts)"
    plan = SandboxPlan(hidden=[hidden] if hidden else [])
    script = ("import socket,sys\n"
              "s=socket.socket(); s.settimeout(1)\n"
              "try:\n s.connect(('127.0.0.1', 9)); sys.exit(3)\n"
              "except ConnectionRefusedError: sys.exit(0)\n"
              "except OSError: sys.exit(4)\n")
    try:
        done = subprocess.run(["/usr/bin/python3", "-c", script], cwd="/",
                              preexec_fn=lambda: enter(plan), capture_output=True, timeout=20)
    except (subprocess.SubprocessError, OSError) as err:
        return f"cannot create a private network and mount namespace ({err})"
    if done.returncode != 0:
        return ("loopback in a private network namespace does not work (exit "
                f"{done.returncode}: {done.stderr.decode(errors='replace').strip()[-200:]})")
    return None
