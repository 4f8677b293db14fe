# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hermes-relayhost contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Target side of the collection's modules: install and run the compiled hermes-relayhost binary.

The action plugin (plugins/plugin_utils/relay_action.py) runs the binary itself, with one shell
command (no Python on the target) once it is cached, and with `python -c` of
module_utils/relay_cache.py when it is not (the first run). This module runs instead for `async`
tasks and over connections that cannot feed a command's stdin: it installs the upload the same
way (relay_cache.py) and passes the task's options in a private args file (0600, in Ansible's
remote temporary dir, removed afterwards).

It keeps Python 3.6 syntax: ansible-core 2.16 still manages targets that run it.
"""

import json
import os
import re
import tempfile

from urllib.parse import unquote

from ansible.module_utils.basic import _load_params
from ansible_collections.hermes_seg.relay.plugins.module_utils.relay_cache import (
    CacheRefused,
    CannotRun,
    NeedsGzip,
    verified_binary,
)

# Set by the action plugin for this one module run.
ENV_BINARY = 'HERMES_RELAYHOST_BINARY'
ENV_SHA256 = 'HERMES_RELAYHOST_SHA256'
ENV_UPLOAD = 'HERMES_RELAYHOST_UPLOAD'
ENV_UPLOAD_FORMAT = 'HERMES_RELAYHOST_UPLOAD_FORMAT'

# The result key by which this module asks the action plugin for the upload in another format
# (the target's Python has no lzma).
RETRY_KEY = 'hermes_relay_upload_retry'

# The query parameters of a database URL that carry a password (MySQL client spellings).
PASSWORD_PARAMETERS = ('password', 'passwd', 'pass', 'pwd')


def database_secrets(url):
    """Every string of a `database` URL that may be a password, as written and decoded.

    The binary shows the URL only masked (`mask_url_password` in src/args.rs); Ansible masks
    these values wherever they appear, by the same reading of the URL: with `://` and an `@`
    after it, the password of the user info (`user:PW`, up to the last `@`, as the binary reads
    it, or up to the last `@` before the path, as URL parsers do); else, unless it is
    `scheme://host[:port]/...`, when anything after `scheme:` holds a `:` or an `@` (a malformed
    URL may hold a password anywhere), all of it and its likely password parts. In either case
    the value of a `password=`-like query parameter.
    """
    if not isinstance(url, str) or not url:
        return set()
    found = set()
    scheme, sep, rest = url.partition('://')
    if sep and '@' in rest:
        authority = re.split(r'[/?#]', rest, maxsplit=1)[0]
        for userinfo in (rest.rpartition('@')[0], authority.rpartition('@')[0]):
            found.add(userinfo.partition(':')[2])
    elif not (sep and re.match(r'(\[[0-9A-Fa-f:.]*\]|[^:/?#\[]*)(:[0-9]*)?([/?#]|$)', rest)):
        # Not `scheme://host[:port]/...` either: malformed.
        remainder = url.partition(':')[2]
        if ':' in remainder or '@' in remainder:
            found.add(remainder)
            found.add(remainder.rpartition('@')[0])
            after_user = remainder.lstrip('/').partition(':')[2]
            found.add(after_user.rpartition('@')[0] or after_user)
            found.add(re.split(r'[/?#@]', after_user, maxsplit=1)[0])
    query = url.partition('?')[2].partition('#')[0]
    for pair in re.split('[&;]', query):
        key, eq, value = pair.partition('=')
        if eq and unquote(key).strip().lower() in PASSWORD_PARAMETERS:
            found.add(value)
    found |= set(unquote(value) for value in found)
    found.discard('')
    return found


def refusal_message(path, why, uid=None):
    """The task failure for a cache that is not safe (`uid`: the user it is checked for)."""
    uid = os.geteuid() if uid is None else uid
    return ('refusing to use the hermes-relayhost binary cache %s: %s. The cache and every '
            'directory above it must be owned by root or uid %s and writable by no one else (a '
            'sticky directory such as /tmp only above a directory that uid %s owns and alone '
            'can write); set hermes_relay_cache_dir to such a directory'
            % (path, why, uid, uid))


def cached_binary(module):
    """(N, `/proc/self/fd/N`): the verified cached binary (installing the upload first, if any)."""
    target = os.environ.get(ENV_BINARY)
    want = os.environ.get(ENV_SHA256)
    if not target or not want:
        module.fail_json(msg='%s runs through its action plugin, which places the '
                             'hermes-relayhost binary; call it by its name, not as '
                             'ansible.legacy or through a copied module file' % module._name)
    try:
        return verified_binary(target, want, os.environ.get(ENV_UPLOAD),
                               os.environ.get(ENV_UPLOAD_FORMAT, ''))
    except NeedsGzip:
        module.fail_json(msg='the Python on this host has no lzma module; uploading the '
                             'hermes-relayhost binary gzip-compressed instead', **{RETRY_KEY: 'gz'})
    except CacheRefused as e:
        module.fail_json(msg=refusal_message(os.path.dirname(os.path.abspath(os.path.expanduser(target))), e))
    except CannotRun as e:
        module.fail_json(msg=str(e))


def _given_options(module):
    """The options as the task gave them (module_defaults merged, nulls left out), before
    AnsibleModule filled in defaults or converted types: the binary tells `omitted` from
    `default` (state absent takes no port) and reports type errors in its own words."""
    raw = _load_params()
    return dict(
        (name, value) for name, value in raw.items()
        if name in module.argument_spec and value is not None
    )


def run(module, fqcn):
    """Runs the binary as module `fqcn` on the task's options and exits with its result."""
    module.no_log_values.update(database_secrets(module.params.get('database')))
    fd, executable = cached_binary(module)
    args = _given_options(module)
    args.update({
        '_ansible_module_name': fqcn,
        '_ansible_check_mode': module.check_mode,
        '_ansible_diff': module._diff,
    })
    handle, args_file = tempfile.mkstemp(prefix='hermes-relayhost-args-', dir=module.tmpdir)
    try:
        with os.fdopen(handle, 'w') as f:
            json.dump(args, f)
        rc, out, err = module.run_command([executable, args_file], pass_fds=(fd,))
    finally:
        os.unlink(args_file)
        os.close(fd)
    try:
        result = json.loads(out)
    except ValueError:
        module.fail_json(msg='hermes-relayhost printed no JSON result (exit %d): %s'
                             % (rc, (err or out).strip()[-2000:]))
    if not isinstance(result, dict):
        module.fail_json(msg='hermes-relayhost printed %r instead of a result object' % out[:200])
    for warning in result.pop('warnings', None) or []:
        module.warn(warning)
    if result.pop('failed', False):
        module.fail_json(msg=result.pop('msg', 'hermes-relayhost failed'), **result)
    module.exit_json(**result)
