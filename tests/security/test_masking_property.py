"""The masker, fed generated URLs and secrets: no secret survives in what it returns, and the
text around a masked value is kept (``(`` and ``)`` included)."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from common.urls import expand_env, mask_text, mask_url

SECRET_PARAMS = ["p", "pw", "pin", "pass", "password", "passcode", "secret", "token", "key",
                 "apikey", "api_key", "auth", "authorization", "auth_token", "sig", "sig2",
                 "signature", "X-Amz-Signature", "session", "sessionid", "loginPass", "jwt"]
secrets = st.text(string.ascii_letters + string.digits + "!*+-._~%", min_size=8, max_size=24)
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z]{2,5}){0,2}", fullmatch=True)
schemes = st.sampled_from(["rtsp", "rtsps", "http", "https", "redis", "mqtt", "rtmp"])


@settings(max_examples=150, deadline=None)
@given(schemes, hosts, secrets, st.sampled_from(SECRET_PARAMS), secrets,
       st.sampled_from(["{}", "error opening {}", "({})", "'{}'", "url={} failed", "<{}>"]))
def test_no_secret_survives_masking(scheme, host, password, param, value, context):
    url = f"{scheme}://admin:{password}@{host}:554/stream?{param}={value}&fps=5"
    shown = mask_text(context.format(url))
    assert password not in shown and value not in shown
    assert host in shown and "fps=5" in shown
    assert shown.startswith(context.format("")[:context.index("{")])
    assert shown.endswith(context[context.index("}") + 1:])


@settings(max_examples=100, deadline=None)
@given(hosts, secrets)
def test_expanded_values_are_masked_wherever_they_appear(host, token):
    url = expand_env(f"rtsp://{host}/live/${{CAM_TOKEN}}/main", {"CAM_TOKEN": token})
    assert token in url  # the URL used has the value...
    assert token not in mask_url(url)  # ...what is shown of it does not
    assert token not in mask_text(f"ffmpeg: {url}: 401 Unauthorized")


def test_short_expanded_values_are_not_masked_as_text():
    assert expand_env("rtsp://cam:${PORT}/s", {"PORT": "554"}) == "rtsp://cam:554/s"
    assert expand_env("${CAM_USER}", {"CAM_USER": "admin"}) == "admin"
    assert mask_text("rtsp://cam:554/s admin") == "rtsp://cam:554/s admin"
