"""A corpus of hostile strings and one config that puts each of them in every config field that
reaches a generated file (docs/security.md). Used by test_hostile_dbt.py (dbt parse + dbt build
on DuckDB and PostgreSQL) and test_injection.py (validate-time refusals, the field inventory).

CORPUS_FIELDS names the config fields `corpus_config` fills with corpus values; the inventory test
(test_injection.py) checks that every string field of the config models is either there, refused
by the identifier policy, or listed as never reaching a generated file.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from test_hostile_values import HOSTILE

SECRET_ENV = "KAIREON_TEST_SECRET"
SECRET = "s3cr3t-value-that-must-not-leak"
PWNED = "create table pwned as select 42 as x"

CORPUS: dict[str, str] = {
    # today's values; their 5,400-character one is replaced by very_long (fewer Jinja openers, so
    # the batched project's SQL stays a few MB)
    **{k: v for k, v in HOSTILE.items() if k != "long"},
    # Jinja: every delimiter, whitespace control, raw blocks, unbalanced and closing-only forms
    "env_var": "{{ env_var('%s') }}" % SECRET_ENV,
    "env_var_trimmed": "{{- env_var('%s') -}}" % SECRET_ENV,
    "run_query": "{%% do run_query('%s') %%}" % PWNED,
    "arith": "{{ 7*7 }}",
    "raw_block": "{%- raw %}{{ 7*7 }}{% endraw %}",
    "endraw": "{% endraw %}{{ 7*7 }}",
    "unbalanced_open": "{{",
    "unbalanced_stmt": "{% if",
    "unbalanced_comment": "{# never closed",
    "closers": "}} %} #} -}}",
    "brace_run": "{{{{%%{{##",
    "escape_lookalike": "{{ '{' }}",
    "trailing_brace": "ends with {",
    # characters that end or bend a line, invisible and format characters (no NUL)
    "control": "a\x01b\x02c\x07d\x08e\x0bf\x0cg\x1bh\x1fi\x7fj",
    "carriage_return": "cr\rlf\r\nend",
    "next_line": "nel\x85end",
    "line_separator": "ls\u2028ps\u2029end",
    "bom": "\ufeffbom",
    "zero_width": "zw\u200bj\u200dn\u2060end",
    # SQL comment openers and quoting
    "line_comment": "-- comment",
    "comment_then_newline": "x -- c\nselect 1",
    "block_open": "/* open",
    "block_close": "close */",
    "e_string": "E'\\x41'",
    # YAML specials
    "yaml_comment": "key: # not a comment",
    "yaml_tag": "!!python/object/apply:os.system ['echo pwned']",
    "yaml_alias": "*alias",
    "yaml_anchor": "&anchor value",
    "yaml_flow": "{a: b, c: [d]}",
    "yaml_null": "null",
    "yaml_bool": "yes",
    "yaml_number": "0x1F",
    "yaml_document": "---\n...",
    "yaml_indicators": "? - | > % @ `",
    "leading_space": "  padded  ",
    "trailing_newline": "name_ok\n",  # a regex's "$" admits it: a name pattern must end at \Z
    "very_long": ("{{ '\\\"\n\u2028-- /*" * 200) + "end",
}

# Config fields corpus_config fills with corpus values ("Class.field", the pydantic class).
CORPUS_FIELDS = {
    "Offer.id", "Offer.name", "Offer.key", "Offer.category", "Offer.custom_fields", "Offer.tags", "Offer.channels",
    "Category.id", "Category.name", "Offer.category_id", "CustomField.formula", "CustomField.default_value",
    "Channel.id", "Channel.name",
    "QualificationRule.name", "QualificationRule.scope_id", "AttributeCondition.value",
    "Segment.id", "Segment.name", "Segment.segment_value", "SegmentRequired.segment_id",
    "ContactPolicy.name",
    "BehavioralMetric.name",
    "DecisionFlow.key", "DecisionFlow.name", "FlowConfig.channel", "Experiment.salt",
    "Node.label", "FilterCondition.value", "Property.name", "Property.value", "ComputedExtra.name",
    "ComputedExtra.formula", "SchemaField.column", "Segment.customer_column", "Segment.segment_column",
    "AlgorithmModel.id", "ModelOverride.model_id", "ModelOverride.scope_id", "ChampionChallenger.challenger_model_id",
    "ChampionChallenger.salt", "Creative.id", "Creative.name", "MatchCreativesConfig.salt", "DefaultTransform.field",
    "DefaultTransform.value", "LookupTransform.field", "LookupTransform.mapping", "RankConfig.salt", "Placement.id",
    "Placement.channel_id", "GroupConfig.placement_ids",
}
# flow two scores with these models (model_id in its decisions): an override for offer 0, the challenger for
# customers with hash_uniform(CHALLENGER_SALT, customer_id) < 0.5, else the champion
CHAMPION = "model:" + CORPUS["env_var"]
CHALLENGER = "model:" + CORPUS["very_long"]
OVERRIDE = "model:" + CORPUS["unbalanced_open"]
CHALLENGER_SALT = CORPUS["line_separator"]
# flow one matches creatives (S7): offer i has creatives "cr:" + value i (weight 1) and "cr2:" + value i (weight 3),
# chosen by hash_uniform(MATCH_SALT, customer_id, offer_id, channel)
MATCH_SALT = CORPUS["yaml_document"] + CORPUS["carriage_return"]
# flow two ranks by explore_exploit with a hostile salt (each customer has one candidate: the same decisions;
# `explored` iff hash_uniform(EXPLORE_SALT, run_id, customer_id) < 0.5)
EXPLORE_SALT = CORPUS["run_query"] + CORPUS["yaml_tag"]
EXPLORE_RANK = {"method": "explore_exploit", "maxCandidates": 1, "explorationRate": 0.5, "salt": EXPLORE_SALT}

# Warehouse column names that the column policy accepts (quoted in SQL): a schema field and the
# segment relation's columns are named with these in the corpus project.
COLUMN_CATEGORY = "it's \"cat\" -- /* ü"
COLUMN_MEMBER = "member id; drop"
COLUMN_SEGMENT = "seg`ment"


CHANNEL_ONE = CORPUS["yaml_anchor"] + " one"
# flow one's group node fills this placement (on channel one) and its response is grouped
PLACEMENT = "placement:" + CORPUS["run_query"] + CORPUS["env_var"]
CHANNEL_TWO = CORPUS["line_comment"] + "\u2028" + CORPUS["brace_run"]
SEGMENT_RULES = ("env_var", "run_query", "control", "line_separator", "yaml_tag", "very_long")


def formula_string(value: str) -> str:
    """A formula string literal for `value` (formulas escape \\' \\" \\\\ \\n \\t)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t")
    return f"'{escaped}'"


def values() -> list[str]:
    return list(CORPUS.values())


def offer_name(v: str) -> str:
    return "name:" + v


def rule_name(v: str) -> str:
    return "rule:" + v


def corpus_config() -> dict:
    """The corpus project's config. Customer c<i> (category = value i) qualifies for offer i only
    (id = value i), through rule i (scope offer i); every other pair is rejected by its rule."""
    vals = values()
    categories, offers, rules, segments = [], [], [], []
    for i, v in enumerate(vals):
        categories.append({"id": "catid:" + v, "name": v, "customFields": [
            {"name": "tier", "type": "text", "defaultValue": "default:" + v},
            {"name": "greeting", "type": "computed", "formula": f"concat({formula_string(v)}, '!')", "outputType": "text"},
        ]})
        offers.append({"id": v, "key": "key:" + v, "name": offer_name(v), "category": v, "categoryId": "catid:" + v,
                       "priority": i, "tags": [v], "customFields": {"tier": v} if i % 2 == 0 else {},
                       "channels": [CHANNEL_ONE] if i % 3 else None})
        operator = ("eq", "in", "starts_with", "contains")[i % 4]
        value = [v, v + "\x01other"] if operator == "in" else v
        rules.append({"name": rule_name(v), "ruleType": "attribute_condition", "scope": "offer", "scopeId": v,
                      "config": {"attribute": "customer.category", "operator": operator, "value": value}})
        segments.append({"id": "seg:" + v, "name": "segname:" + v, "relation": "source('raw', 'members')",
                         "customerColumn": COLUMN_MEMBER, "segmentColumn": COLUMN_SEGMENT, "segmentValue": v})
    for o in offers:
        if o["channels"] is None:
            del o["channels"]
    # segment rules for a few values k: offer k also needs the segment whose value is value k,
    # which customer c<k> (and only c<k>) is a member of
    for k in SEGMENT_RULES:
        v = CORPUS[k]
        rules.append({"name": "segment rule:" + v, "ruleType": "segment_required", "scope": "offer", "scopeId": v,
                      "config": {"segmentId": "seg:" + v}})
    policies = [{"name": v, "ruleType": "customer_total_cap", "config": {"maxTotal": 1000}}
                for v in (CORPUS["env_var"], CORPUS["run_query"], CORPUS["line_separator"], CORPUS["very_long"])]
    metrics = [{"id": f"m{i}", "name": v, "aggregation": "count", "sourceField": "impressions"}
               for i, v in enumerate(vals) if "{" in v or "\n" in v or "\u2028" in v]
    metrics.append({"id": "m_all", "name": "|".join(vals), "aggregation": "count", "sourceField": "impressions"})
    # hostile channel ids cannot name a consent<Channel> field: they declare that they need no consent
    channels = [{"id": CHANNEL_ONE, "name": CORPUS["yaml_tag"], "requiresConsent": False},
                {"id": CHANNEL_TWO, "name": CORPUS["yaml_flow"], "requiresConsent": False}]

    models = [{"id": m, "name": m, "modelType": "scorecard", "scoresRelation": "source('raw', 'scores')"}
              for m in (CHAMPION, CHALLENGER, OVERRIDE)]
    model_score = {"method": "model", "modelId": CHAMPION,
                   "overrides": [{"scope": "offer", "scopeId": vals[0], "modelId": OVERRIDE},
                                 {"scope": "channel", "scopeId": CHANNEL_ONE, "modelId": OVERRIDE}],
                   "championChallenger": {"challengerModelId": CHALLENGER, "trafficPercent": 50,
                                          "salt": CHALLENGER_SALT}}

    def nodes(label: str, filter_value: str, score: dict | None = None, rank: dict | None = None,
              match: list[dict] = ()) -> list[dict]:
        return [
            {"id": "inv", "type": "inventory", "label": label, "config": {"scope": "all"}}, *match,
            {"id": "enr", "type": "enrich", "config": {"sources": [{"schemaId": "customer", "lookupKey": "customer_id"}]}},
            {"id": "qual", "type": "qualify", "config": {"mode": "all"}},
            {"id": "flt", "type": "filter", "label": label, "config": {"conditions": [
                {"field": "customer.category", "operator": "neq", "value": filter_value}]}},
            {"id": "cp", "type": "contact_policy", "config": {"mode": "all"}},
            {"id": "score", "type": "score", "config": score or {"method": "priority"}},
            {"id": "rank", "type": "rank", "config": rank or {"method": "topN", "maxCandidates": 1}},
            {"id": "compute", "type": "compute", "config": {"extras": [
                {"name": CORPUS["env_var"], "formula": f"concat({formula_string(CORPUS['run_query'])}, '')",
                 "outputType": "text"}],
                # transforms whose literals reach SQL; the extra is never NULL nor a mapped key, so it stays
                "transforms": [{"type": "default", "field": CORPUS["env_var"], "value": CORPUS["yaml_tag"]},
                               {"type": "lookup", "field": CORPUS["env_var"],
                                "mapping": {CORPUS["endraw"]: CORPUS["control"]}}]}},
            {"id": "props", "type": "set_properties", "config": {"properties": [
                {"name": "t", "formula": "offer.tier"},
                {"name": CORPUS["raw_block"], "value": CORPUS["endraw"]},
                {"name": CORPUS["line_separator"], "value": CORPUS["control"]}]}},
        ]

    flows = [
        {"key": CORPUS["env_var"], "name": CORPUS["yaml_tag"], "draftConfig": {"version": 2, "flowConfig": {
            "channel": CHANNEL_ONE, "experiment": {"enabled": True, "holdoutPercent": 50, "salt": CORPUS["run_query"]}},
            "nodes": nodes(CORPUS["endraw"], CORPUS["raw_block"], match=[
                {"id": "mc", "type": "match_creatives", "label": CORPUS["closers"], "config": {"salt": MATCH_SALT}}]) + [
                {"id": "grp", "type": "group", "config": {"placementIds": [PLACEMENT]}},
                {"id": "resp", "type": "response", "config": {"responseFormat": "grouped"}}]}},
        {"key": CORPUS["unbalanced_open"] + " flow two", "name": "two", "draftConfig": {"version": 2, "flowConfig": {
            "channel": CHANNEL_TWO},
            "nodes": nodes(CORPUS["unbalanced_comment"], CORPUS["unbalanced_stmt"], model_score, EXPLORE_RANK)}},
    ]
    return {
        "schemas": [{"id": "customer", "name": "customer", "relation": "source('raw', 'customers')", "fields": [
            {"name": "customer_id", "dataType": "varchar", "isUnique": True},
            {"name": "category", "dataType": "varchar", "column": COLUMN_CATEGORY},
        ]}],
        "interactionHistory": {"relation": "source('raw', 'history')"},
        "categories": categories, "channels": channels, "offers": offers, "segments": segments,
        "creatives": [c for v in vals for c in ({"id": "cr:" + v, "name": "crname:" + v, "offerId": v},
                                                {"id": "cr2:" + v, "name": v, "offerId": v, "weight": 3})],
        "placements": [{"id": PLACEMENT, "name": "hero", "channelId": CHANNEL_ONE}],
        "qualificationRules": rules, "contactPolicies": policies, "behavioralMetrics": metrics,
        "algorithmModels": models, "decisionFlows": flows,
    }


def write_corpus_config(folder: Path) -> Path:
    return write_json_config(folder, corpus_config())


def write_json_config(folder: Path, config: dict) -> Path:
    """A config as a YAML file in JSON syntax: line breaks escaped, so no YAML line folding (NEL,
    U+2028) changes a value on the way in."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(config, indent=1, ensure_ascii=False)  # astral characters stay whole
    text = re.sub("[\x7f-\x9f\u2028\u2029\ufeff]", lambda m: f"\\u{ord(m.group()):04x}", text)
    (folder / "config.yml").write_text(text, encoding="utf-8")
    return folder


def customers() -> list[tuple[str, str]]:
    """(customer_id, category): customer c<i> has category value i."""
    return [(f"c{i:02d}", v) for i, v in enumerate(values())]


def members() -> list[tuple[str, str]]:
    """Segment relation rows: c00 is in the segment of value 0, c01 in the segment of value 1, ..."""
    return [(f"c{i:02d}", v) for i, v in enumerate(values())]
