# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hermes-relayhost contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Target side of the collection's modules: run the compiled hermes-relayhost binary.

The action plugin (plugins/plugin_utils/relay_action.py) makes sure the binary for the target's
architecture is in a per-user cache dir and says where through the environment; this code
installs a freshly uploaded copy into that cache, checks the cached copy's SHA-256, writes the
task's options into a private args file (0600, removed afterwards) and runs the binary on it.
It keeps Python 3.6 syntax: ansible-core 2.16 still manages targets that run it.
"""

import hashlib
import json
import os
import shutil
import stat
import tempfile
from urllib.parse import unquote

from ansible.module_utils.basic import _load_params

# Set by the action plugin for this one module run.
ENV_BINARY = 'HERMES_RELAYHOST_BINARY'
ENV_SHA256 = 'HERMES_RELAYHOST_SHA256'
ENV_UPLOAD = 'HERMES_RELAYHOST_UPLOAD'

BINARY_PREFIX = 'hermes-relayhost-'


def sha256_file(path):
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _private_dir(module, path):
    """Creates the cache dir 0700; refuses one that another user owns or others can reach."""
    if not os.path.isdir(path):
        os.makedirs(path, 0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        module.fail_json(
            msg='refusing to use the binary cache %s: it is not a directory owned by uid %d; '
                'remove it or set hermes_relay_cache_dir' % (path, os.geteuid()))
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)


def _install(module, upload, target, want):
    """Copies the uploaded binary into the cache under its final name, atomically, and drops
    the copies of other versions."""
    cache = os.path.dirname(target)
    fd, tmp = tempfile.mkstemp(prefix='.upload-', dir=cache)
    try:
        with os.fdopen(fd, 'wb') as out, open(upload, 'rb') as src:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
        if sha256_file(tmp) != want:
            module.fail_json(msg='the uploaded hermes-relayhost binary is corrupt (SHA-256 '
                                 'mismatch); run the task again')
        os.chmod(tmp, 0o700)
        os.rename(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    for name in os.listdir(cache):
        if name.startswith(BINARY_PREFIX) and name != os.path.basename(target):
            os.unlink(os.path.join(cache, name))


def cached_binary(module):
    """The path of the verified cached binary (installing the upload first, if any)."""
    target = os.environ.get(ENV_BINARY)
    want = os.environ.get(ENV_SHA256)
    if not target or not want:
        module.fail_json(msg='%s runs through its action plugin, which places the '
                             'hermes-relayhost binary; call it by its name, not as '
                             'ansible.legacy or through a copied module file' % module._name)
    target = os.path.expanduser(target)
    _private_dir(module, os.path.dirname(target))
    upload = os.environ.get(ENV_UPLOAD)
    if upload:
        _install(module, upload, target, want)
    if not os.path.exists(target) or sha256_file(target) != want:
        if os.path.exists(target):
            os.unlink(target)
        module.fail_json(msg='the cached hermes-relayhost binary %s is missing or does not match '
                             'the collection\'s; it is uploaded again on the next run' % target)
    return target


def _given_options(module):
    """The options as the task gave them (module_defaults merged, nulls left out), before
    AnsibleModule filled in defaults or converted types: the binary tells `omitted` from
    `default` (state absent takes no port) and reports type errors in its own words."""
    raw = _load_params()
    return dict(
        (name, value) for name, value in raw.items()
        if name in module.argument_spec and value is not None
    )


def _mask_database_password(module, database):
    """Adds the password of a `mysql://USER:PW@...` URL to the values Ansible masks."""
    if not database or '://' not in database:
        return
    authority = database.split('://', 1)[1].split('/', 1)[0]
    userinfo = authority.rpartition('@')[0]
    if ':' in userinfo:
        password = userinfo.split(':', 1)[1]
        if password:
            module.no_log_values.add(password)
            module.no_log_values.add(unquote(password))


def run(module, fqcn):
    """Runs the binary as module `fqcn` on the task's options and exits with its result."""
    _mask_database_password(module, module.params.get('database'))
    binary = cached_binary(module)
    args = _given_options(module)
    args.update({
        '_ansible_module_name': fqcn,
        '_ansible_check_mode': module.check_mode,
        '_ansible_diff': module._diff,
    })
    fd, args_file = tempfile.mkstemp(prefix='hermes-relayhost-args-', dir=module.tmpdir)
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(args, f)
        rc, out, err = module.run_command([binary, args_file])
    finally:
        os.unlink(args_file)
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
