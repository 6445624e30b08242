"""A fork server for `factflow`, so a script of many commands does not pay the interpreter start-up each time.

`python cli_forkserver.py SOCKET` imports the CLI once and listens on a Unix socket. A client
(`python cli_forkserver.py --client SOCKET ARGS...`, installed as a `factflow` executable)
passes its stdin, stdout and stderr (SCM_RIGHTS), its working directory and environment; the
server forks, the child takes those over and runs `factflow_cli.main.main()` with the
arguments, and the client exits with the child's exit code. Output, exit codes, pipes and
redirections are exactly those of the console script.
"""

from __future__ import annotations

import array
import json
import os
import signal
import socket
import sys
from typing import Any

_FDS = 3


def _run_child(connection: socket.socket, fds: list[int], request: dict[str, Any]) -> None:
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["factflow", *request["argv"]]
    from factflow_cli.main import main

    code = 0
    try:
        main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # a crash must still answer the client
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
    connection.sendall(str(code).encode())
    os._exit(code)


def serve(path: str) -> None:
    # Warm every import a command may need before forking (httpcore imports anyio at the first request).
    import importlib

    for module in (
        "anyio",
        "httpcore._backends.anyio",
        "rich.console",
        "rich.json",
        "rich.panel",
        "rich.progress",
        "rich.syntax",
        "rich.table",
        "rich.tree",
        "factflow_cli.main",
        "factflow_cli._download",
        "factflow_cli._events",
        "factflow_cli._objects",
        "factflow_cli._validation",
        "factflow_cli._waiting",
        "factflow_cli._watch",
        "factflow_engine.config",
        "factflow_engine.registry",
    ):
        importlib.import_module(module)
    from factflow_cli import _client

    _client.ApiClient("http://localhost/api/v1", token=None, timeout=1)  # loads httpx's lazy transport imports

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    print("ready", flush=True)
    while True:
        connection, _ = listener.accept()
        fds = array.array("i")
        message, ancillary, _flags, _address = connection.recvmsg(1 << 20, socket.CMSG_LEN(_FDS * fds.itemsize))
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
        while chunk := connection.recv(1 << 16):  # the client shuts its side down after the request
            message += chunk
        request = json.loads(message)
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork() == 0:
            listener.close()
            _run_child(connection, list(fds), request)
        connection.close()
        for fd in fds:
            os.close(fd)


def client(path: str, argv: list[str]) -> int:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(path)
    request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    connection.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
    connection.shutdown(socket.SHUT_WR)
    answer = b""
    while chunk := connection.recv(64):
        answer += chunk
    return int(answer or b"1")


if __name__ == "__main__":
    if sys.argv[1] == "--client":
        sys.exit(client(sys.argv[2], sys.argv[3:]))
    serve(sys.argv[1])
