"""compiler.BUILD_ORDER: the named steps compile_project walks; the list of models follows them."""
from conftest import REPO
from kaireon_sql.compiler import BUILD_ORDER, compile_project
from kaireon_sql.config import load_project


def _names() -> list[str]:
    return [m.name for m in compile_project(load_project(REPO / "decisioning", display_root=REPO))]


def _first(names: list[str], suffix: str) -> int:
    return min(i for i, n in enumerate(names) if n.endswith(suffix))


def test_steps_are_named_once_and_errors_are_raised_before_the_unions():
    order = [name for name, _ in BUILD_ORDER]
    assert len(order) == len(set(order))
    assert order.index("flows") < order.index("collected_errors") < order.index("unions")
    assert order.index("unions") < order.index("decision_log") < order.index("experiment_models")


def test_models_come_in_build_order():
    names = _names()
    assert names[:3] == ["kaireon_run_params", "kaireon_offers", "kaireon_stg_interactions"]
    assert names.index("kaireon_interaction_summary_daily") < _first(names, "__customers")
    assert names.index("kaireon_uplift__winback_uplift") < _first(names, "__customers")
    assert max(i for i, n in enumerate(names) if n.endswith("__funnel")) < names.index("kaireon_decisions")
    assert names.index("kaireon_decisions") < names.index("kaireon_decision_log") < _first(names, "__experiment_units")
    # the readouts come last: the experiments (after every flow's experiment units) and the discount learner's
    # (after the decision log it reads; the demo's cross_sell has discountTiers)
    assert set(names[-2:]) == {"kaireon_experiments", "kaireon_discount_readout"}
    assert names.index("kaireon_discount_readout") > names.index("kaireon_decision_log")
