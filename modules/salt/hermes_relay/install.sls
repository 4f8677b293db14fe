{#- The hermes-relayhost binary, from the formula's files/ (or pillar `binary:source`),
    installed only if it has the expected SHA-256. -#}
{%- from tpldir ~ "/map.jinja" import hermes_relay with context %}
{%- set binary = hermes_relay.binary %}

hermes-relayhost-binary:
  file.managed:
    - name: {{ binary.path }}
    - source: {{ binary.source }}
{%- if not binary.source.startswith('salt://') %}
    - source_hash: sha256={{ binary.sha256 }}
{%- endif %}
    # Salt ignores source_hash for salt:// sources (it takes the file as the fileserver has
    # it), so the staged copy is checked before it replaces the installed binary.
    - check_cmd: sh -c '[ "$(sha256sum <"$1")" = "{{ binary.sha256 }}  -" ]' sha256-check
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: true
    # The execution module loads only once the binary is there.
    - reload_modules: true
