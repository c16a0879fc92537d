"""Who may see the page: anyone on loopback, everyone else only with the configured password."""

from __future__ import annotations

import ipaddress

from api import auth as api_auth
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
    """The routes' check (:func:`api.auth.password_ok`) with the configured password."""
    secret = settings.dashboard_password
    return api_auth.password_ok(secret.get_secret_value() if secret else None, given)
