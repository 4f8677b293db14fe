#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hermes-relayhost contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: relay_host_info
short_description: Read the relay host settings of a Hermes SEG or Postfix host and check them
version_added: 0.2.0
description:
  - Returns the relay host settings stored in the Hermes database (host, port, TLS level,
    whether SASL authentication is on, the username; never the password) and the doctor's
    checks of this host (SASL plugins, map type, key and credentials, file modes, what Postfix
    reads, drift between the database and the files) as data.
  - Read-only; C(changed) is always false.
  - Runs the same compiled C(hermes-relayhost) binary as M(hermes_seg.relay.relay_host),
    copied to the managed host once (see there).
author:
  - hermes-relayhost contributors (@hermes-seg)
requirements:
  - Python 3.6 or newer on the managed host (for ansible-core's module wrapper).
  - Linux on x86_64 or aarch64 with glibc 2.17 or newer (the C(hermes-relayhost) binary).
  - The C(docker) CLI and the C(hermes_postfix_dkim) container for the default O(postfix_exec);
    with O(postfix_exec=[]) the Postfix tools (C(postconf), C(postmap)) on the host.
  - Read access to the Hermes database (the SQLite file, or the MariaDB/MySQL server) and to
    the key file.
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
  platform:
    support: full
    platforms: posix
    description: Linux hosts (x86_64, aarch64) running Hermes SEG or Postfix.
  action_group:
    support: full
    membership: [hermes_seg.relay.relay]
    description: Use C(group/hermes_seg.relay.relay) in C(module_defaults) to set the location
      options once for both modules.
  async:
    support: full
    description: Runs with the C(async) keyword.
options:
  database:
    description:
      - The Hermes database, C(sqlite:PATH), C(mysql://USER[:PW]@HOST[:PORT]/DB) or
        C(mysql://USER@localhost/DB?socket=PATH). A password in the URL is masked in output.
      - Defaults to C(sqlite:<root>/hermes.sqlite); pass the MariaDB URL for a Hermes host.
    type: str
  database_options_file:
    description:
      - MySQL option file whose C([client]) group supplies user, password, host, port or
        socket that the O(database) URL leaves out.
    type: str
  root:
    description:
      - Prefix for O(key_file), O(postfix_dir) and O(template).
    type: str
    default: /
  key_file:
    description:
      - The Hermes AES key file (under O(root)).
    type: str
    default: /opt/hermes/keys/hermes.key
  postfix_dir:
    description:
      - Directory holding this host's C(main.cf), C(sasl_passwd) and its map (under O(root)).
    type: str
    default: /etc/postfix
  template:
    description:
      - The base C(main.cf), a handlebars template (under O(root)).
    type: str
    default: /opt/hermes/conf_files/main.cf.HERMES
  vars:
    description:
      - Context of the template, used there as C({{vars.NAME}}).
    type: dict
    default: {}
  postfix_exec:
    description:
      - Command prefix for C(postconf) and C(postmap). V([]) runs them on this host.
    type: list
    elements: str
    default: [docker, exec, hermes_postfix_dkim]
  postfix_exec_dir:
    description:
      - The Postfix config directory as the Postfix commands see it (their C(-c) argument).
      - Defaults to C(/etc/postfix) when O(postfix_exec) is non-empty, else O(postfix_dir).
    type: str
  cipher:
    description:
      - Format of the stored credentials, as for M(hermes_seg.relay.relay_host).
    type: str
    choices: [ecb, cbc]
    default: ecb
seealso:
  - module: hermes_seg.relay.relay_host
"""

EXAMPLES = r"""
- name: Read the relay settings and the doctor's checks
  hermes_seg.relay.relay_host_info:
  register: relay

- name: Stop when the relay host is not healthy
  ansible.builtin.assert:
    that: relay.healthy
    fail_msg: "{{ relay.checks | rejectattr('ok') | map(attribute='detail') | list }}"

- name: Which gateways still relay without SASL
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} relays through {{ relay.relay.host }} without SASL"
  when: relay.relay.state == 'present' and not relay.relay.auth
"""

RETURN = r"""
relay:
  description: The stored relay host settings.
  returned: success
  type: dict
  contains:
    state:
      description: V(present) when a relay host is configured, V(absent) for direct delivery.
      type: str
      sample: present
    host:
      description: The relay host, null when absent.
      type: str
      sample: smtp.example.com
    port:
      description: The relay port, null when absent.
      type: int
      sample: 587
    tls:
      description: The TLS level, one of V(none), V(may), V(encrypt), V(wrapper).
      type: str
      sample: encrypt
    auth:
      description: Whether SASL authentication is on.
      type: bool
    username:
      description: The stored SASL username, null when none. The password is never returned.
      type: str
      sample: relayuser@example.com
checks:
  description: The doctor's checks of this host.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: What was checked.
      type: str
    ok:
      description: Whether the check passed.
      type: bool
    detail:
      description: What was found.
      type: str
healthy:
  description: Whether every check passed.
  returned: success
  type: bool
msg:
  description: A one-line summary, or why the settings could not be read.
  returned: always
  type: str
error:
  description: Why the settings could not be read.
  returned: failure
  type: dict
  contains:
    code:
      description: Stable snake_case error code, e.g. C(database_unreachable).
      type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hermes_seg.relay.plugins.module_utils.relay_binary import run

# The location options of relay_host; the binary validates them again.
ARGUMENT_SPEC = dict(
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


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run(module, 'hermes_seg.relay.relay_host_info')


if __name__ == '__main__':
    main()
