# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hermes-relayhost contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of the collection's modules: the hermes-relayhost binary reaches a host once.

One cheap remote command reads the target's OS and architecture and the SHA-256 of the binaries
already in its per-user cache dir. Only when the binary this collection holds for that
architecture is not among them is it uploaded, into the task's temporary dir; the module
(plugins/module_utils/relay_binary.py) then installs it into the cache, checks the cached copy
against the SHA-256 and runs it. The environment tells the module where the binary is, as
ansible-core tells async_wrapper its ANSIBLE_ASYNC_DIR. The module being an ordinary Python
module, Ansible itself handles check mode, diff, no_log (the password) and async.
"""

from __future__ import annotations

import hashlib
import os
import re

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash
from ansible_collections.hermes_seg.relay.plugins.module_utils.relay_binary import (
    BINARY_PREFIX,
    ENV_BINARY,
    ENV_SHA256,
    ENV_UPLOAD,
)

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# files/<arch>/hermes-relayhost, <arch> as `uname -m` (and ansible_architecture) names it.
BINARIES = os.path.join(COLLECTION_ROOT, 'files')
BINARY_NAME = 'hermes-relayhost'
DEFAULT_CACHE_DIR = '~/.cache/hermes_seg.relay'
BUILD_HINT = (
    'Install a release of the collection (ansible-galaxy collection install '
    'hermes_seg-relay-VERSION.tar.gz, which holds the binaries), or build them into this copy '
    'from a clone of hermes-relayhost with modules/ansible/build.sh'
)


def sha256_file(path):
    """Hex SHA-256 of a local file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def available_architectures():
    """The architectures this copy of the collection holds a binary for."""
    if not os.path.isdir(BINARIES):
        return []
    return sorted(
        arch for arch in os.listdir(BINARIES)
        if os.path.isfile(os.path.join(BINARIES, arch, BINARY_NAME))
    )


def local_binary(system, arch):
    """The binary for a target, or a task failure that says how to get one."""
    have = available_architectures()
    if not have:
        raise AnsibleActionFail(
            'this copy of hermes_seg.relay (%s) holds no hermes-relayhost binary: a collection '
            'built or installed from the git tree has none. %s.' % (COLLECTION_ROOT, BUILD_HINT))
    if system != 'Linux' or arch not in have:
        raise AnsibleActionFail(
            'the target runs %s on %s; hermes_seg.relay holds hermes-relayhost binaries for '
            'Linux on %s only. Build one for this architecture with '
            'modules/ansible/build.sh %s (it needs the Rust standard library for that target), '
            'or manage this host from a controller whose copy of the collection has it.'
            % (system, arch, ', '.join(have), arch))
    return os.path.join(BINARIES, arch, BINARY_NAME)


class RelayBinaryAction(ActionBase):
    """Places the binary on the target when needed, then runs MODULE, which executes it."""

    _supports_check_mode = True
    _supports_async = True

    MODULE = ''

    def run(self, tmp=None, task_vars=None):
        result = super(RelayBinaryAction, self).run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        wrap_async = self._task.async_val and not self._connection.has_native_async

        saved = self._task.environment
        environments = saved if isinstance(saved, list) else [saved] if saved else []
        try:
            self._task.environment = environments + [self._ensure_binary(task_vars or {})]
            result = merge_hash(result, self._execute_module(
                module_name=self.MODULE, task_vars=task_vars, wrap_async=wrap_async))
        finally:
            self._task.environment = saved
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _ensure_binary(self, task_vars):
        """Uploads the binary unless the cache has it; returns the module's environment."""
        cache_dir = self._templar.template(task_vars.get('hermes_relay_cache_dir', DEFAULT_CACHE_DIR))
        cmd = 'uname -sm; sha256sum -- %s/%s* 2>/dev/null; exit 0' % (
            self._shell_path(cache_dir), BINARY_PREFIX)
        probe = self._low_level_execute_command(cmd)
        lines = probe.get('stdout', '').splitlines()
        if probe.get('rc') != 0 or not lines or len(lines[0].split()) != 2:
            raise AnsibleActionFail('cannot read the target\'s system and architecture (uname -sm): %s'
                                    % (probe.get('stderr') or probe.get('stdout')).strip())
        system, arch = lines[0].split()
        local = local_binary(system, arch)
        sha256 = sha256_file(local)
        name = BINARY_PREFIX + sha256[:16]
        cached = dict(
            (os.path.basename(fields[1].lstrip('*')), fields[0])
            for fields in (line.split(None, 1) for line in lines[1:]) if len(fields) == 2
        )
        env = {ENV_BINARY: cache_dir.rstrip('/') + '/' + name, ENV_SHA256: sha256}
        if cached.get(name) != sha256:
            tmpdir = self._connection._shell.tmpdir or self._make_tmp_path()
            upload = self._connection._shell.join_path(tmpdir, BINARY_NAME)
            self._transfer_file(local, upload)
            self._fixup_perms2((tmpdir, upload), execute=False)
            env[ENV_UPLOAD] = upload
        return env

    def _shell_path(self, path):
        """`path` quoted for the remote shell, a leading `~` or `~user` left to expand."""
        head, slash, rest = path.partition('/')
        if re.match(r'^~[\w.-]*$', head):
            return head + slash + (self._connection._shell.quote(rest) if rest else '')
        return self._connection._shell.quote(path)
