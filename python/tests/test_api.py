"""The Python API against the CLI on the same data: equal outputs, every input kind, one model file,
the GIL released, the input read in place, and errors as the package's exceptions."""

import ctypes
import json
import logging
import os
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import strata

FIT = dict(k=4, id="customer_id", log1p=["balance"], n_init=2, seed=3, device="cpu")
CLI_FIT = ["--k", 4, "--id", "customer_id", "--log1p", "balance", "--n-init", 2, "--seed", 3, "--device", "cpu"]


def model_values(path):
    """What a model learned (its creation time and input description differ between runs)."""
    m = json.loads(open(path).read())
    return {k: m[k] for k in ("preparation", "segments", "reference", "fit", "fitted_rows", "features")}


def test_fit_gives_the_cli_outputs(cli, customers, table, tmp_path):
    cli("fit", customers, *CLI_FIT, "--out", tmp_path / "cli", "-q")
    seg = strata.fit(table, **FIT)
    for name in ("labels", "segments", "profiles"):
        assert getattr(seg, name).equals(pq.read_table(tmp_path / "cli" / f"{name}.parquet")), name
    assert model_values(seg.path / "model.json") == model_values(tmp_path / "cli" / "model.json")
    assert seg.explain == json.loads((tmp_path / "cli" / "explain.json").read_text())
    assert seg.summary["k"] == 4 and seg.summary["inputs"] == ["the table given"]
    assert "<html" in seg.report_html().lower()
    # write() publishes the set as the CLI does: the same files.
    written = seg.write(tmp_path / "py")
    assert sorted(p.split("/")[-1] for p in written) == sorted(
        p.name for p in (tmp_path / "cli").iterdir()
    )
    assert pq.read_table(tmp_path / "py" / "labels.parquet").equals(seg.labels)


def numeric_only(table):
    return table.drop_columns(["customer_id"])


@pytest.mark.parametrize("kind", ["pyarrow", "reader", "pandas", "polars", "duckdb", "numpy", "path"])
def test_every_input_kind_gives_the_same_segments(kind, customers, table, tmp_path):
    t = numeric_only(table)
    path = tmp_path / "numeric.parquet"
    pq.write_table(t, path)
    if kind == "pyarrow":
        data = t
    elif kind == "reader":
        data = pa.RecordBatchReader.from_batches(t.schema, t.to_batches(max_chunksize=3_000))
    elif kind == "pandas":
        data = t.to_pandas()
    elif kind == "polars":
        import polars as pl

        data = pl.from_arrow(t)
    elif kind == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.register("t", t)
        data = con.sql("SELECT * FROM t")
    elif kind == "numpy":
        data = np.column_stack([t.column(i).to_numpy() for i in range(t.num_columns)])
    else:
        data = path
    seg = strata.fit(data, k=4, n_init=2, seed=3, device="cpu", report=False)
    expected = strata.fit(path, k=4, n_init=2, seed=3, device="cpu", report=False)
    assert seg.labels.column("segment").equals(expected.labels.column("segment")), kind
    assert seg.summary["sse"] == expected.summary["sse"], kind


def test_categoricals_and_nulls_arrive_through_arrow(cli, tmp_path):
    rng = np.random.default_rng(1)
    n = 3_000
    balance = rng.gamma(2.0, 1_000.0, n)
    balance[::37] = np.nan
    region = np.array(["north", "south", "east", None], dtype=object)[rng.integers(0, 4, n)]
    t = pa.table(
        {
            "id": pa.array(np.arange(n), pa.int64()),
            "balance": pa.array(balance, from_pandas=True),
            "logins": pa.array(rng.poisson(5, n).astype(np.float64)),
            "region": pa.array(region, pa.string()),
        }
    )
    assert t.column("balance").null_count > 0 and t.column("region").null_count > 0
    pq.write_table(t, tmp_path / "t.parquet")
    args = ["--k", 3, "--id", "id", "--categorical", "region", "--missing", "median", "--n-init", 2]
    cli("fit", tmp_path / "t.parquet", *args, "--device", "cpu", "--no-report", "--out", tmp_path / "cli", "-q")
    seg = strata.fit(
        t, k=3, id="id", categorical=["region"], missing="median", n_init=2, device="cpu", report=False
    )
    for name in ("labels", "segments", "profiles"):
        assert getattr(seg, name).equals(pq.read_table(tmp_path / "cli" / f"{name}.parquet")), name


def test_one_model_file_both_ways(cli, customers, table, tmp_path):
    # Fitted in Python, assigned by the CLI.
    seg = strata.fit(table, **FIT, report=False)
    seg.model.save(tmp_path / "model.json")
    cli("assign", customers, "--model", tmp_path / "model.json", "--device", "cpu", "--no-report",
        "--out", tmp_path / "by-cli", "-q")
    assert pq.read_table(tmp_path / "by-cli" / "labels.parquet").equals(seg.labels)
    # Fitted by the CLI, assigned in Python.
    cli("fit", customers, *CLI_FIT, "--out", tmp_path / "cli", "-q")
    model = strata.Model.load(tmp_path / "cli")
    assert model.k == 4 and "balance" in model.features
    assert model.assign(table, device="cpu").equals(pq.read_table(tmp_path / "cli" / "labels.parquet"))
    # save() keeps the file as it was written.
    model.save(tmp_path / "copy.json")
    assert (tmp_path / "copy.json").read_text() == (tmp_path / "cli" / "model.json").read_text()


def test_assign_publishes_the_output_set_with_the_lifecycle(customers, table, tmp_path):
    first = strata.fit(table, **FIT, report=False)
    labels = first.model.assign(table, previous=first, out=tmp_path / "night2", profiles=True, device="cpu")
    assert labels.num_rows == table.num_rows
    names = {p.name for p in (tmp_path / "night2").iterdir()}
    assert {"labels.parquet", "segments.parquet", "profiles.parquet", "transitions.parquet", "report.html"} <= names
    assert pq.read_table(tmp_path / "night2" / "labels.parquet").equals(labels)


def test_the_gil_is_released_during_a_fit(cli, tmp_path):
    path = tmp_path / "big.parquet"
    cli("generate", "--rows", 400_000, "--features", 16, "--out", path, "-q")
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=count)
    start = time.perf_counter()
    t.start()
    try:
        strata.fit(path, k=8, n_init=3, device="cpu", report=False)
    finally:
        end = time.perf_counter()
        done.set()
        t.join()
    during = [x for x in ticks if start < x < end]
    # With the GIL held for the whole fit the other thread would stall; it ticks throughout instead.
    assert end - start > 0.2
    assert len(during) > 0.2 * (end - start) / 0.001, (len(during), end - start)


def _peak_rss_during(f):
    """f()'s value and the largest resident set size (bytes) seen while it ran, sampled every ms."""
    page = os.sysconf("SC_PAGE_SIZE")
    peak = [0]
    done = threading.Event()

    def rss():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * page

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.001)

    # Freed memory the allocator kept would be reused without showing in the RSS: hand it back first, so
    # that every measurement starts from the same state.
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = rss()
    t = threading.Thread(target=sample)
    t.start()
    try:
        v = f()
    finally:
        done.set()
        t.join()
    return v, peak[0] - before


def test_a_table_is_read_in_place(cli, tmp_path):
    path = tmp_path / "wide.parquet"
    # Large enough that the allocator's own slack (a few tens of MB) is small beside half the table.
    cli("generate", "--rows", 800_000, "--features", 32, "--out", path, "-q")
    opts = dict(k=4, n_init=1, device="cpu", report=False)
    table = pq.read_table(path)
    for data in (path, table):  # warm up the allocator and the thread pool on both ways
        strata.fit(data, **opts)
    # The least of a few: the allocator's and the thread pool's state still vary a little between calls.
    from_file = min(_peak_rss_during(lambda: strata.fit(path, **opts))[1] for _ in range(3))
    from_table = min(_peak_rss_during(lambda: strata.fit(table, **opts))[1] for _ in range(3))
    # A copy of the table would add its whole size to the fit's peak; read in place, the fit of the table
    # in memory needs about what the fit of the file needs (which decodes its pages transiently).
    assert from_table < from_file + 0.5 * table.nbytes, (from_table, from_file, table.nbytes)


def test_progress_goes_to_logging(table, caplog):
    with caplog.at_level(logging.INFO, logger="strata"):
        strata.fit(table, **FIT, report=False)
    assert any("k-means k=4" in r.getMessage() for r in caplog.records)


def test_errors_are_the_kinds_exceptions(table, tmp_path):
    with pytest.raises(strata.UsageError, match="`k` must be at least 1"):
        strata.fit(table, k=0)
    with pytest.raises(strata.InputError, match="nope"):
        strata.fit(table, k=3, features=["nope", "balance"], device="cpu")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("the user's")
    seg = strata.fit(table, k=3, n_init=1, device="cpu", report=False)
    with pytest.raises(strata.OutputError, match="did not write"):
        seg.write(foreign)
    assert (foreign / "notes.txt").read_text() == "the user's"
    (tmp_path / "bad.json").write_text('{"format": "strata-model", "format_ver')
    with pytest.raises(strata.InputError, match="truncated or damaged"):
        strata.Model.load(tmp_path / "bad.json")
    with pytest.raises(strata.UsageError, match="`data`"):
        strata.fit(object(), k=3)
    for e in (strata.UsageError, strata.InputError, strata.OutputError, strata.DeviceError):
        assert issubclass(e, strata.StrataError)


def test_sweep_recommends_a_k_with_every_score(table):
    s = strata.sweep(numeric_only(table), k=range(2, 6), n_init=1, device="cpu", report=False)
    assert s.table.column("k").to_pylist() == [2, 3, 4, 5]
    assert s.recommended in (2, 3, 4, 5)


def test_nightly_runs_a_night_of_a_job_file(cli, tmp_path):
    (tmp_path / "in").mkdir()
    for night in (0, 1):
        cli("generate", "--rows", 5_000, "--features", 4, "--night", night, "--scenarios", "stable",
            "--out", tmp_path / "in" / f"2026-12-0{night + 1}.parquet", "-q")
    (tmp_path / "job.toml").write_text(
        '[input]\npaths = ["in/{date}.parquet"]\nid = "customer_id"\n[kmeans]\nk = 4\nn_init = 2\n'
        '[policy]\nmode = "refit-always"\n[output]\nruns = "runs"\nregistry = "models"\ndevice = "cpu"\n'
    )
    first = strata.nightly(tmp_path / "job.toml", "2026-12-01")
    second = strata.nightly(tmp_path / "job.toml", "2026-12-02")
    assert first["action"] == "fit" and first["previous"] is None
    assert second["previous"] == "2026-12-01"
    assert (tmp_path / "runs" / "current").exists()


def test_everything_public_has_a_docstring():
    import inspect

    import strata.sklearn

    missing = []
    for module in (strata, strata.sklearn):
        for name in getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]:
            obj = getattr(module, name)
            if inspect.ismodule(obj) or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if obj.__module__.split(".")[0] != "strata":
                continue
            members = [obj] + [
                m for n, m in vars(obj).items() if not n.startswith("_") and (callable(m) or isinstance(m, property))
            ] if inspect.isclass(obj) else [obj]
            missing += [f"{name}.{getattr(m, '__name__', '')}" for m in members if not inspect.getdoc(m)]
    assert not missing, missing
