"""The shared tree compiler (kaireon_sql/trees.py): SQL leaf values equal the Python walk, NULL routing."""
import random

import duckdb
import pytest

from kaireon_sql.trees import Tree, ensemble_sql, tree_sql


def _random_tree(rng: random.Random, n_features: int, depth: int) -> Tree:
    feature, threshold, left, right, value, missing = [], [], [], [], [], []

    def grow(d: int) -> int:
        i = len(left)
        for a in (feature, threshold, left, right, value, missing):
            a.append(0)
        if d == depth or rng.random() < 0.2:
            left[i], right[i], value[i] = -1, -1, rng.uniform(-3, 3)
            return i
        feature[i], threshold[i], missing[i] = rng.randrange(n_features), rng.uniform(-1, 1), rng.random() < 0.5
        left[i] = grow(d + 1)
        right[i] = grow(d + 1)
        return i

    grow(0)
    return Tree(tuple(feature), tuple(float(t) for t in threshold), tuple(left), tuple(right),
                tuple(float(v) for v in value), tuple(bool(m) for m in missing))


def test_ensemble_sql_equals_python_walk():
    rng = random.Random(7)
    trees = [_random_tree(rng, 3, 4) for _ in range(5)]
    rows = [[None if rng.random() < 0.15 else rng.uniform(-1.2, 1.2) for _ in range(3)] for _ in range(200)]
    rows.append([trees[0].threshold[0]] * 3)  # a value equal to a threshold goes left
    con = duckdb.connect()
    con.execute("create table x (i int, f0 double, f1 double, f2 double)")
    con.executemany("insert into x values (?, ?, ?, ?)", [[i, *r] for i, r in enumerate(rows)])
    from sqlglot import exp
    expr = ensemble_sql(trees, [exp.column(f"f{j}") for j in range(3)], base=0.25)
    got = dict(con.execute(f"select i, {expr.sql('duckdb')} from x").fetchall())
    for i, r in enumerate(rows):
        want = 0.25
        for t in trees:
            want += t.predict_row(r)
        assert got[i] == want  # same doubles, same order


def test_tree_round_trips_and_refuses_bad_arrays():
    t = _random_tree(random.Random(1), 2, 3)
    assert Tree.from_dict(t.to_dict()) == t
    with pytest.raises(ValueError):
        Tree((0,), (0.0,), (5,), (6,), (0.0,), (False,))
    from sqlglot import exp
    with pytest.raises(ValueError):
        tree_sql(Tree((0,), (0.0,), (-1,), (-1,), (float("inf"),), (False,)), [exp.column("a")])
