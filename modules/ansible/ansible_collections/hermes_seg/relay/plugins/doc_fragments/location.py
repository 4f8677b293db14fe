# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hermes-relayhost contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The location options every module of the collection takes (plugins/module_utils/location.py)."""


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  host_type:
    description:
      - V(hermes) is a Hermes SEG host; the Hermes rows are the truth and C(main.cf) is
        rendered whole from the base template, as Hermes itself does.
      - V(postfix) is any Postfix host, with no Hermes database, key or template (O(database),
        O(key_file), O(template), O(vars), O(cipher) and key rotation are refused). C(main.cf)
        is edited in place for the keys the module owns only (C(relayhost),
        C(smtp_sasl_auth_enable), C(smtp_sasl_password_maps), C(smtp_sasl_security_options),
        C(smtp_sasl_tls_security_options), C(smtp_tls_security_level), C(smtp_tls_wrappermode),
        C(smtp_tls_policy_maps), C(smtp_tls_CAfile)); every other line is kept byte for byte. The password lives
        only in C(sasl_passwd) and its map. O(postfix_exec) defaults to V([]).
    type: str
    choices: [hermes, postfix]
    default: hermes
  database:
    description:
      - The Hermes database, C(sqlite:PATH), C(mysql://USER[:PW]@HOST[:PORT]/DB) or
        C(mysql://USER@localhost/DB?socket=PATH). A password in the URL is masked in output.
      - Defaults to C(sqlite:<root>/hermes.sqlite); pass the MariaDB URL for a Hermes host.
    type: str
  database_options_file:
    description:
      - MySQL option file whose C([client]) group supplies user, password, host, port or
        socket that the O(database) URL leaves out (keeps credentials out of the URL).
    type: str
  root:
    description:
      - Prefix for O(key_file), O(postfix_dir) and O(template), for a Hermes tree that is not
        at C(/) (a test root made by C(hermes-relayhost init)).
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
      - Command prefix for the Postfix tools the module runs (C(postconf), C(postmap), and
        for M(hermes_seg.relay.relay_host) also C(postfix)). V([]) runs them on this host.
      - With O(host_type=postfix) the default is V([]).
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
      - Format of the stored credentials. V(ecb) is what Hermes (and its web UI) reads and
        writes; V(cbc) (AES-256-CBC, random IV) cannot be read by the Hermes web UI today.
    type: str
    choices: [ecb, cbc]
    default: ecb
"""
