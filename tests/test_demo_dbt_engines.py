"""The demo through `kaireon run` (dbt build, dbt tests) on PostgreSQL and Spark: the same S4 rows as DuckDB."""
import os
from datetime import timezone

import duckdb
import pytest

from backends import required
from conftest import copy_demo, kaireon
from cross_engine import S4_TABLES, diff, normalise

pytestmark = pytest.mark.dbt
AS_OF = "2026-11-20T15:00:00Z"


def _sorted(rows):
    return sorted(rows, key=lambda r: [("" if r[k] is None else f"{r[k]:.6f}" if isinstance(r[k], float) else str(r[k]))
                                       for k in sorted(r)])


def _clean(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if hasattr(v, "tzinfo") and getattr(v, "tzinfo", None) is not None:
            v = v.astimezone(timezone.utc).replace(tzinfo=None)
        out[k] = normalise(v)
    return out


def _duckdb_rows(con, table):
    cur = con.execute(f'SELECT * FROM "{table}"')
    names = [d[0] for d in cur.description]
    return _sorted([_clean(dict(zip(names, r))) for r in cur.fetchall()])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    project = copy_demo(tmp_path_factory.mktemp("duck"))
    kaireon("run", "--as-of", AS_OF, "--quiet-dbt", cwd=project)
    con = duckdb.connect(str(project / "warehouse" / "kaireon_demo.duckdb"), read_only=True)
    return {t: _duckdb_rows(con, t) for t in S4_TABLES}


def _skip_unless(engine: str, probe) -> None:
    try:
        probe()
    except Exception as exc:
        if engine in required():
            raise
        pytest.skip(f"{engine} not available: {type(exc).__name__}")


def test_postgres_demo_matches_duckdb(reference, tmp_path):
    psycopg2 = pytest.importorskip("psycopg2")

    params = dict(host=os.environ.get("KAIREON_PG_HOST", "127.0.0.1"), port=int(os.environ.get("KAIREON_PG_PORT", "54329")),
                  user=os.environ.get("KAIREON_PG_USER", "kaireon"), password=os.environ.get("KAIREON_PG_PASSWORD", "kaireon"),
                  dbname=os.environ.get("KAIREON_PG_DATABASE", "kaireon"), connect_timeout=3)
    _skip_unless("postgres", lambda: psycopg2.connect(**params).close())
    schema = f"kaireon_demo_{os.getpid()}"
    project = copy_demo(tmp_path)
    env_before = os.environ.get("KAIREON_PG_SCHEMA")
    os.environ["KAIREON_PG_SCHEMA"] = schema
    try:
        out = kaireon("run", "--target", "postgres", "--as-of", AS_OF, "--quiet-dbt", cwd=project).stdout
    finally:
        if env_before is None:
            os.environ.pop("KAIREON_PG_SCHEMA")
        else:
            os.environ["KAIREON_PG_SCHEMA"] = env_before
    assert "541 decisions, 87 withheld" in out
    con = psycopg2.connect(**params)
    try:
        with con.cursor() as cur:
            for table in S4_TABLES:
                cur.execute(f'SELECT * FROM "{schema}"."{table}"')
                names = [d[0] for d in cur.description]
                rows = _sorted([_clean(dict(zip(names, r))) for r in cur.fetchall()])
                assert diff(reference[table], rows) is None, f"postgres {table}: {diff(reference[table], rows)}"
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
        con.commit()
    finally:
        con.close()


def test_spark_demo_matches_duckdb(reference, tmp_path):
    _skip_unless("spark", lambda: __import__("pyspark") and __import__("dbt.adapters.spark"))
    project = copy_demo(tmp_path)
    out = kaireon("run", "--target", "spark", "--as-of", AS_OF, "--quiet-dbt", cwd=project).stdout
    assert "541 decisions, 87 withheld" in out
    warehouse = project / "spark-warehouse" / "kaireon_demo.db"
    con = duckdb.connect()
    for table in S4_TABLES:
        # the S4 tables are views over each flow's table (kaireon_<flow>__<part>): read those files
        flow_tables = sorted(warehouse.glob("kaireon_*__" + table[len("kaireon_"):]))
        assert flow_tables, f"no flow table behind {table}"
        files = ", ".join(f"'{t}/*.parquet'" for t in flow_tables)
        cur = con.execute(f"SELECT * FROM read_parquet([{files}], union_by_name = true)")
        names = [d[0] for d in cur.description]
        rows = _sorted([_clean(dict(zip(names, r))) for r in cur.fetchall()])
        assert diff(reference[table], rows) is None, f"spark {table}: {diff(reference[table], rows)}"
