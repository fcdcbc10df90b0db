{#- Ranks within each partition must be exactly 1..n: no gaps, no duplicates, none below 1. -#}
{% test rank_contiguous(model, partition_by, column_name='rank') %}
select {{ partition_by | join(', ') }}, min({{ column_name }}) as min_rank, max({{ column_name }}) as max_rank,
       count(*) as n, count(distinct {{ column_name }}) as distinct_ranks
from {{ model }}
group by {{ partition_by | join(', ') }}
having min({{ column_name }}) <> 1 or max({{ column_name }}) <> count(*) or count(distinct {{ column_name }}) <> count(*)
{% endtest %}
