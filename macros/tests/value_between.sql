{#- Fails for each non-NULL value outside [min_value, max_value].
    A column test: dbt passes column_name quoted when the column says `quote: true` (as kaireon's properties
    file does on engines that fold unquoted names to upper case), as it does for not_null and accepted_values. -#}
{% test value_between(model, column_name, min_value, max_value) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
{% endtest %}
