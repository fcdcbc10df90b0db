{#-
  `kaireon prune` (kaireon_sql/prune.py) runs these through `dbt run-operation`.
  kaireon_list_relations: logs, as one JSON line prefixed 'kaireon_relations ', the name and type of every
    relation of the target schema whose name starts with 'kaireon_'.
  kaireon_drop_relations(names): drops those relations of the target schema (each looked up by name
    through the adapter first: only a relation the adapter found, rendered by it, reaches the DROP).
  kaireon_delete_log_rows(flows): deletes the decision-log rows of those flow keys; each key must be a
    token (letters, digits, _ . : @ + -), checked here, so no other text reaches the DELETE.
-#}
{% macro kaireon_list_relations() -%}
  {#- dbt's own list_relations_without_caching (an agate table: name and type on DuckDB and PostgreSQL,
      tableName on Spark's SHOW TABLE EXTENDED). -#}
  {%- set schema_rel = api.Relation.create(database=target.database, schema=target.schema) -%}
  {%- set found = list_relations_without_caching(schema_rel) -%}
  {%- set columns = found.column_names | map('lower') | list -%}
  {%- set names = [] -%}
  {%- for row in found.rows -%}
    {%- set name = (row[columns.index('name')] if 'name' in columns else row[columns.index('tablename')]) | string | lower -%}
    {%- set kind = (row[columns.index('type')] | string | lower) if 'type' in columns else 'relation' -%}
    {%- if name.startswith('kaireon_') -%}{%- do names.append([name, kind]) -%}{%- endif -%}
  {%- endfor -%}
  {{ log('kaireon_relations ' ~ tojson(names), info=True) }}
{%- endmacro %}

{% macro kaireon_drop_relations(names) -%}
  {%- for name in names -%}
    {%- set rel = adapter.get_relation(database=target.database, schema=target.schema, identifier=name) -%}
    {%- if rel is not none -%}{%- do run_query("drop " ~ rel.type ~ " if exists " ~ rel) -%}{%- endif -%}
  {%- endfor -%}
  {%- do adapter.commit() if names -%}  {#- run_query opened the transaction; run-operation does not commit it -#}
{%- endmacro %}

{% macro kaireon_delete_log_rows(flows) -%}
  {%- set rel = adapter.get_relation(database=target.database, schema=target.schema, identifier='kaireon_decision_log') -%}
  {%- if rel is not none and flows -%}
    {%- set keys = [] -%}
    {%- for key in flows -%}
      {%- if not modules.re.match('^[A-Za-z0-9_.:@+-]{1,200}\\Z', key | string) -%}
        {{ exceptions.raise_compiler_error("kaireon_delete_log_rows: not a flow key: " ~ (key | string | tojson)) }}
      {%- endif -%}
      {%- do keys.append("'" ~ key ~ "'") -%}
    {%- endfor -%}
    {%- do run_query("delete from " ~ rel ~ " where " ~ adapter.quote('decision_flow_key') ~ " in (" ~ keys | join(', ') ~ ")") -%}
    {%- do adapter.commit() -%}
  {%- endif -%}
{%- endmacro %}
