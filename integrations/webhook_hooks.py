"""Which webhooks get an event change: each camera's own ``webhooks`` (from ``cctv:cameras``) and
the cameras file's top-level list, their ``${VAR}`` expanded and their hosts checked against the
allow-list (``webhook_allow``).

A :class:`Hook` holds the expanded URL, which may carry a token: only :attr:`Hook.shown` (masked)
is ever logged.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import socket
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

from common import urls
from common.cameras import CameraConfig, WebhookConfig
from common.event_changes import EventChange
from common.urls import mask_url


class HookError(ValueError):
    """A webhook that cannot be used; the message is one line, its URL masked."""


@dataclass(frozen=True)
class Hook:
    """One webhook, ready to send to: ``camera`` None = every camera's events."""

    id: str
    camera: str | None
    url: str
    shown: str
    events: frozenset[str]
    labels: frozenset[str]
    zones: frozenset[str]

    def wants(self, change: EventChange) -> bool:
        """Does this change pass the hook's scope and filters?"""
        return ((self.camera is None or self.camera == change.camera)
                and change.kind in self.events
                and (not self.labels or change.label in self.labels)
                and (not self.zones or bool(self.zones & set(change.zones))))


def expand_env(url: str, environ: Mapping[str, str]) -> str:
    """``${VAR}`` replaced by the environment's value (HookError naming an unset one)."""
    try:
        return urls.expand_env(url, environ)
    except urls.UnsetVariableError as exc:
        raise HookError(str(exc)) from None


class AllowList:
    """``webhook_allow``: host names, ``*.domain`` suffixes, IP addresses and CIDRs. A URL's host
    passes when its name is listed, or when it (or every address it resolves to) is inside a
    listed network. ``None`` allows everything."""

    def __init__(self, entries: list[str] | None):
        self.any = entries is None
        self.names: set[str] = set()
        self.suffixes: list[str] = []
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in entries or ():
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if entry.startswith("*."):
                    self.suffixes.append(entry[1:].lower())
                else:
                    self.names.add(entry.lower())

    def _by_name(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.names or any(host.endswith(s) for s in self.suffixes)

    def _in_networks(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%")[0])
        return any(ip in net for net in self.networks)

    def static(self, host: str) -> bool | None:
        """True or False when the host alone decides; None when its addresses must be resolved
        (a name not listed, and networks to check)."""
        if self.any or self._by_name(host):
            return True
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return None if self.networks else False
        return self._in_networks(host)

    def check(self, host: str, port: int) -> str | None:
        """Why ``host`` may not be reached (None: it may); resolves names when needed (OSError
        when it cannot be resolved)."""
        verdict = self.static(host)
        if verdict is None:
            addresses = {info[4][0] for info in socket.getaddrinfo(host, port,
                                                                   type=socket.SOCK_STREAM)}
            verdict = bool(addresses) and all(self._in_networks(a) for a in addresses)
        return None if verdict else f"host {host} is not in webhook_allow"


def hook_id(camera: str | None, config: WebhookConfig) -> str:
    """A stable id of a hook: its scope and configuration (the URL as written, ``${VAR}``
    unexpanded), so a restart recognises the deliveries it already made."""
    text = json.dumps([camera, config.model_dump(mode="json")], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_hook(camera: str | None, config: WebhookConfig, environ: Mapping[str, str],
              allow: AllowList) -> Hook:
    """A usable hook, or HookError saying why not."""
    where = f"camera {camera}" if camera else "cameras file"
    url = expand_env(config.url, environ) if "${" in config.url else config.url
    shown = mask_url(config.url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HookError(f"{where}: webhook {shown}: the expanded URL is not http(s)://host/...")
    if allow.static(parts.hostname) is False:
        raise HookError(f"{where}: webhook {shown}: host {parts.hostname} is not in "
                        "webhook_allow")
    return Hook(hook_id(camera, config), camera, url, shown, frozenset(config.events),
                frozenset(config.labels), frozenset(config.zones))


def build_hooks(cameras: Mapping[str, CameraConfig], global_hooks: list[WebhookConfig],
                allow: AllowList, environ: Mapping[str, str] | None = None
                ) -> tuple[list[Hook], list[str]]:
    """Every usable hook (the file's, then each camera's) and one line per unusable one."""
    environ = os.environ if environ is None else environ
    hooks, errors = [], []
    scoped = [(None, c) for c in global_hooks] + [(name, c) for name, cam in sorted(
        cameras.items()) for c in cam.webhooks]
    for camera, config in scoped:
        try:
            hooks.append(make_hook(camera, config, environ, allow))
        except HookError as exc:
            errors.append(str(exc))
    return hooks, errors
