#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hermes-relayhost contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: relay_host
short_description: Configure the outbound relay host of a Hermes SEG or Postfix host
version_added: 0.1.0
description:
  - Does exactly what the Hermes SEG web page I(Email Relay > Relay Host) does on I(Save);
    writes the relay rows into the Hermes database (the C(parameters) dual rows and the
    AES-encrypted C(system_settings) credentials, in Hermes's own format), rebuilds
    C(sasl_passwd) (relay line plus the per-domain lines of the C(transport) table), runs
    C(postmap), re-renders C(main.cf) from the base template and reloads Postfix.
  - Idempotent (a run with nothing to change writes nothing) and atomic (everything is
    validated and staged before the first write; a failure after it restores rows and files).
  - Passwords never appear in output, diffs, errors or logs; a password is shown as
    C(********), with C((old)) and C((new)) on the two sides of a rotation.
  - The work is done by the compiled C(hermes-relayhost) binary shipped in the collection. The
    action plugin copies it to the managed host once, xz-compressed, into a per-user cache dir
    (C(~/.cache/hermes_seg.relay), mode 0700; the variable C(hermes_relay_cache_dir) moves it),
    and only again when the collection brings a different binary. The cache is filled in check
    mode too, like Ansible's own remote temporary files.
  - The cache dir and every directory above it must be owned by root or the user the task runs
    as and writable by no one else (as OpenSSH's C(StrictModes) checks a home dir; a sticky
    directory such as C(/tmp) is allowed above a directory of that user's); otherwise the task
    fails saying which directory and why. The binary runs only after the very file that runs was
    checked (owner, mode, SHA-256).
  - Once the binary is cached, a task is one remote command that runs it with the options on
    its stdin, without Python on the managed host and without a file. The first run sends the
    compressed binary, then one command in which the host's Python (a short program, not the
    module's payload) installs it into the cache and runs it the same way. C(async) tasks and
    connections or become methods that cannot feed a command's stdin (C(paramiko), C(su)) run
    the module's Python code instead.
author:
  - hermes-relayhost contributors (@hermes-seg)
requirements:
  - Python 3.6 or newer on the managed host for the first run (it decompresses the binary),
    C(async) tasks and C(su); other runs need a POSIX shell, C(stat) and C(sha256sum) only.
  - Linux on x86_64 or aarch64 with glibc 2.17 or newer (the C(hermes-relayhost) binary).
  - The C(docker) CLI and the C(hermes_postfix_dkim) container for the default O(postfix_exec);
    with O(postfix_exec=[]) the Postfix tools (C(postconf), C(postmap), C(postfix)) on the host.
  - C(libsasl2-modules) where Postfix runs, for SASL authentication to the relay host.
  - Access to the Hermes database (the SQLite file, or the MariaDB/MySQL server) and to the key
    file.
attributes:
  check_mode:
    support: full
    description:
      - Reports what would change and writes nothing, not even the lock file.
      - Runs every check the real run makes before its first write (the staged C(main.cf)
        through C(postconf -n) and the map through C(postmap), both via O(postfix_exec), in
        temp files it removes; Postfix reachable; key, template and database readable and
        writable), so it fails where the real run would fail, with the same C(error.code).
  diff_mode:
    support: full
    description: Diffs of C(main.cf), C(sasl_passwd) (password masked) and the database rows.
  platform:
    support: full
    platforms: posix
    description: Linux hosts (x86_64, aarch64) running Hermes SEG or Postfix.
  action_group:
    support: full
    membership: [hermes_seg.relay.relay]
    description: Use C(group/hermes_seg.relay.relay) in C(module_defaults) to set the location
      options (O(database), O(root), O(postfix_exec), ...) once for both modules.
  async:
    support: full
    description: Runs with the C(async) keyword.
notes:
  - C(null) or C(omit) means the option is not given.
  - O(username) and O(password) must be strings; quote them in YAML (C(0123) would become 83).
  - Hermes hosts run Postfix in the C(hermes_postfix_dkim) container, hence the default
    O(postfix_exec). For a plain Postfix host or a test root use O(postfix_exec=[]).
  - Run it as root (C(become=true)); it reads the key file (0600 root), writes the Postfix
    directory and the database, and runs C(docker exec). As another user every refusal fails
    with C(error.code=permission_denied), naming the path, the operation and the user.
  - A Postfix that cannot be reached (no C(docker) CLI, the daemon down, the container missing
    or stopped) fails with C(error.code=postfix_unreachable); a O(postfix_exec_dir) that is not
    O(postfix_dir) as the Postfix commands see it (a missing bind mount) with
    C(error.code=path_mismatch); both before anything is written.
options:
  state:
    description:
      - V(present) configures the relay host; V(absent) disables relaying (direct MX delivery).
      - V(absent) takes none of O(host), O(port), O(tls), O(auth), O(username), O(password).
    type: str
    choices: [present, absent]
    default: present
  host:
    description:
      - Relay host, required when O(state=present). IPv4, IPv6 or an ASCII DNS name (use the
        C(xn--) form for internationalized names). Whitespace at both ends is trimmed.
    type: str
  port:
    description:
      - TCP port of the relay host, 1-65535. A digit string (C("587")) is accepted.
    type: int
    default: 25
  tls:
    description:
      - Outbound TLS level, as the Hermes page offers it. V(none) disables TLS, V(may) is
        opportunistic, V(encrypt) mandatory STARTTLS.
      - V(wrapper) is implicit TLS (port 465), V(encrypt) plus C(smtp_tls_wrappermode = yes).
      - V(verify) and V(secure) are Postfix's levels that check the relay's certificate (chain
        and name). They are written as V(encrypt) (the level the Hermes page shows) plus a TLS
        policy entry for the relay alone in C(smtp_tls_policy_maps) (an C(inline) map with
        C(match)), which Postfix prefers over the level.
    type: str
    choices: [none, may, encrypt, wrapper, verify, secure]
    default: may
  tls_ca_file:
    description:
      - With O(tls=verify) or O(tls=secure), the PEM file of the CA that signs the relay's
        certificate, as Postfix sees the path (C(/etc/postfix/...) is read under O(postfix_dir)
        by the module). Written as C(smtp_tls_CAfile), which Postfix reads before its SMTP
        client enters a chroot; never removed, as another destination may rely on it. Without
        it Postfix uses its usual CAs.
      - Must be readable by others (0644), since Postfix's SMTP client reads it as C(postfix).
    type: str
  tls_name:
    description:
      - With O(tls=verify) or O(tls=secure), the DNS name the relay's certificate must carry
        (the policy's C(match)); defaults to the relay host name (Postfix's default match).
    type: str
  auth:
    description:
      - SASL authentication. When omitted it is on if O(username) is given, else the stored
        setting is kept (and the stored credentials with it).
      - V(false) clears the stored credentials and may not be combined with O(username) or
        O(password).
    type: bool
  username:
    description:
      - SASL username. Not secret (Hermes shows it); shown in diffs.
      - No whitespace, control characters or C(:); at most 767 bytes.
    type: str
  password:
    description:
      - SASL password. Omitted or empty keeps the stored one.
      - No CR, LF or NUL and no trailing whitespace (C(postmap) would strip it); at most
        767 bytes.
      - Never logged and never shown; Ansible masks it too.
    type: str
  reload:
    description:
      - Reload Postfix after a file change. Skipped with a warning when Postfix is not running.
    type: bool
    default: true
  sasl_security_options:
    description:
      - Value of C(smtp_sasl_security_options). The Postfix default
        C(noplaintext, noanonymous) refuses PLAIN and LOGIN, which most smarthosts need
        (V(noanonymous)). Omitted, the stored rows are kept.
    type: str
  sasl_tls_security_options:
    description:
      - Value of C(smtp_sasl_tls_security_options), the same for TLS sessions.
    type: str
  probe:
    description:
      - Before writing new credentials, log in to the relay host with them (EHLO, STARTTLS or
        implicit TLS as O(tls) asks, AUTH). A rejected login fails the run; nothing changes.
      - With O(tls=verify) or O(tls=secure) the relay's certificate is judged first, as
        Postfix will (chain, name, days to expiry; returned as RV(relay_certificate)); a
        certificate Postfix would refuse fails the run before the password is sent.
    type: bool
    default: false
  check_only:
    description:
      - Run the doctor instead, report what is wrong and change nothing.
      - M(hermes_seg.relay.relay_host_info) returns the same checks and the stored settings.
    type: bool
    default: false
  transport_auth:
    description:
      - SASL credentials of per-domain relays (the Hermes I(Domains) page, C(transport)
        table), set by domain; C(sasl_passwd) is rebuilt.
      - Without relay options (O(host) and the like) the relay settings are kept.
    type: list
    elements: dict
    suboptions:
      domain:
        description:
          - C(transport.domain) of the row(s) to set.
        type: str
        required: true
      username:
        description:
          - SASL username for that domain's relay (shown in diffs).
        type: str
        required: true
      password:
        description:
          - SASL password for that domain's relay. Never logged and never shown.
        type: str
        required: true
  rotate_key:
    description:
      - Re-encrypt every stored credential with a new key and install it. A key rotation run
        takes no relay options.
    type: bool
    default: false
  new_key_file:
    description:
      - With O(rotate_key), the new key file (Base64 of 32 bytes), taken as given (not under
        O(root)). Defaults to a fresh random key.
    type: str
  new_cipher:
    description:
      - With O(rotate_key), the format after the rotation. Defaults to O(cipher).
    type: str
    choices: [ecb, cbc]
extends_documentation_fragment:
  - hermes_seg.relay.location
seealso:
  - module: hermes_seg.relay.relay_host_info
  - name: Postfix SASL client
    description: How Postfix authenticates to a relay host.
    link: https://www.postfix.org/SASL_README.html#client_sasl
"""

EXAMPLES = r"""
- name: Relay through the provider's smarthost with SASL
  hermes_seg.relay.relay_host:
    host: smtp.example.com
    port: 587
    tls: encrypt
    username: relayuser@example.com
    password: "{{ vault_relay_password }}"

- name: Same on any Postfix host (no Hermes; only the relay keys of main.cf are edited)
  hermes_seg.relay.relay_host:
    host_type: postfix
    host: smtp.example.com
    port: 587
    username: relayuser@example.com
    password: "{{ vault_relay_password }}"
    sasl_security_options: noanonymous

- name: Verified TLS to a smarthost whose certificate a private CA signed
  hermes_seg.relay.relay_host:
    host_type: postfix
    host: smtp.example.com
    port: 587
    tls: verify
    tls_ca_file: /etc/postfix/relay-ca.pem
    username: relayuser@example.com
    password: "{{ vault_relay_password }}"
    probe: true

- name: Deliver directly (disable the relay host)
  hermes_seg.relay.relay_host:
    state: absent

- name: Location options once for every task of the collection
  module_defaults:
    group/hermes_seg.relay.relay:
      database: mysql://hermes@localhost/hermes?socket=/run/mysqld/mysqld.sock
  block:
    - name: Relay host on IPv6
      hermes_seg.relay.relay_host:
        host: "2001:db8::25"

    - name: Rotate only the password
      hermes_seg.relay.relay_host:
        host: "2001:db8::25"
        username: relayuser@example.com
        password: "{{ vault_new_relay_password }}"
"""

RETURN = r"""
changed:
  description: Whether anything was (or in check mode would be) written.
  returned: always
  type: bool
msg:
  description:
    - "What happened: what was (or would be) changed, C(no change), or the error."
  returned: always
  type: str
  sample: "changed: rows, main.cf, sasl_passwd"
changes:
  description: What was (or would be) changed, among C(rows), C(main.cf), C(sasl_passwd).
  returned: success
  type: list
  elements: str
  sample: [rows, main.cf, sasl_passwd]
relayhost:
  description: The C(relayhost) value as written into C(main.cf) and the C(sasl_passwd) key;
    empty when relaying is disabled.
  returned: success
  type: str
  sample: "[smtp.example.com]:587"
relay_certificate:
  description: The relay's certificate as a O(probe) at O(tls=verify) or O(tls=secure) judged
    it, as Postfix will.
  returned: when a probe at O(tls=verify) or O(tls=secure) ran
  type: dict
  contains:
    subject:
      description: The certificate's subject.
      type: str
    chain_valid:
      description: Signed by the trusted CA (O(tls_ca_file) or the system's) and within its dates.
      type: bool
    chain_error:
      description: Why the chain is not valid; null when it is.
      type: str
    name:
      description: The name checked (O(tls_name), else O(host)).
      type: str
    name_matches:
      description: Whether the certificate carries that name.
      type: bool
    not_after:
      description: Expiry, in seconds since the epoch.
      type: int
    days_left:
      description: Whole days until expiry (negative once expired).
      type: int
pending_applied:
  description: Rows that other Hermes pages had left pending (C(applied=2)) and that this run
    applied when it regenerated C(main.cf).
  returned: success
  type: list
  elements: str
warnings:
  description: Non-fatal findings, e.g. that Postfix is not running so the reload was skipped.
  returned: when there are any
  type: list
  elements: str
diff:
  description: In diff mode, when something changes, one entry per changed item (C(main.cf),
    C(sasl_passwd), the database rows); passwords masked.
  returned: changed and diff mode
  type: list
  elements: dict
  contains:
    before_header:
      description: File path, or C(hermes database rows).
      type: str
    after_header:
      description: File path, or C(hermes database rows).
      type: str
    before:
      description: Text before the run.
      type: str
    after:
      description: Text after the run.
      type: str
error:
  description: Why the run failed.
  returned: failure
  type: dict
  contains:
    code:
      description: Stable snake_case error code, e.g. C(invalid_host), C(postmap_failed).
      type: str
      sample: invalid_host
    hermes_code:
      description: The Hermes page's error number where it has one (1 empty host, 2 bad
        host, 3 empty port, 4 bad port, 5 no username, 6 no password), else null.
      type: int
      sample: 2
restored:
  description: What was restored after a failure that happened after the first write.
  returned: failure
  type: list
  elements: str
check_mode:
  description: Whether the run was a check-mode run.
  returned: always
  type: bool
checks:
  description: With O(check_only), the doctor's checks.
  returned: check_only
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
reencrypted:
  description: With O(rotate_key), how many stored values were (or would be) re-encrypted.
  returned: rotate_key
  type: int
already_rotated:
  description: With O(rotate_key), how many values were already under the new key.
  returned: rotate_key
  type: int
key_backup:
  description: With O(rotate_key), where the previous key file was saved.
  returned: rotate_key and changed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hermes_seg.relay.plugins.module_utils.location import LOCATION_ARGUMENT_SPEC
from ansible_collections.hermes_seg.relay.plugins.module_utils.relay_binary import run

# The binary validates every value again (contract rules, its own error codes); this spec is
# what Ansible checks first, documents, and masks (no_log). The location options are shared with
# relay_host_info (plugins/module_utils/location.py).
ARGUMENT_SPEC = dict(
    LOCATION_ARGUMENT_SPEC,
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    host=dict(type='str'),
    port=dict(type='int', default=25),
    tls=dict(type='str', choices=['none', 'may', 'encrypt', 'wrapper', 'verify', 'secure'], default='may'),
    tls_ca_file=dict(type='str'),
    tls_name=dict(type='str'),
    auth=dict(type='bool'),
    username=dict(type='str'),
    password=dict(type='str', no_log=True),
    reload=dict(type='bool', default=True),
    sasl_security_options=dict(type='str'),
    sasl_tls_security_options=dict(type='str'),
    probe=dict(type='bool', default=False),
    check_only=dict(type='bool', default=False),
    transport_auth=dict(type='list', elements='dict', options=dict(
        domain=dict(type='str', required=True),
        username=dict(type='str', required=True),
        password=dict(type='str', required=True, no_log=True),
    )),
    rotate_key=dict(type='bool', default=False, no_log=False),
    new_key_file=dict(type='str', no_log=False),
    new_cipher=dict(type='str', choices=['ecb', 'cbc']),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run(module, 'hermes_seg.relay.relay_host')


if __name__ == '__main__':
    main()
