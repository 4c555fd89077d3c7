import pytest

from tests.mariadb_server import mariadb_server  # noqa: F401  (session fixture)

BACKENDS = ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)]


@pytest.fixture
def new_spec(request, tmp_path_factory):
    """Factory of empty-store specs for the backend named by the test's ``backend`` parameter."""
    def make(backend: str, name: str = "mlmd") -> str:
        if backend == "sqlite":
            return str(tmp_path_factory.mktemp(name) / "metadata.sqlite")
        server = request.getfixturevalue("mariadb_server")
        return server.new_database(name)
    return make
