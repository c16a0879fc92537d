"""A real MQTT broker for the integration tests (imported as ``mqtt_broker``): Debian's ``mosquitto``, started on a free
loopback port with a generated configuration (optionally with users and TLS), stopped and started
again on the same port; and a paho subscriber that records every message it gets."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from running import free_port

USER, PASSWORD = "cctv", "br0ker-s3cret"


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)),
        None)
    if found is None:
        if os.geteuid() == 0:
            pytest.fail("mosquitto is not installed: scripts/test installs it (apt-get) as root")
        pytest.skip("mosquitto is not installed and this is not root (scripts/test installs "
                    "Debian's mosquitto as root)")
    return found


class Mosquitto:
    """One broker on 127.0.0.1:``port``: :meth:`start`, :meth:`stop`, :meth:`kill`; its log
    (``log_text``) records connections."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None,
                 tls: tuple[Path, Path] | None = None):
        self.binary = mosquitto_binary()
        self.folder, self.port = folder, free_port()
        self.log = folder / "mosquitto.log"
        lines = [f"listener {self.port} 127.0.0.1", "persistence false",
                 f"log_dest file {self.log}", "log_type all", "user root"]
        if users:
            passwd = folder / "passwd"
            passwd.write_text("")
            for user, password in users.items():
                subprocess.run([shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd",
                                "-b", str(passwd), user, password], check=True,
                               capture_output=True)
            passwd.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if tls:
            cert, key = tls
            lines += [f"certfile {cert}", f"keyfile {key}"]
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"mosquitto exited: {self.log_text()[-2000:]}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "mosquitto did not listen in time"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool


@dataclass
class Subscriber:
    """A paho client subscribed to ``#`` (and what it got, in order)."""

    port: int
    username: str | None = USER
    password: str | None = PASSWORD
    messages: list[Message] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        if self.username:
            self.client.username_pw_set(self.username, self.password)
        self.client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._message

    def _message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append(Message(msg.topic, msg.payload, bool(msg.retain)))

    def __enter__(self) -> "Subscriber":
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        assert self._subscribed.wait(30), "the subscriber did not subscribe"
        return self

    def __exit__(self, *exc) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def on(self, topic: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def latest(self, topic: str) -> Message | None:
        found = self.on(topic)
        return found[-1] if found else None

    def topics(self) -> set[str]:
        with self._lock:
            return {m.topic for m in self.messages}

    def wait(self, predicate, timeout: float = 60, what: str = "the messages"):
        """Wait until ``predicate()`` is truthy (returns it)."""
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            assert time.monotonic() < deadline, f"{what} did not come in time: " \
                f"{sorted(self.topics())[:50]}"
            time.sleep(0.05)
        return result


def retained(port: int, topics, timeout: float = 60) -> dict[str, Message]:
    """The retained message of each of ``topics``, by topic, as a new subscriber gets them.
    A subscriber that got one live instead (published while it subscribed: no retain flag) is
    replaced by another until every one comes retained."""
    deadline = time.monotonic() + timeout
    while True:
        with Subscriber(port) as fresh:
            fresh.wait(lambda: set(topics) <= fresh.topics(), deadline - time.monotonic(),
                       "retained messages")
            first = {topic: fresh.on(topic)[0] for topic in topics}
        if all(m.retain for m in first.values()):
            return first
        assert time.monotonic() < deadline, "no subscriber got every topic retained"


def wait_until(predicate, timeout: float = 60, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"{what} did not hold in time"
        time.sleep(0.05)
    return result
