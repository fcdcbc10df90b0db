{#-
  The run parameters every kaireon model reads (S3), from dbt vars, namespaced so that they do not
  collide with a project's own vars; the bare names of earlier versions are still read when the
  namespaced one is not set:
    kaireon_as_of   (or as_of)   - timestamp the run decides at, ISO 8601 ('2026-11-20T15:00:00Z', '2026-11-20 10:00:00-05:00',
              '2026-11-20 15:00'); an offset is converted to UTC, no offset means UTC;
              default: the current time (UTC), truncated to the second
    kaireon_run_id  (or run_id)  - default NULL: outputs then use '<flow key>@<as_of>'
    kaireon_channel (or channel) - the channel for flows without flowConfig.channel; default NULL
  The columns are named through adapter.quote, as the generated models name every column (lower case,
  quoted): an engine that folds unquoted names to upper case (Snowflake) would otherwise create AS_OF
  where the models read "as_of" (tests/test_snowflake_fakesnow.py).
  Values are parsed and re-rendered here, so no var text reaches SQL unchecked. `kaireon run` checks
  the same grammar before dbt starts (kaireon_sql/runner.py).
-#}
{% macro run_params() -%}
  {%- set as_of = kaireon_sql.parse_as_of(*kaireon_sql.run_var('as_of')) -%}
  {%- set run_id = kaireon_sql.checked_token(*kaireon_sql.run_var('run_id')) -%}
  {%- set channel = kaireon_sql.checked_token(*kaireon_sql.run_var('channel')) -%}
select
  cast('{{ as_of.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp) as {{ adapter.quote('as_of') }},
  cast('{{ as_of.strftime("%Y-%m-%dT%H:%M:%SZ") }}' as {{ dbt.type_string() }}) as {{ adapter.quote('as_of_text') }},
  cast({{ "'" ~ run_id ~ "'" if run_id is not none else "null" }} as {{ dbt.type_string() }}) as {{ adapter.quote('run_id') }},
  cast({{ "'" ~ channel ~ "'" if channel is not none else "null" }} as {{ dbt.type_string() }}) as {{ adapter.quote('channel') }}
{%- endmacro %}

{% macro run_var(name) -%}
  {#- [value, var name]: var('kaireon_<name>'), else the bare var('<name>') of earlier versions, else none. -#}
  {%- set value = var('kaireon_' ~ name, none) -%}
  {%- if value is none and var(name, none) is not none -%}{{ return([var(name), name]) }}{%- endif -%}
  {{- return([value, 'kaireon_' ~ name]) -}}
{%- endmacro %}

{% macro parse_as_of(value, name='kaireon_as_of') -%}
  {#- The grammar and ranges of kaireon_sql/runner.py parse_as_of: `kaireon run` checks them before dbt
      starts; this check is for dbt run directly. dbt renders a string var as Jinja before var()
      returns it, so only a value without '{' is read as written (docs/security.md). -#}
  {%- set dt = modules.datetime -%}
  {%- if value is none or (value | string | trim) == '' -%}
    {{- return(dt.datetime.utcnow().replace(microsecond=0)) -}}
  {%- endif -%}
  {%- set expected = "expected an ISO 8601 timestamp YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM|-HH:MM] with an offset from -23:59 to +23:59, such as 2026-11-20T15:00:00Z" -%}
  {%- set pattern = '^(\\d{4})-(\\d{2})-(\\d{2})(?:[T ](\\d{2}):(\\d{2})(?::(\\d{2}))?)?(Z|[+-]\\d{2}:?\\d{2})?$' -%}
  {%- set m = modules.re.match(pattern, value | string | trim) -%}
  {%- if m is none -%}
    {{ exceptions.raise_compiler_error("var '" ~ name ~ "': " ~ expected ~ ", got " ~ (value | string | tojson)) }}
  {%- endif -%}
  {%- set g = m.groups() -%}
  {%- set year, month, day = g[0] | int, g[1] | int, g[2] | int -%}
  {%- set hour, minute, second = (g[3] or 0) | int, (g[4] or 0) | int, (g[5] or 0) | int -%}
  {%- set month_days = [31, 29 if (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] -%}
  {%- if year < 1 or month < 1 or month > 12 or day < 1 or day > month_days[month - 1] or hour > 23 or minute > 59 or second > 59 -%}
    {{ exceptions.raise_compiler_error("var '" ~ name ~ "': not a valid date and time: " ~ (value | string | tojson)) }}
  {%- endif -%}
  {%- set parsed = dt.datetime(year, month, day, hour, minute, second) -%}
  {%- set offset = g[6] -%}
  {%- if offset and offset != 'Z' -%}
    {%- set digits = offset[1:] | replace(':', '') -%}
    {%- if (digits[:2] | int) > 23 or (digits[2:] | int) > 59 -%}
      {{ exceptions.raise_compiler_error("var '" ~ name ~ "': offset " ~ offset ~ " is out of range; " ~ expected) }}
    {%- endif -%}
    {%- set minutes = (digits[:2] | int) * 60 + (digits[2:] | int) -%}
    {%- set sign = 1 if offset[0] == '+' else -1 -%}
    {%- set parsed = parsed - dt.timedelta(minutes=sign * minutes) -%}
  {%- endif -%}
  {{- return(parsed) -}}
{%- endmacro %}

{% macro checked_token(value, name) -%}
  {%- if value is none or (value | string) == '' -%}{{ return(none) }}{%- endif -%}
  {%- if not modules.re.match('^[A-Za-z0-9_.:@+-]{1,200}\\Z', value | string) -%}
    {{ exceptions.raise_compiler_error("var '" ~ name ~ "': expected 1-200 letters, digits or _ . : @ + -, got " ~ (value | string | tojson)) }}
  {%- endif -%}
  {{- return(value | string) -}}
{%- endmacro %}
