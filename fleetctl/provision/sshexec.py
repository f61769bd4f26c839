"""Run one command on a fleet host, asynchronously, through the OpenSSH client.

``fleetctl health`` asks every host for its facts each minute from cron, and remediation talks
to a balancer's runtime API on its host. Both go through the system's ``ssh`` (as Ansible does)
rather than paramiko: it costs no import (paramiko is ~0.2 s of a cron run's start), its crypto
is C, and as an asyncio subprocess any number of hosts run side by side without threads.

Security: host keys are verified against the inventory's known_hosts (``StrictHostKeyChecking
yes``: an unknown or changed key is refused, never added); only the inventory's identity file is
offered; ``BatchMode`` so nothing ever prompts. The remote command is built by the caller from
fixed text and :func:`shlex.quote`-d values only. The operator's ``~/.ssh/config`` and the
inventory's ``ansible_ssh_common_args`` / ``ansible_ssh_extra_args`` apply, as they do for
Ansible (a ProxyJump there works here too); the options above override them.

A host with ``ansible_connection: local`` runs the command here with ``sh -c``.
"""

from __future__ import annotations

import asyncio
import os
import shlex

from fleetctl.core.records import record
from fleetctl.spec.model import Host

__all__ = ["SshResult", "ssh_argv", "ssh_run"]

#: What ssh's own exit code 255 means; any other code is the remote command's.
SSH_FAILED = 255


@record(frozen=True)
class SshResult:
    """The outcome of one remote command. ``error`` is a one-line reason when it did not run."""

    host: str
    returncode: int | None
    stdout: bytes = b""
    stderr: bytes = b""
    error: str | None = None
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.returncode == 0


def _known_hosts(host: Host) -> str:
    return host.known_hosts or os.path.expanduser("~/.ssh/known_hosts")


def ssh_argv(host: Host, command: str, connect_timeout: float) -> list[str]:
    """The ``ssh`` command line that runs ``command`` on ``host`` (see the module docstring)."""
    argv = ["ssh"]
    for key in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        extra = host.vars.get(key)
        if isinstance(extra, str) and extra.strip():
            try:
                argv += shlex.split(extra)
            except ValueError:
                pass  # the loader already accepted it; Ansible would fail on it the same way
    # Command-line options win over ~/.ssh/config; the first -o of a kind wins among these, so
    # the safety options come before the inventory's own.
    safety = [
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={_known_hosts(host)}",
        "-o", f"ConnectTimeout={max(1, int(connect_timeout + 0.999))}",
        "-o", "ServerAliveInterval=5",
        "-o", "ServerAliveCountMax=1",
        "-o", "LogLevel=ERROR",
        "-T",
    ]
    if host.identity_file:
        safety += ["-o", "IdentitiesOnly=yes", "-i", host.identity_file]
    return ["ssh", *safety, *argv[1:], "-p", str(host.port), "-l", host.user, "--", host.address, command]


async def ssh_run(host: Host, command: str, *, timeout: float, stdin: bytes | None = None) -> SshResult:
    """Run ``command`` on ``host`` within ``timeout`` seconds (connecting included).

    Never raises for a host problem: an unreachable host, a refused key, a timeout or a
    missing ``ssh`` come back as ``SshResult.error``.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    if host.connection == "local":
        argv = ["sh", "-c", command]
    else:
        known = _known_hosts(host)
        if not os.path.isfile(known):
            return SshResult(host.name, None, error=f"known_hosts file {known} does not exist "
                                                    "(fleetctl verifies host keys)")
        argv = ssh_argv(host, command, timeout)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        return SshResult(host.name, None, error=f"cannot run {argv[0]}: {exc.strerror or exc}")
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate(stdin)
    except TimeoutError:
        _kill(proc)
        await proc.wait()
        return SshResult(host.name, None, error=f"no answer over ssh within {timeout:g} s",
                         elapsed_s=loop.time() - started)
    except asyncio.CancelledError:
        _kill(proc)
        raise
    elapsed = loop.time() - started
    rc = proc.returncode
    if host.connection != "local" and rc == SSH_FAILED:
        return SshResult(host.name, rc, out, err, error=_ssh_reason(err, host), elapsed_s=elapsed)
    return SshResult(host.name, rc, out, err, elapsed_s=elapsed)


def _kill(proc: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass


def _ssh_reason(stderr: bytes, host: Host) -> str:
    """ssh's own complaint as one line, with the host-key cases spelled out."""
    text = " ".join(stderr.decode(errors="replace").split())
    low = text.lower()
    if "host key verification failed" in low or "remote host identification has changed" in low:
        if "host key is known" in low:
            return f"host key of {host.address} is not in {_known_hosts(host)}; fleetctl does not trust unknown hosts"
        return f"host key of {host.address} does not match {_known_hosts(host)} (changed key? man-in-the-middle?)"
    if "connection refused" in low:
        return f"ssh to {host.address}:{host.port}: connection refused"
    if "timed out" in low:
        return f"ssh to {host.address}:{host.port}: connection timed out"
    if "no route to host" in low:
        return f"ssh to {host.address}:{host.port}: no route to host"
    if "permission denied" in low:
        return f"ssh to {host.user}@{host.address}:{host.port}: permission denied (key refused)"
    return f"ssh to {host.address}:{host.port} failed: {text[:200] or 'exit 255'}"
