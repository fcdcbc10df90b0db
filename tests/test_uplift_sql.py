"""The scoring SELECT gives the Python model's predictions (to 1e-9), segments and top features."""
from __future__ import annotations

import numpy as np
import pytest
from sqlglot import exp

from backends import open_backend
from kaireon_sql.dialect import engine, render
from kaireon_sql.uplift import OUTPUT_COLUMNS, Thresholds, UpliftDataError, check_columns, fit_uplift, model_sql
from kaireon_sql.uplift.segments import signed_hundredths
from uplift_data import COLUMNS, table_rows, with_skewed_spend

FEATURES = ["x1", "x2", "cat", "spend"]


@pytest.fixture(scope="module")
def data():
    return with_skewed_spend()


@pytest.fixture(scope="module")
def scoring_data(data):
    table = data.rows(np.ones(data.n_rows, dtype=bool))
    # an unseen level, a row with every feature NULL, values outside ln(1 + x)'s domain
    table.columns["cat"][3] = "zzz"
    for f in FEATURES:
        table.columns[f][4] = None if f == "cat" else np.nan
    table.columns["spend"][5], table.columns["spend"][6] = -5.0, -1.0
    return table


@pytest.fixture(scope="module")
def models(data):
    with pytest.warns(UserWarning, match="NULL"):
        return {learner: fit_uplift(data, "treatment", "outcome", FEATURES, learner,
                                    thresholds=Thresholds(target_uplift=0.1, exclude_uplift=0.02))
                for learner in ("t", "s", "x", "ct")}


_rows = table_rows


@pytest.mark.parametrize("engine_name", ["duckdb", "postgres", "spark"])
def test_sql_scores_equal_python(engine_name, scoring_data, models):
    data = scoring_data
    assert any(c.transform == "log1p" for c in models["t"].encoding.columns)
    backend = open_backend(engine_name)
    if engine_name == "spark":  # local Spark plans the wide expression slowly: fewer rows, same cases
        data = data.rows(np.arange(data.n_rows) < 300)
    try:
        backend.create_table("uplift_features", COLUMNS, _rows(data))
        for learner, model in models.items():
            sql = render(model_sql(model, exp.to_table("uplift_features")), backend.engine)
            got = sorted(backend.query(sql), key=lambda r: r["customer_id"])
            want = model.predict(data)
            assert len(got) == data.n_rows
            for key in ("p_with_offer", "p_without_offer", "uplift"):
                np.testing.assert_allclose([r[key] for r in got], want[key], rtol=0, atol=1e-9, err_msg=learner)
            assert [r["segment"] for r in got] == want["segment"].tolist(), learner
            assert [r["top_features"] for r in got] == want["top_features"].tolist(), learner
            assert len(set(want["segment"])) >= 3
    finally:
        backend.close()


def test_select_shape(models):
    select = model_sql(models["t"], "customer_features", keep=("customer_id", "region"))
    assert isinstance(select, exp.Select)
    assert select.named_selects == ["customer_id", "region", *OUTPUT_COLUMNS]
    sql = render(select, engine("duckdb"))
    assert "{{ ref('customer_features') }}" in sql
    for name in ("postgres", "spark", "snowflake", "bigquery", "trino", "databricks"):
        assert render(select, engine(name))  # every engine renders it


def test_missing_feature_columns_are_named(models):
    with pytest.raises(UpliftDataError, match="'x2', 'cat'"):
        check_columns(models["t"], ["customer_id", "x1", "spend"])
    with pytest.raises(UpliftDataError, match="collide"):
        model_sql(models["t"], "f", keep=("uplift",))


@pytest.mark.parametrize("value,text", [(0.123, "+0.12"), (-0.05, "-0.05"), (0.004, "+0.00"), (-0.004, "+0.00"),
                                        (0.125, "+0.13"), (12.3456, "+12.35"), (-1.0, "-1.00"), (0.0, "+0.00")])
def test_signed_hundredths(value, text):
    assert signed_hundredths(value) == text
