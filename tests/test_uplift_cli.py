"""`kaireon uplift fit / score / evaluate / sql` round trip on a CSV."""
from __future__ import annotations

import xml.etree.ElementTree as ET
import csv
import json

import numpy as np
import pytest

from kaireon_sql.cli import main
from kaireon_sql.uplift import UpliftModel, load_table
from uplift_data import synthetic


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    table, _ = synthetic(n=2000, seed=4)
    path = tmp_path_factory.mktemp("uplift") / "campaign.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "x1", "x2", "cat", "treatment", "outcome"])
        for row in zip(*(table.columns[c] for c in ("customer_id", "x1", "x2", "cat", "treatment", "outcome"))):
            w.writerow([int(row[0]), repr(float(row[1])), repr(float(row[2])), row[3], int(row[4]), int(row[5])])
    return path


@pytest.mark.parametrize("learner", ["t", "ct"])
def test_fit_score_evaluate_round_trip(csv_file, tmp_path, capsys, learner):
    model_file, scores, report, chart = (tmp_path / n for n in ("m.json", "s.csv", "r.json", "q.svg"))
    assert main(["uplift", "fit", "--data", str(csv_file), "--treatment", "treatment", "--outcome", "outcome",
                 "--learner", learner, "--out", str(model_file)]) == 0
    assert f"fitted {learner} learner on 2000 rows" in capsys.readouterr().out
    model = UpliftModel.load(model_file)
    assert model.features == ["x1", "x2", "cat"]  # customer_id left out as an id

    assert main(["uplift", "score", "--model", str(model_file), "--data", str(csv_file), "--out", str(scores)]) == 0
    assert "scored 2000 rows" in capsys.readouterr().out
    with scores.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["customer_id", "treatment", "outcome", "p_with_offer", "p_without_offer", "uplift",
                             "segment", "top_features"]
    want = model.predict(load_table(str(csv_file)))
    np.testing.assert_allclose([float(r["uplift"]) for r in rows], want["uplift"], atol=1e-9)
    assert [r["top_features"] for r in rows] == want["top_features"].tolist()

    assert main(["uplift", "score", "--model", str(model_file), "--data", str(csv_file), "--keep", "customer_id",
                 "--out", str(tmp_path / "s.parquet")]) == 0
    assert (tmp_path / "s.parquet").stat().st_size > 0

    assert main(["uplift", "evaluate", "--model", str(model_file), "--data", str(csv_file), "--out", str(report),
                 "--chart", str(chart)]) == 0
    out = json.loads(report.read_text())
    assert out["rows"] == 2000 and out["qini_auc_score"] > 0.05
    assert set(out["uplift_at_k"]["0.3"]) >= {"overall", "by_group"}
    assert ET.fromstring(chart.read_text()).tag == "{http://www.w3.org/2000/svg}svg"


def test_sql_command_prints_the_select(csv_file, tmp_path, capsys):
    model_file = tmp_path / "m.json"
    main(["uplift", "fit", "--data", str(csv_file), "--treatment", "treatment", "--outcome", "outcome",
          "--features", "x1", "cat", "--out", str(model_file)])
    capsys.readouterr()
    assert main(["uplift", "sql", "--model", str(model_file), "--relation", "customer_features",
                 "--engine", "postgres"]) == 0
    sql = capsys.readouterr().out
    assert "{{ ref('customer_features') }}" in sql and '"top_features"' in sql


def test_cli_errors_name_the_problem(csv_file, tmp_path, capsys):
    code = main(["uplift", "fit", "--data", str(csv_file), "--treatment", "x1", "--outcome", "outcome",
                 "--out", str(tmp_path / "m.json")])
    assert code == 1
    assert "treatment column 'x1' must hold only 0 and 1" in capsys.readouterr().err
    main(["uplift", "fit", "--data", str(csv_file), "--treatment", "treatment", "--outcome", "outcome",
          "--out", str(tmp_path / "m.json")])
    lacking = tmp_path / "lacking.csv"
    lacking.write_text("customer_id,x1\n1,0.5\n")
    capsys.readouterr()
    assert main(["uplift", "score", "--model", str(tmp_path / "m.json"), "--data", str(lacking),
                 "--out", str(tmp_path / "s.csv")]) == 1
    assert "lacks feature column(s) 'x2', 'cat'" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()
    assert main(["uplift", "fit", "--data", str(tmp_path / "nope.csv"), "--treatment", "t", "--outcome", "y",
                 "--out", str(tmp_path / "m2.json")]) == 1
    assert "no such file" in capsys.readouterr().err
