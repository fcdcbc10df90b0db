{#-
  Column names as the generated models spell them: every name quoted through adapter.quote, so it keeps
  its (lower) case on every engine, Snowflake included, where an unquoted name is folded to upper case.
-#}
{% macro quoted_list(names) -%}
  {%- set quoted = [] -%}
  {%- for name in names -%}{%- do quoted.append(adapter.quote(name)) -%}{%- endfor -%}
  {{- return(quoted | join(', ')) -}}
{%- endmacro %}
