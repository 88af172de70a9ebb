"""Browse runs in MLflow's UI (`make ui`), the store and the port checked first:

    python -m garbage_hpo.ui [store=URI] [port=5000]

store: the MLflow store to serve (default runs/mlflow.db, or $GARBAGE_HPO_RUNS/mlflow.db); port: where the UI
listens on 127.0.0.1 (make ui UI_PORT=..., or $GARBAGE_HPO_UI_PORT). A port another server already answers on
(its link would open that server's experiments, not this store's) or a store that cannot be opened is refused
in one line, exit code 2, before anything starts; then MLflow's own server (with this project's app, which
opens experiments on training runs) takes this process's place and prints the link to open.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from garbage_hpo.runtime import command_args, friendly_errors, key_values, number_value, runs_dir
from garbage_hpo.tracking import check_tracking_store, default_tracking_uri, hide_password


def check_port_free(port: int) -> None:
    """Refuse a port something already listens on: MLflow would log `address already in use` and exit 0, and
    the link printed would open the other server."""
    if not 0 < port < 65536:
        raise ValueError(f"port={port}: a TCP port, 1-65535")
    with socket.socket() as probe:
        probe.settimeout(1.0)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise ValueError(f"port={port}: another server already listens on 127.0.0.1:{port}, and its pages are "
                             "not this store's; stop it, or choose another port (make ui UI_PORT=5001)")
    with socket.socket() as bind:
        bind.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            bind.bind(("127.0.0.1", port))
        except OSError as err:
            raise ValueError(f"port={port}: cannot listen there ({err.strerror})") from None


def server_command(store: str, port: int) -> list[str]:
    mlflow = Path(sys.executable).with_name("mlflow")
    return [str(mlflow), "server", "--app-name", "garbage-hpo", "--backend-store-uri", store, "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1"]


def main(argv: list[str] | None = None) -> int:
    argv = command_args(argv, __doc__)
    if argv is None:
        return 0
    with friendly_errors():
        overrides, _ = key_values(argv, {})
        unknown = sorted(set(overrides) - {"store", "port"})
        if unknown:
            raise ValueError(f"{unknown[0]}=...: not a key of this command (store=URI, port=N; see --help)")
        store = overrides.get("store") or default_tracking_uri(runs_dir())
        port = int(number_value("port", overrides.get("port", os.environ.get("GARBAGE_HPO_UI_PORT", "5000")), int,
                                "a TCP port number, e.g. 5000"))
        check_port_free(port)
        try:
            check_tracking_store(store)
        except ValueError as err:  # the checks every command runs, named by this command's key
            raise ValueError(str(err).replace("tracking.uri", "store")) from None
        print(f"MLflow UI: http://127.0.0.1:{port}/#/experiments?workflowType=machine_learning "
              f"(store {hide_password(store)})", flush=True)
        command = server_command(store, port)
        os.execv(command[0], command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
