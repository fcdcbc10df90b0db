{#- Fails for each combination of `columns` that occurs more than once.
    `columns` are plain column names, quoted here (macros/quoting.sql). -#}
{% test unique_combination(model, columns) %}
{%- set keys = kaireon_sql.quoted_list(columns) -%}
select {{ keys }}, count(*) as {{ adapter.quote('n') }}
from {{ model }}
group by {{ keys }}
having count(*) > 1
{% endtest %}
