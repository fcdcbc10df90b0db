{#-
  A model of this project read WITHOUT ref(), as earlier builds left it (kaireon_sql/dialect/nodes.py
  OptionalRelation): the attribution (S8) reads the decision log this way, since the log refs the
  decisions that read the scores the attribution feeds (a ref would be a cycle).
  A subquery with the given columns cast to the given types: a column the relation lacks (an older log)
  reads NULL; before the relation's first build (or while dbt parses) it has no rows.
  Names and types come from the compiler (letters, digits, _), never from config.
-#}
{% macro optional_relation(name, columns, types) -%}
  {%- set rel = adapter.get_relation(database=this.database, schema=this.schema, identifier=name) if execute else none -%}
  {%- set present = [] -%}
  {%- if rel is not none -%}
    {%- for c in adapter.get_columns_in_relation(rel) -%}{%- do present.append(c.name | lower) -%}{%- endfor -%}
  {%- endif -%}
  (select
  {%- for c in columns %}
    cast({{ adapter.quote(c) if c in present else 'null' }} as {{ types[loop.index0] }}) as {{ adapter.quote(c) }}{{ ',' if not loop.last }}
  {%- endfor %}
  {%- if rel is not none %}
  from {{ rel }}
  {%- else %}
  limit 0
  {%- endif %})
{%- endmacro %}
