"""The throwaway PostgreSQL cluster (initdb + pg_ctl, loopback only) shared by the tools' integration tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = next((Path(p) for p in ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
            if (Path(p) / "initdb").exists()), None)


def _as_owner(args: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if BIN is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("no PostgreSQL server binaries on this machine")
    psycopg = pytest.importorskip("psycopg", reason="PostgreSQL support needs the 'postgres' extra (psycopg)")
    root = Path(tempfile.mkdtemp(prefix="nativa-pg-"))  # not under pytest's 0700 root dir: postgres must reach it
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    subprocess.run(_as_owner([str(BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "nativa"]), check=True,
                   capture_output=True)
    subprocess.run(_as_owner([str(BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                              f"-k {root} -p {port} -c listen_addresses=127.0.0.1", "start"]),
                   check=True, capture_output=True)
    url = f"postgresql+psycopg://nativa@127.0.0.1:{port}/postgres"
    try:
        with psycopg.connect(f"host=127.0.0.1 port={port} user=nativa dbname=postgres", autocommit=True) as conn:
            conn.execute("CREATE TABLE vendors (id INT PRIMARY KEY, region TEXT); "
                         "CREATE TABLE items (id INT PRIMARY KEY, name TEXT, vendor_id INT REFERENCES vendors(id)); "
                         "INSERT INTO vendors VALUES (1, 'North'), (2, 'South'); "
                         "INSERT INTO items VALUES (1, 'a', 1), (2, 'b', 2), (3, 'a', 1), (4, 'a', 2), (5, 'b', 1); "
                         "CREATE SEQUENCE counter")
        yield url
    finally:
        subprocess.run(_as_owner([str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
