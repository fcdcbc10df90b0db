{#-
  The run attributes (attributes.<name> in formulas, S7), from the dbt var `attributes`: a mapping of
  names to values. A formula reading attributes.x compiles to {{ kaireon_sql.run_attribute('x') }}
  inside the engine's hex decoding (dialect hex_text): the macro writes '<lowercase hex of the value's
  UTF-8 text>' (only 0-9 a-f), or a typed NULL when the run has no attribute x. So no attribute value
  ever reaches SQL as text: quotes, semicolons, comments or Jinja in a value are data.
  - a name is 1-63 letters, digits or _, not starting with a digit (a formula identifier);
  - a value is text, a number (its text, as Jinja writes it), true/false (the text 'true'/'false'),
    null (NULL), or {hex: '<lowercase hex of UTF-8>'}, as `kaireon run --attributes` passes every
    text value: dbt renders a string var as Jinja before a macro reads it (docs/security.md), hex
    has no '{'.
  Anything else stops the run with a message naming the attribute.
-#}
{% macro run_attribute(name) -%}
  {%- set attributes = var('attributes', {}) -%}
  {%- if attributes is none -%}{%- set attributes = {} -%}{%- endif -%}
  {%- if attributes is not mapping -%}
    {{ exceptions.raise_compiler_error("var 'attributes': expected a mapping of attribute names to values, got " ~ (attributes | string | tojson)) }}
  {%- endif -%}
  {%- for key in attributes -%}{%- do kaireon_sql.checked_attribute_name(key) -%}{%- endfor -%}
  {%- set hex = kaireon_sql.attribute_hex(name, attributes[name]) if name in attributes else none -%}
  {{- "'" ~ hex ~ "'" if hex is not none else "cast(null as " ~ dbt.type_string() ~ ")" -}}
{%- endmacro %}

{% macro checked_attribute_name(name) -%}
  {%- if name is not string or not modules.re.match('^[A-Za-z_][A-Za-z0-9_]{0,62}\\Z', name) -%}
    {{ exceptions.raise_compiler_error("var 'attributes': an attribute name is 1-63 letters, digits or _, not starting with a digit; got " ~ (name | string | tojson)) }}
  {%- endif -%}
  {{- return(name) -}}
{%- endmacro %}

{% macro attribute_hex(name, value) -%}
  {%- if value is none -%}{{ return(none) }}{%- endif -%}
  {%- if value is mapping -%}
    {%- set hex = value.get('hex') -%}
    {%- if value | length != 1 or hex is not string or not modules.re.match('^(?:[0-9a-f]{2})*\\Z', hex) -%}
      {{ exceptions.raise_compiler_error("var 'attributes': attribute '" ~ name ~ "': a mapping value must be {hex: '<lowercase hex of UTF-8 text>'}") }}
    {%- endif -%}
    {{- return(hex) -}}
  {%- endif -%}
  {%- if value is sameas true or value is sameas false -%}
    {{- return(('true' if value else 'false').encode('utf-8').hex()) -}}
  {%- endif -%}
  {%- if value is string or value is number -%}
    {{- return((value | string).encode('utf-8').hex()) -}}
  {%- endif -%}
  {{ exceptions.raise_compiler_error("var 'attributes': attribute '" ~ name ~ "': expected text, a number, true/false or null, got " ~ (value | string | tojson)) }}
{%- endmacro %}
