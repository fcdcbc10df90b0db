"""Engines the tests execute compiled SQL on: DuckDB (in-memory), PostgreSQL (a live server) and
Spark (local mode, in-process). Each backend creates input tables, runs each model as
CREATE TABLE ... AS <the model's SELECT> and reads rows back as dicts.

PostgreSQL is reached through KAIREON_PG_* (defaults: 127.0.0.1:54329, user/password/db kaireon,
as started by scripts/postgres.sh). An engine that is not available is skipped, unless
KAIREON_REQUIRE_ENGINES lists it (CI sets it, so a missing engine fails instead of skipping).
"""
from __future__ import annotations

import itertools
import os
import re
from datetime import datetime

import pytest

from kaireon_sql.dialect import Engine, engine

ENGINE_NAMES = ("duckdb", "postgres", "spark")
_REF = re.compile(r"\{\{ ref\('([A-Za-z0-9_]+)'\) \}\}")
_counter = itertools.count()

# harness column types (DuckDB spelling) -> each engine's spelling
TYPES = {
    "postgres": {"VARCHAR": "TEXT", "DOUBLE": "DOUBLE PRECISION"},
    "spark": {"VARCHAR": "STRING", "INTEGER": "INT"},
}


def required() -> set[str]:
    return {e.strip() for e in os.environ.get("KAIREON_REQUIRE_ENGINES", "").split(",") if e.strip()}


def pg_params() -> dict:
    """psycopg2.connect() arguments of the test server (KAIREON_PG_*, as scripts/postgres.sh starts it)."""
    return dict(host=os.environ.get("KAIREON_PG_HOST", "127.0.0.1"), port=int(os.environ.get("KAIREON_PG_PORT", "54329")),
                user=os.environ.get("KAIREON_PG_USER", "kaireon"), password=os.environ.get("KAIREON_PG_PASSWORD", "kaireon"),
                dbname=os.environ.get("KAIREON_PG_DATABASE", "kaireon"), connect_timeout=3)


def postgres_or_skip():
    """psycopg2, once the test server answers; pytest.skip when it does not and CI does not require it."""
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        psycopg2.connect(**pg_params()).close()
    except Exception as exc:
        if "postgres" in required():
            raise
        pytest.skip(f"postgres not available: {type(exc).__name__}")
    return psycopg2


class Backend:
    name: str
    quote = '"'

    @property
    def engine(self) -> Engine:
        return engine(self.name)

    def column_type(self, duck_type: str) -> str:
        return TYPES.get(self.name, {}).get(duck_type, duck_type)

    def ident(self, name: str) -> str:
        return f"{self.quote}{name}{self.quote}"

    def model_sql(self, sql: str) -> str:
        body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
        return _REF.sub(lambda m: self.ident(m.group(1)), body)

    # implemented per engine
    def create_table(self, name: str, columns: dict[str, str], rows: list[tuple]) -> None: ...
    def create_as(self, name: str, select_sql: str) -> None: ...
    def query(self, sql: str) -> list[dict]: ...
    def close(self) -> None: ...


class DuckDBBackend(Backend):
    name = "duckdb"

    def __init__(self):
        import duckdb

        self.con = duckdb.connect()

    def create_table(self, name, columns, rows):
        cols = ", ".join(f"{self.ident(c)} {self.column_type(t)}" for c, t in columns.items())
        self.con.execute(f"CREATE TABLE {self.ident(name)} ({cols})")
        if rows:
            marks = ", ".join("?" for _ in columns)
            self.con.executemany(f"INSERT INTO {self.ident(name)} VALUES ({marks})", rows)

    def create_as(self, name, select_sql):
        self.con.execute(f"CREATE TABLE {self.ident(name)} AS {select_sql}")

    def query(self, sql):
        cur = self.con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def close(self):
        self.con.close()


class PostgresBackend(Backend):
    """Each backend gets its own schema, dropped on close."""

    name = "postgres"

    def __init__(self):
        import psycopg2

        self.con = psycopg2.connect(**pg_params())
        self.con.autocommit = True
        self.schema = f"kt_{os.getpid()}_{next(_counter)}"
        with self.con.cursor() as cur:
            cur.execute(f"CREATE SCHEMA {self.schema}")
            cur.execute(f"SET search_path TO {self.schema}")
            cur.execute("SET TIME ZONE 'UTC'")

    def create_table(self, name, columns, rows):
        cols = ", ".join(f"{self.ident(c)} {self.column_type(t)}" for c, t in columns.items())
        with self.con.cursor() as cur:
            cur.execute(f"CREATE TABLE {self.ident(name)} ({cols})")
            if rows:
                marks = ", ".join("%s" for _ in columns)
                cur.executemany(f"INSERT INTO {self.ident(name)} VALUES ({marks})", rows)

    def create_as(self, name, select_sql):
        with self.con.cursor() as cur:
            cur.execute(f"CREATE TABLE {self.ident(name)} AS {select_sql}")

    def query(self, sql):
        with self.con.cursor() as cur:
            cur.execute(sql)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

    def close(self):
        with self.con.cursor() as cur:
            cur.execute(f"DROP SCHEMA {self.schema} CASCADE")
        self.con.close()


_spark_session = None


def spark_session():
    """One local Spark session per test process, UTC, in-memory catalog."""
    global _spark_session
    if _spark_session is None:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        from pyspark.sql import SparkSession

        _spark_session = (
            SparkSession.builder.master("local[2]").appName("kaireon-tests")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "1")
            # the walk (sql/walk.py) is a chain of up to 2N+1 rounds of CTEs: more than the default 100 passes
            .config("spark.sql.analyzer.maxIterations", "1000")
            # tiny test data: compiling code and re-planning cost more than they save
            .config("spark.sql.codegen.wholeStage", "false")
            .config("spark.sql.adaptive.enabled", "false")
            .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.catalogImplementation", "in-memory")
            # One session serves a worker's whole run (hundreds of builds): the default 1 GiB heap ran out in
            # CI (OutOfMemoryError in localCheckpoint). More heap, and the cleaner's JVM GC every minute (not
            # every 30) so the blocks of dropped views' checkpoints are freed while the run goes on.
            .config("spark.driver.memory", os.environ.get("KAIREON_SPARK_MEMORY", "4g"))
            .config("spark.cleaner.periodicGC.interval", "1min")
            .getOrCreate()
        )
        _spark_session.sparkContext.setLogLevel("ERROR")
    return _spark_session


class SparkBackend(Backend):
    """Tables are cached temporary views, named with a per-backend prefix-free namespace."""

    name = "spark"
    quote = "`"

    def __init__(self):
        self.spark = spark_session()
        self.views: list[str] = []
        # SHOW VIEWS, not catalog.listTables(): Spark 4's listTables fails to decode some temporary views
        # (EXPRESSION_DECODING_FAILED, argument type mismatch) while another backend's views are still open
        for view in self.spark.sql("SHOW VIEWS").collect():
            if view.isTemporary:
                self.spark.catalog.dropTempView(view.viewName)

    def create_table(self, name, columns, rows):
        from pyspark.sql.types import (BooleanType, DoubleType, IntegerType, StringType, StructField, StructType,
                                       TimestampNTZType)

        kinds = {"VARCHAR": StringType(), "DOUBLE": DoubleType(), "INTEGER": IntegerType(), "BOOLEAN": BooleanType(),
                 "TIMESTAMP": TimestampNTZType()}
        schema = StructType([StructField(c, kinds[t], True) for c, t in columns.items()])
        fixed = [tuple(_spark_value(v, t) for v, t in zip(r, columns.values())) for r in rows]
        df = self.spark.createDataFrame(fixed, schema)
        df.createOrReplaceTempView(name)
        self.views.append(name)

    def create_as(self, name, select_sql):
        # Models many others read are checkpointed (computed once, no SQL text to re-resolve);
        # the rest stay lazy views, computed by the one query that reads them.
        df = self.spark.sql(select_sql)
        if name in ("kaireon_stg_interactions", "kaireon_offers", "kaireon_attribution") or name.endswith(
                ("__customers", "__candidates", "__posterior", "__state")):
            df = df.localCheckpoint(eager=True)
        df.createOrReplaceTempView(name)
        self.views.append(name)

    def query(self, sql):
        return [r.asDict() for r in self.spark.sql(sql).collect()]

    def close(self):
        for view in self.views:
            self.spark.catalog.dropTempView(view)


def _spark_value(value, duck_type: str):
    """Python values as Spark's DataFrame builder wants them (DuckDB and PostgreSQL coerce text)."""
    if value is None:
        return None
    if duck_type == "DOUBLE":
        return float(value)
    if duck_type == "INTEGER":
        return int(value)
    if duck_type == "TIMESTAMP" and isinstance(value, str):
        return datetime.fromisoformat(value)
    if duck_type == "BOOLEAN" and isinstance(value, str):
        return value.lower() == "true"
    return value


BACKENDS = {"duckdb": DuckDBBackend, "postgres": PostgresBackend, "spark": SparkBackend}


def open_backend(name: str) -> Backend:
    """A fresh backend, or pytest.skip when the engine is unavailable and not required."""
    try:
        return BACKENDS[name]()
    except Exception as exc:  # engine not installed or server not running
        if name in required():
            raise
        pytest.skip(f"{name} not available: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


_ATTRIBUTE = re.compile(r"\{\{ kaireon_sql\.run_attribute\('([A-Za-z0-9_]+)'\) \}\}")


def with_attributes(sql: str, attributes: dict | None, text_type: str) -> str:
    """The run attributes as macros/run_attributes.sql writes them: each value's UTF-8 text as a hex literal."""
    def value(m: re.Match) -> str:
        v = (attributes or {}).get(m.group(1))
        return f"CAST(NULL AS {text_type})" if v is None else "'" + str(v).encode("utf-8").hex() + "'"
    return _ATTRIBUTE.sub(value, sql)


def run_models_on(backend: Backend, models: dict[str, str], tables: dict, as_of: str = "2026-11-20 15:00:00",
                  run_id: str | None = None, channel: str | None = None, attributes: dict | None = None) -> Backend:
    """Create input tables and every compiled model (in order) on `backend`."""
    for name, table in tables.items():
        backend.create_table(name, table.columns, table.rows)
    backend.create_table(
        "kaireon_run_params",
        {"as_of": "TIMESTAMP", "as_of_text": "VARCHAR", "run_id": "VARCHAR", "channel": "VARCHAR"},
        [(datetime.fromisoformat(as_of), as_of.replace(" ", "T") + "Z", run_id, channel)],
    )
    from harness import first_build  # noqa: PLC0415

    for name, sql in models.items():
        if name == "kaireon_run_params":
            continue
        # incremental models (the decision log) as their first build; experiment models read the log
        sql = with_attributes(sql, attributes, backend.column_type("VARCHAR"))
        backend.create_as(name, backend.model_sql(first_build(sql)))
    return backend
