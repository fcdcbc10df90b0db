{#- Ranks within each partition must be exactly 1..n: no gaps, no duplicates, none below 1.
    A model-level test: partition_by and column_name are plain column names, quoted here (macros/quoting.sql). -#}
{% test rank_contiguous(model, partition_by, column_name='rank') %}
{%- set keys = kaireon_sql.quoted_list(partition_by) -%}
{%- set rank = adapter.quote(column_name) -%}
select {{ keys }}, min({{ rank }}) as {{ adapter.quote('min_rank') }}, max({{ rank }}) as {{ adapter.quote('max_rank') }},
       count(*) as {{ adapter.quote('n') }}, count(distinct {{ rank }}) as {{ adapter.quote('distinct_ranks') }}
from {{ model }}
group by {{ keys }}
having min({{ rank }}) <> 1 or max({{ rank }}) <> count(*) or count(distinct {{ rank }}) <> count(*)
{% endtest %}
