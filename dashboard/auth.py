"""Who may see the page: anyone on loopback, everyone else only with the configured password."""

from __future__ import annotations

import hmac
import ipaddress

from common.schema import SettingsError

from .settings import DashboardSettings


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(settings: DashboardSettings, host: str) -> None:
    """Refuse to serve ``host`` off loopback without a password (SettingsError says how)."""
    if not is_loopback(host) and settings.dashboard_password is None:
        raise SettingsError(f"the dashboard binds {host}, reachable from other machines: set "
                            "CCTV_DASHBOARD_PASSWORD (at least 8 characters) or bind 127.0.0.1")


def password_required(settings: DashboardSettings, host: str) -> bool:
    """The page asks for the password when one is set, and always off loopback."""
    return settings.dashboard_password is not None or not is_loopback(host)


def password_ok(settings: DashboardSettings, given: str) -> bool:
    """Constant-time comparison with the configured password (False when none is set)."""
    if settings.dashboard_password is None:
        return False
    return hmac.compare_digest(given.encode(), settings.dashboard_password.get_secret_value().encode())
