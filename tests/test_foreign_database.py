"""A PostgreSQL database that is not trialwatch's, or a role that may not create tables in it:
said as such, with what to do, and another application's tables never touched (issue 30: 17)."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import cli
from tests.pg import Server

pytestmark = pytest.mark.slow


@pytest.fixture
def foreign(pg_server: Server) -> str:
    """A database another application uses: its own `trials` and `meta` tables, with rows."""
    url = pg_server.new_database(empty=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE trials (id serial PRIMARY KEY, arm text)")
        conn.execute("INSERT INTO trials (arm) VALUES ('placebo'), ('drug')")
        conn.execute("CREATE TABLE meta (k text, v text)")
    return url


def test_another_applications_tables_are_named_and_never_touched(
    foreign: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "events", "--store", foreign)
    assert code == 2, err
    assert "internal error" not in err and "DuplicateTable" not in err
    assert "not trialwatch's" in err and "trials" in err
    assert "empty database" in err  # what to do
    with psycopg.connect(foreign, autocommit=True) as conn:
        assert conn.execute("SELECT arm FROM trials ORDER BY id").fetchall() == [
            ("placebo",),
            ("drug",),
        ]
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
        assert tables == {"trials", "meta"}  # nothing of trialwatch's was made beside them


def test_a_role_that_may_not_create_tables_is_told_what_to_grant(
    pg_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    url = pg_server.new_database(empty=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS reader")
        conn.execute("CREATE ROLE reader LOGIN")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    reader = url.replace("postgres@", "reader@", 1)
    assert "reader@" in reader
    code, _, err = cli(capsys, "events", "--store", reader)
    assert code == 2, err
    assert "internal error" not in err and "InsufficientPrivilege" not in err
    assert "cannot create" in err and "GRANT" in err
