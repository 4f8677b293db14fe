{#- The relay host of this Hermes SEG / Postfix host, from pillar `hermes_relay` (see
    pillar.example). Passwords stay in pillar: the state gets their keys, not their values. -#}
{%- from tpldir ~ "/map.jinja" import hermes_relay with context %}
{%- for secret in ['password', 'transport_auth'] %}
{%-   if secret in hermes_relay.options %}
{{-     raise('hermes_relay:options:' ~ secret ~ ' would be rendered into the SLS: '
              ~ 'put it under hermes_relay:secrets:' ~ secret) }}
{%-   endif %}
{%- endfor %}

include:
  - .install

hermes-relay-host:
  hermes_relay_host.configured:
{%- for option, value in hermes_relay.options | dictsort %}
    - {{ option }}: {{ value | json }}
{%- endfor %}
{%- if hermes_relay.password_pillar %}
    - password_pillar: {{ hermes_relay.password_pillar }}
{%- endif %}
{%- if hermes_relay.transport_auth_pillar %}
    - transport_auth_pillar: {{ hermes_relay.transport_auth_pillar }}
{%- endif %}
    - require:
      - file: hermes-relayhost-binary
