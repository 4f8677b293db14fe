# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hermes-relayhost contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The location options every module of the collection takes, documented in
plugins/doc_fragments/location.py; each module merges them into its ARGUMENT_SPEC."""

LOCATION_ARGUMENT_SPEC = dict(
    host_type=dict(type='str', choices=['hermes', 'postfix'], default='hermes'),
    database=dict(type='str'),
    database_options_file=dict(type='str'),
    root=dict(type='str', default='/'),
    key_file=dict(type='str', default='/opt/hermes/keys/hermes.key', no_log=False),
    postfix_dir=dict(type='str', default='/etc/postfix'),
    template=dict(type='str', default='/opt/hermes/conf_files/main.cf.HERMES'),
    vars=dict(type='dict', default={}),
    postfix_exec=dict(type='list', elements='str', default=['docker', 'exec', 'hermes_postfix_dkim']),
    postfix_exec_dir=dict(type='str'),
    cipher=dict(type='str', choices=['ecb', 'cbc'], default='ecb'),
)
