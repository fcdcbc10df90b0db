{#- A data check on a flow's customers model, run by dbt build right after that model and before its
    candidates and decisions: one row per customer whose time zone value (zone_column) is not a known zone
    name, i.e. whose local hour (hour_column, from the zone lookup) is NULL although the zone is not.
    Severity warn: such a customer's time-window policies reject it as "time zone unknown" (S5), never the
    run. When it finds rows it also warns, naming up to 10 customers and their values (shortened to 60
    characters, JSON-quoted), so that the build log says who. Column names come from the compiler. -#}
{% test known_time_zone(model, zone_column, hour_column) %}
{{ config(severity='warn') }}
{%- set offending -%}
select {{ adapter.quote('customer_id') }} as {{ adapter.quote('customer_id') }},
  {{ adapter.quote(zone_column) }} as {{ adapter.quote('time_zone') }}
from {{ model }}
where {{ adapter.quote(zone_column) }} is not null and {{ adapter.quote(hour_column) }} is null
{%- endset -%}
{%- if execute -%}
  {%- set found = run_query(offending ~ " order by 1 limit 10") -%}
  {%- if found is not none and found.rows | length > 0 -%}
    {%- set named = [] -%}
    {%- for r in found.rows -%}{%- do named.append((r[0] | string | tojson) ~ ": " ~ ((r[1] | string)[:60] | tojson)) -%}{%- endfor -%}
    {%- do exceptions.warn("kaireon: " ~ model.identifier ~ ": customers whose time zone is not a known zone name"
        ~ " (their time-window policies reject them as 'time zone unknown'): " ~ named | join(", ")
        ~ (" (first 10)" if found.rows | length == 10 else "")) -%}
  {%- endif -%}
{%- endif -%}
{{ offending }}
{% endtest %}
