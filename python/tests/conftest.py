"""Shared fixtures: the `strata` binary of this checkout (the CLI the package is compared with) and
generated customer tables."""

import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cli():
    """Runs the checkout's release binary (built by `cargo build --release`, as CI's `cargo test
    --release` does); a missing binary fails, it is not skipped."""
    exe = Path(os.environ.get("STRATA_BIN", ROOT / "target" / "release" / "strata"))
    assert exe.exists(), f"{exe} not found: run `cargo build --release` first (or set STRATA_BIN)"

    def run(*args, check=True):
        p = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True)
        if check:
            assert p.returncode == 0, f"strata {' '.join(map(str, args))}: {p.stderr}"
        return p

    return run


@pytest.fixture(scope="session")
def customers(cli, tmp_path_factory):
    """20,000 generated customers with 8 features (Parquet)."""
    path = tmp_path_factory.mktemp("data") / "customers.parquet"
    cli("generate", "--rows", 20_000, "--features", 8, "--clusters", 5, "--seed", 7, "--out", path, "-q")
    return path


@pytest.fixture(scope="session")
def table(customers):
    return pq.read_table(customers)
