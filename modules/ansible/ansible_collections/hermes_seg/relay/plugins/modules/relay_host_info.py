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
    copied to the managed host once and checked as there (see there).
author:
  - hermes-relayhost contributors (@hermes-seg)
requirements:
  - Python 3.6 or newer on the managed host for the first run (it decompresses the binary),
    C(async) tasks and C(su); other runs need a POSIX shell, C(stat) and C(sha256sum) only.
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
extends_documentation_fragment:
  - hermes_seg.relay.location
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
from ansible_collections.hermes_seg.relay.plugins.module_utils.location import LOCATION_ARGUMENT_SPEC
from ansible_collections.hermes_seg.relay.plugins.module_utils.relay_binary import run

# Exactly the location options; the binary validates them again.
ARGUMENT_SPEC = dict(LOCATION_ARGUMENT_SPEC)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run(module, 'hermes_seg.relay.relay_host_info')


if __name__ == '__main__':
    main()
