# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A minimal QMP (QEMU Machine Protocol) client over a unix socket: JSON lines, stdlib only."""
from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

QmpMessage = dict[str, Any]


class QmpError(Exception):
    """QMP could not be reached, or a command came back with an error."""


class QmpClient:
    """One QMP session: greeting, capabilities negotiation, then commands and events."""

    def __init__(self, socket_path: Path, timeout: float = 10.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._pending_events: list[QmpMessage] = []

    def __enter__(self) -> QmpClient:
        self.connect()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.socket_path))
        except OSError as exc:
            sock.close()
            raise QmpError(f"cannot connect to QMP socket {self.socket_path}: {exc}") from exc
        self._sock = sock
        greeting = self._read_message(time.monotonic() + self.timeout)
        if "QMP" not in greeting:
            raise QmpError(f"unexpected QMP greeting on {self.socket_path}: {greeting}")
        self.execute("qmp_capabilities")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """Send one command; return its ``return`` value or raise QmpError with QEMU's message."""
        reply = self.execute_raw(command, arguments)
        if "error" in reply:
            error = reply["error"]
            raise QmpError(f"QMP {command} failed: {error.get('class')}: {error.get('desc')}")
        return reply.get("return")

    def execute_raw(self, command: str, arguments: dict[str, Any] | None = None) -> QmpMessage:
        """Send one command and return the whole reply (``return`` or ``error``)."""
        request: QmpMessage = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self._send(request)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._read_message(deadline)
            if "event" in message:
                self._pending_events.append(message)
            else:
                return message

    def wait_event(self, name: str, matches: Callable[[QmpMessage], bool], timeout: float) -> QmpMessage:
        """Wait for an event (also one that arrived while a command was answered)."""
        for event in self._pending_events:
            if event["event"] == name and matches(event):
                self._pending_events.remove(event)
                return event
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if message.get("event") == name and matches(message):
                return message

    def _send(self, message: QmpMessage) -> None:
        if self._sock is None:
            raise QmpError("QMP client is not connected")
        self._sock.sendall(json.dumps(message).encode() + b"\n")

    def _read_message(self, deadline: float) -> QmpMessage:
        if self._sock is None:
            raise QmpError("QMP client is not connected")
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise QmpError(f"timed out waiting for QMP on {self.socket_path}")
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError as exc:
                raise QmpError(f"timed out waiting for QMP on {self.socket_path}") from exc
            if not chunk:
                raise QmpError(f"QMP connection closed by QEMU ({self.socket_path})")
            self._buffer += chunk
        line, _newline, self._buffer = self._buffer.partition(b"\n")
        message: QmpMessage = json.loads(line)
        return message
