"""`make ui` (`python -m garbage_hpo.ui`): a busy port or a bad store is refused in one line before any server
starts (issue 35, item 9); otherwise MLflow's server runs with this project's app (tests/conftest.py's
make_ui_server starts it this way for every UI test)."""

from __future__ import annotations

import socket
import time

from tests.conftest import make_ui_server, run_cli


def test_a_port_another_server_listens_on_is_refused(runs):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        proc = run_cli("garbage_hpo.ui", f"store=sqlite:///{runs / 'mlflow.db'}", f"port={port}", check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"error: port={port}: another server already listens on 127.0.0.1:{port}" in proc.stderr
    assert "MLflow UI:" not in proc.stdout and "Traceback" not in proc.stderr


def test_a_store_that_cannot_be_opened_is_refused_in_seconds(runs, tmp_path):
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_text("not sqlite")
    start = time.monotonic()
    bad_file = run_cli("garbage_hpo.ui", f"store=sqlite:///{not_a_database}", f"port={free_port()}", check=False)
    assert bad_file.returncode == 2, bad_file.stderr
    assert f"error: store=sqlite:///{not_a_database}: {not_a_database} is not an SQLite database" in bad_file.stderr
    assert "point store at an MLflow store" in bad_file.stderr
    server = run_cli("garbage_hpo.ui", "store=postgresql://nobody:secret@127.0.0.1:1/mlflow", f"port={free_port()}",
                     check=False)
    assert server.returncode == 2 and "error: store=postgresql://nobody:***@127.0.0.1:1/mlflow: cannot open" in \
        server.stderr and "secret" not in server.stderr
    assert time.monotonic() - start < 60
    typo = run_cli("garbage_hpo.ui", "stor=x", check=False)
    assert typo.returncode == 2 and "stor=...: not a key of this command" in typo.stderr


def test_a_free_port_serves_the_store(runs):
    import urllib.request

    with make_ui_server(runs / "mlflow.db") as base, urllib.request.urlopen(f"{base}/health", timeout=10) as page:
        assert page.status == 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
