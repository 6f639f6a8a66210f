"""A local port-forward to a pod, made with the Kubernetes Python client (no kubectl).

`kubernetes.stream.portforward` opens one websocket to the pod's `portforward` subresource and
carries ONE TCP stream per port over it (kubernetes-client/python ws_client.PortForward: a data
and an error channel per port, each opened by a frame holding the port). A browser opens many
connections, so the listener on 127.0.0.1 opens a new port-forward for each connection it
accepts and copies bytes both ways until either side closes. Ctrl-C (or `stop`) closes the
listener and every open connection.

`portforward()` swaps the ApiClient's request method while it connects
(kubernetes/stream/stream.py `_websocket_request`), which is not safe from two threads at
once, so connecting is serialized; the copying is not.
"""

from __future__ import annotations

import selectors
import socket
import threading
from typing import Any, Callable

from jobs.kube import KubeError

ACCEPT_POLL_SECONDS = 0.2
CHUNK = 64 * 1024


def open_listener(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A listening socket on this machine only; `port` 0 picks a free one."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise KubeError(f"cannot listen on {host}:{port} ({error.strerror}); pass --port with a free port", 2) from None
    listener.listen(16)
    listener.settimeout(ACCEPT_POLL_SECONDS)
    return listener


def _pump(local: socket.socket, remote: Any) -> None:
    """Copy bytes both ways until one side closes."""
    with selectors.DefaultSelector() as selector:
        selector.register(local, selectors.EVENT_READ, remote)
        selector.register(remote, selectors.EVENT_READ, local)
        while True:
            for key, _ in selector.select():
                try:
                    data = key.fileobj.recv(CHUNK)  # type: ignore[union-attr]
                except OSError:
                    return
                if not data:
                    return
                try:
                    key.data.sendall(data)
                except OSError:
                    return


class PortForwarder:
    """Forward connections on a local listener to `remote_port` of one pod."""

    def __init__(self, core: Any, namespace: str, pod: str, remote_port: int, listener: socket.socket,
                 warn: Callable[[str], None]) -> None:
        self.core = core
        self.namespace = namespace
        self.pod = pod
        self.remote_port = remote_port
        self.listener = listener
        self.warn = warn
        self.connections = 0
        self._connect_lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.listener.getsockname()[:2]
        return f"http://{host}:{port}/"

    def _connect(self) -> Any:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import portforward

        with self._connect_lock:
            try:
                return portforward(self.core.connect_get_namespaced_pod_portforward, self.pod, self.namespace,
                                   ports=str(self.remote_port))
            except (ApiException, AttributeError) as error:
                # A refused upgrade is ApiException(status 0, reason: the handshake status); the client
                # (36.0.3 api_client.__call_api) then fails decoding its missing body with AttributeError.
                cause = error if isinstance(error, ApiException) else error.__context__
                if not isinstance(cause, ApiException):
                    raise
                reason = " ".join(str(cause.reason or cause).split())[:200]
                self.warn(f"port-forward to {self.pod}:{self.remote_port} failed ({reason})")
                return None

    def _serve_one(self, local: socket.socket) -> None:
        forward = self._connect()
        try:
            if forward is None:
                return
            remote = forward.socket(self.remote_port)
            try:
                _pump(local, remote)
            finally:
                remote.close()
            error = forward.error(self.remote_port)
            if error:
                self.warn(" ".join(error.split()))
        finally:
            with self._open_lock:
                self._open.discard(local)
            local.close()

    def serve(self, stop: threading.Event | None = None) -> None:
        """Accept until `stop` is set or Ctrl-C; then close everything. Returns normally either way."""
        stop = stop or threading.Event()
        try:
            while not stop.is_set():
                try:
                    local, _ = self.listener.accept()
                except socket.timeout:
                    continue
                except OSError:
                    break  # the listener was closed
                local.settimeout(None)
                self.connections += 1
                with self._open_lock:
                    self._open.add(local)
                thread = threading.Thread(target=self._serve_one, args=(local,), daemon=True,
                                          name=f"port-forward {self.pod}:{self.remote_port}")
                thread.start()
                self._threads.append(thread)
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def close(self) -> None:
        self.listener.close()
        with self._open_lock:
            open_now = list(self._open)
        for connection in open_now:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=2)


def forward_until_stopped(core: Any, namespace: str, pod: str, remote_port: int, local_port: int, *,
                          announce: Callable[[str], None], warn: Callable[[str], None],
                          stop: threading.Event | None = None) -> int:
    """Listen, announce the URL, forward until Ctrl-C; the number of connections forwarded."""
    forwarder = PortForwarder(core, namespace, pod, remote_port, open_listener(local_port), warn)
    announce(forwarder.url)
    forwarder.serve(stop)
    return forwarder.connections
