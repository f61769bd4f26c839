"""Docker engines over ``ssh://`` with the inventory's key and pinned host keys.

The Docker SDK's own ssh adapter trusts only ``~/.ssh/known_hosts`` and ``~/.ssh/config``; a
fleet's inventory names its own identity file and known_hosts (``ansible_ssh_private_key_file``,
``UserKnownHostsFile`` in ``ansible_ssh_common_args`` or ``fleet_known_hosts``).  This adapter
uses exactly those: host keys are verified (an unknown or changed key is refused, never added),
no agent, no other key files.
"""

from __future__ import annotations

import logging
import os
import socket
import urllib.parse

import docker
import paramiko
from docker.transport.sshconn import SSHHTTPAdapter

from fleetctl.core.errors import FleetError
from fleetctl.spec.model import Host

API_VERSION = "1.41"  # Docker Engine 20.10, Debian 12's docker.io; newer engines accept it


class _VerifiedSSHAdapter(SSHHTTPAdapter):
    def __init__(self, base_url: str, known_hosts: str, key_file: str | None, connect_timeout: float, **kw):
        self._known_hosts = known_hosts
        self._key_file = key_file
        self._connect_timeout = connect_timeout
        super().__init__(base_url, **kw)

    def _create_paramiko_client(self, base_url: str) -> None:
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)
        parsed = urllib.parse.urlparse(base_url)
        self.ssh_client = paramiko.SSHClient()
        self.ssh_client.load_host_keys(self._known_hosts)
        self.ssh_client.set_missing_host_key_policy(paramiko.RejectPolicy())
        self.ssh_params = {
            "hostname": parsed.hostname,
            "port": parsed.port or 22,
            "username": parsed.username,
            "key_filename": self._key_file,
            "look_for_keys": self._key_file is None,
            "allow_agent": self._key_file is None,
            "timeout": self._connect_timeout,
            "banner_timeout": self._connect_timeout,
            "auth_timeout": self._connect_timeout,
        }


def docker_client(host: Host, timeout: float = 60, connect_timeout: float = 10) -> docker.DockerClient:
    """A Docker client for ``host``'s engine over SSH; raises FleetError with a clear reason."""
    known = host.known_hosts or os.path.expanduser("~/.ssh/known_hosts")
    if not os.path.isfile(known):
        raise FleetError(f"{host.name}: known_hosts file {known} does not exist; fleetctl verifies host keys "
                         f"(add {host.address}'s key with `ssh-keyscan -p {host.port} {host.address}` after checking it)")
    if host.identity_file and not os.path.isfile(host.identity_file):
        raise FleetError(f"{host.name}: identity file {host.identity_file} does not exist")
    client = docker.DockerClient(base_url="tcp://127.0.0.1:9", version=API_VERSION, timeout=timeout)
    api = client.api
    try:
        adapter = _VerifiedSSHAdapter(host.docker_url, known, host.identity_file, connect_timeout, timeout=timeout)
    except paramiko.BadHostKeyException:
        raise FleetError(f"{host.name}: host key of {host.address} does not match {known} (changed key? man-in-the-middle?)") from None
    except paramiko.SSHException as exc:
        msg = str(exc)
        if "not found in known_hosts" in msg:
            raise FleetError(f"{host.name}: host key of {host.address} is not in {known}; fleetctl does not trust unknown hosts") from None
        raise FleetError(f"{host.name}: ssh to {host.user}@{host.address}:{host.port} failed: {msg}") from None
    except (OSError, socket.timeout) as exc:
        raise FleetError(f"{host.name}: cannot reach {host.address}:{host.port} ({exc.strerror or exc})") from None
    # The same mounting the SDK does for ssh:// base URLs, with the verified adapter.
    api.mount("http+docker://ssh", adapter)
    api._unmount("http://", "https://")
    api._custom_adapter = adapter
    api.base_url = "http+docker://ssh"
    return client
