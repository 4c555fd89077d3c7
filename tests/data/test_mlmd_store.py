"""data.mlmd_store: spec parsing, password handling, SQLite concurrency, MariaDB connection."""
import logging
import multiprocessing

import pytest
from ml_metadata.proto import metadata_store_pb2

from data import mlmd_store


def test_sqlite_path_and_url(tmp_path):
    path = tmp_path / "sub" / "metadata.sqlite"
    c = mlmd_store.connection_config(str(path))
    assert c.sqlite.filename_uri == str(path)
    assert c.sqlite.connection_mode == metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    assert path.parent.is_dir()
    c2 = mlmd_store.connection_config(f"sqlite://{path}")
    assert c2.sqlite.filename_uri == str(path)
    assert c.retry_options.max_num_retries == mlmd_store.DEFAULT_MAX_NUM_RETRIES


def test_read_only_requires_existing_file(tmp_path):
    with pytest.raises(mlmd_store.MetadataSpecError, match="does not exist"):
        mlmd_store.connection_config(str(tmp_path / "missing.sqlite"), read_only=True)
    assert not (tmp_path / "missing.sqlite").exists()


def test_mysql_url_password_from_env(monkeypatch):
    monkeypatch.setenv("MLMD_MYSQL_PASSWORD", "s3cret")
    c = mlmd_store.connection_config("mysql://alice@db.example:3307/mlmd")
    assert (c.mysql.host, c.mysql.port, c.mysql.database, c.mysql.user, c.mysql.password) == (
        "db.example", 3307, "mlmd", "alice", "s3cret")
    assert "s3cret" not in mlmd_store.describe(c)
    assert mlmd_store.describe(c) == "mysql://alice@db.example:3307/mlmd"
    monkeypatch.delenv("MLMD_MYSQL_PASSWORD")
    assert mlmd_store.connection_config("mysql://alice@db.example/mlmd").mysql.port == 3306


def test_password_in_url_is_rejected_without_echo():
    with pytest.raises(mlmd_store.MetadataSpecError) as err:
        mlmd_store.connection_config("mysql://alice:hunter2@db:3306/mlmd")
    assert "hunter2" not in str(err.value)
    assert "MLMD_MYSQL_PASSWORD" in str(err.value)
    assert "hunter2" not in mlmd_store.describe("mysql://alice:hunter2@db:3306/mlmd")


@pytest.mark.parametrize("spec, words", [
    ("mysql://db:3306/mlmd", "missing user"),
    ("mysql://alice@db:3306/", "database"),
    ("mysql://alice@db:notaport/mlmd", "bad port"),
    ("postgres://alice@db/mlmd", "unsupported scheme"),
    ("", "empty"),
])
def test_bad_specs_name_the_problem(spec, words):
    with pytest.raises(mlmd_store.MetadataSpecError, match=words):
        mlmd_store.connection_config(spec)


def test_directory_is_not_a_store(tmp_path):
    with pytest.raises(mlmd_store.MetadataSpecError, match="is a directory"):
        mlmd_store.connection_config(str(tmp_path))


def _writer(args):
    path, i = args
    from data import mlmd_store
    store = mlmd_store.open_store(path)
    t = store.put_artifact_type(metadata_store_pb2.ArtifactType(name="Thing"))
    for k in range(30):
        store.put_artifacts([metadata_store_pb2.Artifact(type_id=t, uri=f"w{i}/{k}")])
    return i


def test_concurrent_writers_on_a_fresh_sqlite_file(tmp_path):
    # Creating the MLMD schema from several processes at once races ("Concurrent writes
    # aborted" / "subset of tables"); open_store retries it.
    path = str(tmp_path / "metadata.sqlite")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(6) as pool:
        assert sorted(pool.map(_writer, [(path, i) for i in range(6)])) == list(range(6))
    store = mlmd_store.open_store(path, read_only=True)
    assert len(store.get_artifacts_by_type("Thing")) == 6 * 30


def test_with_retry_gives_up_with_clear_error():
    calls = []

    def always_locked():
        calls.append(1)
        raise RuntimeError("database is locked")

    with pytest.raises(RuntimeError, match="MySQL/MariaDB"):
        mlmd_store.with_retry(always_locked, attempts=3, base_delay=0.01)
    assert len(calls) == 3
    with pytest.raises(ValueError):  # non-transient errors are not retried
        mlmd_store.with_retry(lambda: (_ for _ in ()).throw(ValueError("x")), attempts=3)


@pytest.mark.mariadb
def test_mariadb_store_password_only_from_env(mariadb_server, monkeypatch, caplog):
    spec = mariadb_server.new_database("conn")
    caplog.set_level(logging.DEBUG)
    store = mlmd_store.open_store(spec)
    store.put_artifact_type(metadata_store_pb2.ArtifactType(name="Thing"))
    assert [t.name for t in store.get_artifact_types()] == ["Thing"]
    assert mariadb_server.password not in caplog.text
    # The password is nowhere in the MLMD tables.
    dump = mariadb_server.sql(f"USE {spec.rsplit('/', 1)[1]}; SELECT * FROM Type; SELECT * FROM MLMDEnv;")
    assert mariadb_server.password not in dump
    monkeypatch.setenv("MLMD_MYSQL_PASSWORD", "wrong")
    with pytest.raises(RuntimeError, match="cannot open metadata store mysql://mlmd@") as err:
        mlmd_store.open_store(spec, attempts=1)
    assert "wrong" not in str(err.value).replace("wrong password", "")


def test_tfx_accepts_the_config(tmp_path):
    from tfx.orchestration import metadata as tfx_metadata
    config = mlmd_store.connection_config(str(tmp_path / "metadata.sqlite"))
    with tfx_metadata.Metadata(config) as m:
        assert m.store.get_artifact_types() == []


def test_a_mysql_server_that_is_not_there_is_one_clean_message(capfd):
    from components.infra_validator.model_server_process import free_ports
    [port] = free_ports(1)
    with pytest.raises(RuntimeError) as err:
        mlmd_store.open_store(f"mysql://u@127.0.0.1:{port}/db", attempts=1)
    message = str(err.value)
    assert message.startswith(f"cannot open metadata store mysql://u@127.0.0.1:{port}/db: ")
    assert "errno: ," not in message and "error: " not in message  # MySQL left both empty
    assert capfd.readouterr().err == ""  # MLMD's C++ log lines (glog) are not printed
