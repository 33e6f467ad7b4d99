# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Relay from an inherited listening socket to HOST:PORT; the UML guest's SSH forward (labuml.py).

    python3 labrelay.py FD HOST PORT

Started inside the guest's network namespace with a socket bound in the host's: each
connection accepted there is joined to a new connection to HOST:PORT here.
"""
from __future__ import annotations

import socket
import sys
import threading


def pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for side in (sink, source):
            try:
                side.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(client: socket.socket, target: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(target, timeout=5)
    except OSError:
        client.close()  # ssh sees the connection closed, as with a guest whose sshd is not up yet
        return
    upstream.settimeout(None)
    back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    back.start()
    pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def main(argv: list[str]) -> int:
    listener = socket.socket(fileno=int(argv[0]))
    target = (argv[1], int(argv[2]))
    while True:
        client, _address = listener.accept()
        threading.Thread(target=serve, args=(client, target), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
