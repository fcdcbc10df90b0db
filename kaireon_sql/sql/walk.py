"""The walk (S7) in SQL: every customer's candidates in walk order against the top N, the caps and the rank
method's limits together (plan.walk.WalkPlan), then the offer budgets with one back-fill pass.

A candidate is kept iff, walking its customer's candidates in order, every limit it falls under (the top N
among them) has fewer kept candidates ahead than it has room for. Set-based, in a fixed number of rounds
(WalkPlan.rounds): each round sees, per limit, the kept candidates ahead (k) and the undecided ones ahead (u)
in the candidate's partition. An undecided candidate is passed over when a limit it falls under is full
(k >= remaining), and kept when every such limit has room even if all undecided ahead are kept
(k + u < remaining); else it stays undecided. The first undecided candidate of a customer sees exact counts,
so it is always decided. Once all are decided, one more pass counts the kept candidates ahead exactly: a
candidate passed over is a rejection of the first full coded limit (a cap, in priority order) only when no
uncoded limit (the top N, the rank method's, one channel per offer) is full at its turn, i.e. when it
would otherwise have been kept; else it is ranked out.

When every limit counts every candidate of the top N's partition (WalkPlan.prefix), the kept candidates are
the first min(remaining) of the order: one ROW_NUMBER, no rounds.

States: 1 kept, 0 passed over (or not in the walk), NULL undecided.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from ..plan.checks import never_null
from ..plan.context import col, lit
from ..plan.walk import WalkLimit, WalkPlan
from .common import row_number


@dataclass
class Walked:
    """CTEs as they are built; `state` and `code` name the last CTE's state and reject-code columns."""

    previous: str
    ctes: list[tuple[str, exp.Select]] = field(default_factory=list)
    state: str = ""
    code: str = ""
    position: str | None = None  # prefix walks: the kept candidates' position is their rank

    def add(self, name: str, query: exp.Select) -> None:
        self.ctes.append((name, query))
        self.previous = name


def _counted(condition: exp.Expression) -> exp.Expression:
    return exp.case().when(condition, lit(1)).else_(lit(0))


def _ahead(limit: WalkLimit, order, condition: exp.Expression) -> exp.Expression:
    """How many candidates ahead in the limit's partition meet `condition` and fall under the limit."""
    spec = exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end=lit(1), end_side="PRECEDING")
    window = exp.Window(this=exp.Sum(this=_counted(exp.and_(never_null(limit.applies.copy()), condition))),
                        partition_by=[p.copy() for p in limit.partition],
                        order=exp.Order(expressions=[o.copy() for o in order]), spec=spec)
    return exp.func("COALESCE", window, lit(0))


def _full(limit: WalkLimit, kept: exp.Expression) -> exp.Expression:
    """The candidate falls under the limit and it has no room left (a NULL remaining: no bound)."""
    return exp.and_(never_null(limit.applies.copy()),
                    never_null(exp.GTE(this=kept, expression=exp.paren(limit.remaining.copy()))))


def _sure(limit: WalkLimit, ahead: exp.Expression) -> exp.Expression:
    """The limit keeps room for the candidate even if every undecided candidate ahead is kept."""
    room = exp.func("COALESCE", exp.LT(this=ahead, expression=exp.paren(limit.remaining.copy())), exp.true())
    return exp.or_(exp.not_(never_null(limit.applies.copy())), room)


def _code(limits: tuple[WalkLimit, ...], full: list[exp.Expression]) -> exp.Expression:
    """Ranked out (NULL) when an uncoded limit is full; else the first full cap's code."""
    uncoded = [f for limit, f in zip(limits, full) if limit.code is None]
    case = exp.case()
    if uncoded:
        case = case.when(exp.or_(*[f.copy() for f in uncoded]), exp.cast(exp.null(), "INT"), copy=False)
    for limit, f in zip(limits, full):
        if limit.code is not None:
            case = case.when(f.copy(), lit(limit.code), copy=False)
    return case if case.args.get("ifs") else exp.cast(exp.null(), "INT")


def _round(walk: WalkPlan, out: Walked, name: str, t: int) -> None:
    """Round t: decide the undecided candidates whose counts ahead settle them (kept or passed over)."""
    state = col(out.state)
    undecided = exp.Is(this=state.copy(), expression=exp.null())
    windows, full, sure = [], [], []
    for i, limit in enumerate(walk.limits):
        kept_name, open_name = f"{name}_k{t}_{i}", f"{name}_u{t}_{i}"
        kept = lit(0) if t == 1 else col(kept_name)
        if t > 1:
            windows.append(exp.alias_(_ahead(limit, walk.order, exp.EQ(this=state.copy(), expression=lit(1))),
                                      kept_name, quoted=True))
        windows.append(exp.alias_(_ahead(limit, walk.order, undecided.copy()), open_name, quoted=True))
        full.append(_full(limit, kept.copy()))
        sure.append(_sure(limit, exp.Add(this=kept.copy(), expression=col(open_name))))
    out.add(f"{name}_w{t}", exp.select("*", *windows).from_(out.previous))
    new_state = (exp.case().when(exp.not_(undecided.copy()), state.copy())
                 .when(exp.or_(*[f.copy() for f in full]), lit(0)).when(exp.and_(*sure), lit(1)))
    out.state = f"{name}_s{t}"
    out.add(f"{name}_{t}", exp.select("*", exp.alias_(new_state, out.state, quoted=True)).from_(out.previous))


def _codes(walk: WalkPlan, out: Walked, name: str, alive: exp.Expression) -> None:
    """Once every candidate is decided: a passed-over candidate's code from the exact counts at its turn."""
    kept = exp.EQ(this=col(out.state), expression=lit(1))
    windows = [exp.alias_(_ahead(limit, walk.order, kept.copy()), f"{name}_k_{i}", quoted=True)
               for i, limit in enumerate(walk.limits)]
    out.add(f"{name}_k", exp.select("*", *windows).from_(out.previous))
    full = [_full(limit, col(f"{name}_k_{i}")) for i, limit in enumerate(walk.limits)]
    passed = exp.and_(alive.copy(), exp.not_(never_null(kept.copy())))
    out.code = f"{name}_c"
    out.add(f"{name}_c", exp.select("*", exp.alias_(exp.case().when(passed, _code(walk.limits, full)), out.code,
                                                    quoted=True)).from_(out.previous))


def _start(out: Walked, name: str, alive: exp.Expression) -> None:
    """Round 0: the candidates in the walk are undecided, the others passed over (no code of the walk's)."""
    state = exp.case().when(alive, exp.cast(exp.null(), "INT")).else_(lit(0))
    out.state = f"{name}_s0"
    out.add(f"{name}_0", exp.select("*", exp.alias_(state, out.state, quoted=True)).from_(out.previous))


def _prefix(walk: WalkPlan, out: Walked, name: str, alive: exp.Expression) -> None:
    """Every limit counts the whole partition: kept iff the position is within every limit's room."""
    flag = _counted(alive.copy())
    position = col(f"{name}_pos")
    full = [never_null(exp.GT(this=position.copy(), expression=exp.paren(limit.remaining.copy())))
            for limit in walk.limits]
    kept = exp.and_(alive.copy(), exp.not_(exp.or_(*[f.copy() for f in full])))
    out.add(f"{name}_p", exp.select("*", exp.alias_(
        exp.case().when(alive.copy(), row_number([*[p.copy() for p in walk.limits[0].partition], flag], walk.order)),
        position.name, quoted=True)).from_(out.previous))
    state = exp.case().when(kept, lit(1)).else_(lit(0))
    code = exp.case().when(exp.and_(alive.copy(), exp.not_(kept.copy())), _code(walk.limits, full))
    out.state, out.code, out.position = f"{name}_s", f"{name}_c", position.name
    out.add(f"{name}_1", exp.select("*", exp.alias_(state, out.state, quoted=True),
                                    exp.alias_(code, out.code, quoted=True)).from_(out.previous))


def walk_ctes(walk: WalkPlan, source: str, alive: exp.Expression, name: str) -> Walked:
    """The walk over `source`'s rows meeting `alive` (the others: state 0): CTEs named `name`_..."""
    out = Walked(source)
    if walk.prefix():
        _prefix(walk, out, name, alive)
        return out
    _start(out, name, alive)
    for t in range(1, walk.rounds + 1):
        _round(walk, out, name, t)
    _codes(walk, out, name, alive)
    return out


# ---- offer budgets after the walk, with one back-fill pass ---------------------------------------------

def _kept(state: str) -> exp.Expression:
    return never_null(exp.EQ(this=col(state), expression=lit(1)))


def _budget_position(budget, counted: exp.Expression) -> exp.Expression:
    """Position of a counted candidate among its offer's counted candidates, in the budget's order (best score)."""
    return exp.case().when(counted, row_number([*[p.copy() for p in budget.partition], _counted(counted.copy())],
                                               budget.order))


def _budget_left(budget, holding: exp.Expression) -> exp.Expression:
    """The budget's impressions left once the candidates `holding` a unit of it have theirs."""
    held = exp.Window(this=exp.Sum(this=_counted(exp.and_(never_null(budget.applies.copy()), holding))),
                      partition_by=[p.copy() for p in budget.partition])
    return exp.Sub(this=exp.paren(budget.remaining.copy()), expression=held)


def _first_allocation(budget, out: Walked, alive: exp.Expression) -> exp.Expression:
    """Pass 1: the walk's kept candidates share each offer's budget, best score first across customers.
    Returns which candidates take part in the back-fill walk: those in the first walk, less those the
    budget cut and those of offers with nothing left that did not get a unit."""
    counted = exp.and_(_kept(out.state), never_null(budget.applies.copy()))
    out.add("budget_1", exp.select("*", exp.alias_(_budget_position(budget, counted), "budget_1_pos", quoted=True))
            .from_(out.previous))
    cut = never_null(exp.GT(this=col("budget_1_pos"), expression=exp.paren(budget.remaining.copy())))
    out.add("budget_1_cut", exp.select("*", exp.alias_(cut, "budget_1_cut", quoted=True),
                                       exp.alias_(exp.and_(_kept(out.state), exp.not_(cut.copy())), "budget_1_held",
                                                  quoted=True)).from_(out.previous))
    empty = exp.and_(never_null(budget.applies.copy()),
                     never_null(exp.LTE(this=_budget_left(budget, col("budget_1_held")), expression=lit(0))))
    out.add("budget_1_left", exp.select("*", exp.alias_(exp.and_(alive.copy(), exp.not_(col("budget_1_cut"))),
                                                        "budget_1_alive", quoted=True),
                                        exp.alias_(empty, "budget_1_empty", quoted=True)).from_(out.previous))
    return exp.and_(col("budget_1_alive"), exp.not_(exp.and_(col("budget_1_empty"), exp.not_(col("budget_1_held")))))


def _second_allocation(budget, out: Walked) -> exp.Expression:
    """Pass 2: candidates newly kept by the back-fill walk share what is left of their offer's budget once
    the candidates that kept a unit in pass 1 (and are kept again) have theirs. Returns the final kept flag."""
    held = exp.and_(_kept(out.state), col("budget_1_held"))
    new = exp.and_(_kept(out.state), exp.not_(col("budget_1_held")), never_null(budget.applies.copy()))
    out.add("budget_2", exp.select(
        "*", exp.alias_(_budget_position(budget, new), "budget_2_pos", quoted=True),
        exp.alias_(_budget_left(budget, held), "budget_2_left", quoted=True)).from_(out.previous))
    cut = never_null(exp.GT(this=col("budget_2_pos"), expression=col("budget_2_left")))
    out.add("budget_2_cut", exp.select("*", exp.alias_(cut, "budget_2_cut", quoted=True)).from_(out.previous))
    return exp.and_(_kept(out.state), exp.not_(col("budget_2_cut")))


@dataclass(frozen=True)
class Decided:
    """The walk's CTEs; `kept` and `code` over the last one's columns (`code`: the walk's or a budget's
    reject code of a candidate in the walk that is not kept; NULL: kept or ranked out); `rank`: the kept
    candidates' final position in the rank partition (contiguous)."""

    ctes: list[tuple[str, exp.Select]]
    last: str
    kept: exp.Expression
    code: exp.Expression
    rank: exp.Expression


def _ranked(walk: WalkPlan, kept: exp.Expression, position: str | None) -> exp.Expression:
    if position is not None:  # a prefix walk: the kept candidates are the first of their partition
        return exp.case().when(kept, col(position))
    return exp.case().when(kept.copy(), row_number([*[p.copy() for p in walk.rank_partition], _counted(kept.copy())],
                                                   walk.order))


def _with_budget(walk: WalkPlan, out: Walked, alive: exp.Expression) -> Decided:
    budget = walk.budgets[0]
    first_code = out.code
    again = _first_allocation(budget, out, alive)
    second = walk_ctes(walk, out.previous, again, "backfill")
    out.ctes += second.ctes
    out.previous, out.state, out.code = second.previous, second.state, second.code
    kept = _second_allocation(budget, out)
    code = (exp.case().when(col("budget_1_cut"), lit(budget.code))
            .when(exp.and_(alive.copy(), exp.not_(again.copy())), col(first_code))
            .when(col("budget_2_cut"), lit(budget.code)).when(kept.copy(), exp.cast(exp.null(), "INT"))
            .else_(col(out.code)))
    return Decided(out.ctes, out.previous, kept, code, _ranked(walk, kept, None))


def decide(walk: WalkPlan, source: str, alive: exp.Expression) -> Decided:
    """The walk over `source` (the scored candidates; `alive`: past every check), then the budgets."""
    out = walk_ctes(walk, source, alive, "walk")
    if not walk.budgets:
        kept = _kept(out.state)
        return Decided(out.ctes, out.previous, kept, col(out.code), _ranked(walk, kept, out.position))
    return _with_budget(walk, out, alive)
