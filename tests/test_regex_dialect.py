"""The regex dialect (kaireon_sql/regex.py): one meaning of a `regex` rule on every engine.

A matrix of patterns x texts runs on DuckDB (RE2), PostgreSQL (ARE) and Spark (java.util.regex)
and is compared with Python's `re` given the equivalent pattern (written by hand beside each
dialect pattern: `re.DOTALL` for '.', `\\Z` for the dialect's `$`). Patterns outside the dialect
are refused at validate time with the construct and the reason.
"""
from __future__ import annotations

import re

import pytest
from sqlglot import exp

from backends import ENGINE_NAMES, open_backend
from kaireon_sql import regex
from kaireon_sql.dialect import engine, render
from kaireon_sql.errors import ConfigError, Location
from kaireon_sql.plan.conditions import predicate
from test_config_errors import F, R1, _errors, _write, mutate, rule_config

WHERE = Location("rules.yml", "qualificationRules", 0, "r", "config.value")

TEXTS = [
    "", "a\nb", "a\rb", "a\r\nb", "a\u2028b", "a\u0085b", "ab\n", "ab", "\n", "é", "e\u0301", "É", "😀", "a😀b",
    "naïve café", "A.B", "x$y", "a-b", "a]b", "tab\there", "[x]", "a&&b", "back\\slash", "{1}", "Straße", "日本語",
    "kundé_42", "kunde_42", "٣", "a b", "a<b>", "#'\"_", "x/y", None,
]

# (dialect pattern, the same meaning in Python's re with re.DOTALL)
PATTERNS = [
    ("^a.b$", r"^a.b\Z"),
    ("^.$", r"^.\Z"),
    ("^..$", r"^..\Z"),
    ("^.{3}$", r"^.{3}\Z"),
    ("b$", r"b\Z"),
    ("^ab$", r"^ab\Z"),
    ("^$", r"^\Z"),
    ("^", "^"),
    ("", ""),
    ("a[^x]b", "a[^x]b"),
    ("^[^a]$", r"^[^a]\Z"),
    ("[à-ÿ]", "[à-ÿ]"),
    ("^[a-z]+$", r"^[a-z]+\Z"),
    ("[A-Za-z0-9_]", "[A-Za-z0-9_]"),
    ("^[a-z]+_[0-9]+$", r"^[a-z]+_[0-9]+\Z"),
    ("[😀-😂]", "[😀-😂]"),
    ("É", "É"),
    ("é", "é"),
    ("^e.$", r"^e.\Z"),
    ("ß", "ß"),
    ("\\.", r"\."),
    ("\\$", r"\$"),
    ("[$]", "[$]"),
    ("a\\-b", "a-b"),
    ("[\\]]", r"[\]]"),
    ("[\\[]", r"[\[]"),
    ("\\\\", r"\\"),
    ("[&][&]", "&&"),
    ("[a\\-z]", r"[a\-z]"),
    ("[.]", r"\."),
    ("\\n", "\n"),
    ("\\r", "\r"),
    ("\\t", "\t"),
    ("a\u2028b", "a\u2028b"),
    ("^a[\\n\\r]b$", r"^a[\n\r]b\Z"),
    ("a|", "a|"),
    ("(a|)b", "(a|)b"),
    ("()", "()"),
    ("(ab){1}", "(ab){1}"),
    ("^(a|b)*$", r"^(a|b)*\Z"),
    ("a{1,2}b", "a{1,2}b"),
    ("x{0}y", "x{0}y"),
    ("^.{2,}$", r"^.{2,}\Z"),
    ("a*?b", "a*?b"),
    ("(?:a|A)\\.", r"(?:a|A)\."),
    ("\\{1\\}", r"\{1\}"),
    ("[0-9]", "[0-9]"),
    ("[ \\t]", "[ \t]"),
    ("^[^\\n]*$", r"^[^\n]*\Z"),
    ("y$|^x", r"y\Z|^x"),
    ("[<>]", "[<>]"),
    ("a\\<", "a<"),
    ("[!-/]", "[!-/]"),
    ("[_~@#%'\"`=:;,]", "[_~@#%'\"`=:;,]"),
    ("\\#\\'\\\"\\_", "#'\"_"),
]


def expected(python_pattern: str, text: str | None) -> bool:
    return text is not None and re.search(python_pattern, text, re.DOTALL) is not None


@pytest.fixture(scope="module", params=ENGINE_NAMES)
def db(request):
    backend = open_backend(request.param)
    backend.create_table("texts", {"id": "INTEGER", "s": "VARCHAR"}, [(i, t) for i, t in enumerate(TEXTS)])
    yield backend
    backend.close()


def test_patterns_match_the_same_texts_as_the_python_reference(db):
    columns = {f"p{i}": predicate(exp.column("s"), "text", "regex", p, "fail", WHERE) for i, (p, _) in enumerate(PATTERNS)}
    select = exp.select(exp.column("id"), *[exp.alias_(e, n, quoted=True) for n, e in columns.items()])
    rows = db.query(render(select.from_("texts").order_by("id"), db.engine, pretty=False))
    assert [r["id"] for r in rows] == list(range(len(TEXTS)))
    wrong = []
    for i, (pattern, python) in enumerate(PATTERNS):
        for row, text in zip(rows, TEXTS):
            if row[f"p{i}"] is not expected(python, text):
                wrong.append(f"{pattern!r} on {text!r}: {db.name} {row[f'p{i}']}, reference {expected(python, text)}")
    assert not wrong, "\n".join(wrong)


def test_the_matrix_exercises_both_outcomes():
    for pattern, python in PATTERNS:
        results = {expected(python, t) for t in TEXTS if t is not None}
        assert results == {True, False} or pattern in ("", "^", "a|", "()", "x{0}y"), pattern


def test_translation_per_engine():
    cases = {
        "^a.b$": {"duckdb": "(?s)^a.b$", "postgres": "(?s)^a.b$", "spark": "(?s)^a.b\\z",
                  "snowflake": "^a.b$", "bigquery": "(?s)^a.b$", "databricks": "(?s)^a.b\\z", "trino": "(?s)^a.b\\z"},
        "[a\\-z&]x*?(?:y|z)\\.": {"duckdb": "(?s)[a\\-z\\&]x*(y|z)\\."},
        "[$]\\$": {"postgres": "(?s)[\\$]\\$"},
    }
    for pattern, by_engine in cases.items():
        for name, text in by_engine.items():
            eng = engine(name)
            assert regex.translate(pattern, eng.regex_prefix, eng.regex_end) == text, (pattern, name)


def test_snowflake_searches_with_the_dotall_parameter():
    sql = render(predicate(exp.column("s"), "text", "regex", "a.b", "fail", WHERE), engine("snowflake"), pretty=False)
    assert "REGEXP_INSTR(\"s\", 'a.b', 1, 1, 0, 's') > 0" in sql


REFUSED = {  # pattern -> (construct, words of the reason)
    "^\\w$": ("\\w", "outside ASCII"),
    "\\W": ("\\W", "negated class"),
    "[0-9]\\d": ("\\d", "[0-9]"),
    "\\s+": ("\\s", "whitespace"),
    "\\bword": ("\\b", "word boundaries"),
    "[[:alpha:]]": ("'[:'", "POSIX classes"),
    "[[=e=]]": ("'[='", "equivalence classes"),
    "(a)\\1": ("\\1", "backreferences"),
    "a(?=b)": ("'(?='", "lookahead"),
    "(?<!a)b": ("'(?<'", "lookbehind"),
    "(?i)abc": ("'(?i'", "case-sensitive"),
    "(?s).": ("'(?s'", "inline flags"),
    "(?P<x>a)": ("'(?P'", "named groups"),
    "(?<x>a)": ("'(?<'", "named groups"),
    "a*+": ("a possessive quantifier", "cannot follow another"),
    "\\p{L}": ("\\p", "PostgreSQL"),
    "\\Aa\\z": ("\\A", "use ^"),
    "\\x41": ("\\x", "write the character itself"),
    "[a[b]]": ("'[' in a class", "union"),
    "[]a]": ("']' first in a class", "\\]"),
    "a{,2}": ("'{'", "\\{"),
    "a{300}": ("{300}", "at most 255"),
    "x{": ("'{'", "\\{"),
    "a]": ("']'", "\\]"),
    "^*": ("'*' after ^", "anchor"),
    "\\é": ("\\é", "escaped punctuation"),
    "x" * 10_001: ("a pattern of 10001 characters", "at most 10000"),
    "((a{200}){200})": ("the repetitions", "expands"),
    "(a{250}){100}": ("the repetitions", "more than 20000"),
}
INVALID = {"([a-z": "'['", "(ab": "'('", "ab)": "')'", "*a": "'*'", "a\\": "'\\' at the end", "[z-a]": "z-a",
           "a{3,2}": "{3,2}"}


@pytest.mark.parametrize("pattern", list(REFUSED), ids=[p[:20] for p in REFUSED])
def test_constructs_outside_the_dialect_are_refused_with_the_reason(pattern):
    construct, reason = REFUSED[pattern]
    with pytest.raises(regex.RegexError) as info:
        regex.parse(pattern)
    assert info.value.construct == construct and reason in info.value.reason and not info.value.invalid
    message = regex.describe(pattern, info.value)
    assert "is not part of the regex dialect" in message and len(message) < 400


@pytest.mark.parametrize("pattern", list(INVALID))
def test_invalid_patterns_are_refused(pattern):
    with pytest.raises(regex.RegexError) as info:
        regex.parse(pattern)
    assert info.value.invalid and info.value.construct.startswith(INVALID[pattern])


def test_validate_names_file_rule_field_and_construct(tmp_path):
    folder = _write(tmp_path / "decisioning", mutate(rule_config(attribute="customer.category", operator="regex",
                                                                 value="^\\w+$")))
    errors = _errors(folder)
    assert any(all(f in e for f in [F, R1, "field 'config.value'", "regular expression '^\\\\w+$'",
                                    "\\w at position 1 is not part of the regex dialect", "[A-Za-z0-9_]"])
               for e in errors), errors


def test_filter_conditions_are_checked_too(tmp_path):
    def bad_filter(c):
        c["decisionFlows"][0]["draftConfig"]["nodes"].insert(3, {
            "id": "flt", "type": "filter",
            "config": {"conditions": [{"field": "customer.category", "operator": "regex", "value": "[[:digit:]]"}]}})
    errors = _errors(_write(tmp_path / "decisioning", mutate(bad_filter)))
    assert any("conditions[0].value" in e and "POSIX classes" in e for e in errors), errors


def test_compile_refuses_without_the_validator():
    with pytest.raises(ConfigError, match="lookahead"):
        predicate(exp.column("s"), "text", "regex", "a(?!b)", "fail", WHERE)


def test_long_patterns_are_shortened_in_messages():
    pattern = "\\w" + "a" * 5000
    with pytest.raises(regex.RegexError) as info:
        regex.parse(pattern)
    assert len(regex.describe(pattern, info.value)) < 400
