# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hermes-relayhost contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of the collection's modules: the hermes-relayhost binary reaches a host once.

Each task is one remote shell command (`remote_script`), the task's options on its stdin. It
checks the per-user cache dir (`~/.cache/hermes_seg.relay`) and every directory above it (see
plugins/module_utils/relay_binary.py), opens the cached binary for the target's architecture
once, checks that open file (ours, writable by no one else, the SHA-256 of the binary this
collection holds) and runs it (`/proc/self/fd/3`), which reads the options from stdin: no
Python, no file on the target. The binary masks its secrets; this plugin masks them once more
(the module's no_log options and any password in the `database` URL), as Ansible masks a
module's. Check mode and diff reach the binary as they reach a module.

When the binary is not cached (the first run, or a new build), the command says so and runs
nothing. The binary is then uploaded xz-compressed into the task's temporary dir, and one more
command (`install_script`) runs the target's Python on module_utils/relay_cache.py, sent as
`python -c`: it decompresses the binary into the cache, checks it the same way and becomes it,
the options again on stdin. No AnsiballZ payload travels, so a first run sends little more than
the compressed binary. The Python module (plugins/modules/*.py through
module_utils/relay_binary.py) runs instead for `async` tasks (Ansible's async wrapper is
Python) and over a connection or become method that cannot feed a command's stdin (paramiko,
su).

Everything the command prints comes after a marker line unique to the task, so whatever the
remote login shell prints first (a motd, a banner, a profile script; with `ssh -tt` stderr lands
in stdout too) is skipped.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import hashlib
import json
import os
import re
import secrets
import zlib
from collections.abc import Mapping

try:
    import lzma
except ImportError:  # a controller Python built without liblzma
    lzma = None

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash
from ansible_collections.hermes_seg.relay.plugins.module_utils.relay_binary import (
    ENV_BINARY,
    ENV_SHA256,
    ENV_UPLOAD,
    ENV_UPLOAD_FORMAT,
    RETRY_KEY,
    database_secrets,
    refusal_message,
)
from ansible_collections.hermes_seg.relay.plugins.module_utils.relay_cache import BINARY_PREFIX

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# files/<arch>/hermes-relayhost, <arch> as `uname -m` (and ansible_architecture) names it.
BINARIES = os.path.join(COLLECTION_ROOT, 'files')
BINARY_NAME = 'hermes-relayhost'
# The first run's `python -c` (install_script) runs this file.
INSTALL_CODE = os.path.join(COLLECTION_ROOT, 'plugins', 'module_utils', 'relay_cache.py')
DEFAULT_CACHE_DIR = '~/.cache/hermes_seg.relay'
BUILD_HINT = (
    'Install a release of the collection (ansible-galaxy collection install '
    'hermes_seg-relay-VERSION.tar.gz, which holds the binaries), or build them into this copy '
    'from a clone of hermes-relayhost with modules/ansible/build.sh'
)
# Binaries larger than this (unstripped or debug builds) are compressed with a fast xz preset.
LARGE_BINARY = 16 << 20
MARKER = 'HERMES_RELAY'

_hashes = {}


def sha256_file(path):
    """Hex SHA-256 of a local file (remembered per size and mtime for this process)."""
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _hashes:
        digest = hashlib.sha256()
        with open(path, 'rb') as f:
            for block in iter(lambda: f.read(1 << 20), b''):
                digest.update(block)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def available_architectures():
    """The architectures this copy of the collection holds a binary for."""
    if not os.path.isdir(BINARIES):
        return []
    return sorted(
        arch for arch in os.listdir(BINARIES)
        if re.match(r'^[A-Za-z0-9_]+$', arch) and os.path.isfile(os.path.join(BINARIES, arch, BINARY_NAME))
    )


def local_binaries():
    """{arch: (path, sha256)} of the binaries this copy holds, or a task failure that says how
    to get one."""
    have = available_architectures()
    if not have:
        raise AnsibleActionFail(
            'this copy of hermes_seg.relay (%s) holds no hermes-relayhost binary: a collection '
            'built or installed from the git tree has none. %s.' % (COLLECTION_ROOT, BUILD_HINT))
    binaries = {}
    for arch in have:
        path = os.path.join(BINARIES, arch, BINARY_NAME)
        binaries[arch] = (path, sha256_file(path))
    return binaries


def local_binary(binaries, system, arch):
    """The binary for a target, or a task failure that says how to build one."""
    if system != 'Linux' or arch not in binaries:
        raise AnsibleActionFail(
            'the target runs %s on %s; hermes_seg.relay holds hermes-relayhost binaries for '
            'Linux on %s only. Build one for this architecture with '
            'modules/ansible/build.sh %s (it needs the Rust standard library for that target), '
            'or manage this host from a controller whose copy of the collection has it.'
            % (system, arch, ', '.join(sorted(binaries)), arch))
    return binaries[arch]


def compression_for(async_task):
    """xz (Python's lzma on the target decompresses it) unless the controller cannot make it;
    gzip for async tasks, whose module cannot ask for another format."""
    return 'gz' if async_task or lzma is None else 'xz'


def compressed(local, sha256, fmt, arch):
    """The controller's compressed copy of a binary, made once per binary (and format) and kept
    under ANSIBLE_HOME: files/<sha256>.<fmt>/hermes-relayhost. Concurrent forks wait for the
    first one to finish it."""
    for base in (getattr(C, 'ANSIBLE_HOME', None) or '~/.ansible', C.DEFAULT_LOCAL_TMP):
        directory = os.path.join(os.path.expanduser(base), 'hermes_seg.relay', 'files', '%s.%s' % (sha256, fmt))
        try:
            os.makedirs(directory, 0o700, exist_ok=True)
            lock = os.open(os.path.join(directory, '.lock'), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            continue
        path = os.path.join(directory, BINARY_NAME)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.exists(path):
                tmp = '%s.%d.tmp' % (path, os.getpid())
                with open(local, 'rb') as src, open(tmp, 'wb') as dst:
                    _compress(src, dst, fmt, arch, os.fstat(src.fileno()).st_size)
                os.rename(tmp, path)
            return path
        finally:
            os.close(lock)
    raise AnsibleActionFail('cannot write the compressed hermes-relayhost binary under ANSIBLE_HOME or %s'
                            % C.DEFAULT_LOCAL_TMP)


def _compress(src, dst, fmt, arch, size):
    if fmt == 'xz':
        preset = 6 if size <= LARGE_BINARY else 0
        filters = [{'id': lzma.FILTER_LZMA2, 'preset': preset}]
        if arch in ('x86_64', 'i686', 'i386'):
            # The branch converter for x86 code: 4-5% smaller; every liblzma decodes it.
            filters.insert(0, {'id': lzma.FILTER_X86})
        packer = lzma.LZMACompressor(format=lzma.FORMAT_XZ, filters=filters)
    else:
        packer = zlib.compressobj(9 if size <= LARGE_BINARY else 1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for block in iter(lambda: src.read(1 << 20), b''):
        dst.write(packer.compress(block))
    dst.write(packer.flush())


# The remote side of a task, in POSIX sh. hr_walk checks a path as
# module_utils/relay_binary.py:open_cache_dir does (0: safe, 1: refused with $hr_why, 2: missing
# or to be fixed by the module); stat's raw hex mode (%f) keeps it locale-free.
_SCRIPT = r'''umask 077
printf '%s_%s\n' __MARKER__ __TOKEN__
hr_s=$(uname -sm 2>/dev/null) || hr_s=
printf 'system %s\n' "$hr_s"
hr_u=$(id -u)
printf 'uid %s\n' "$hr_u"
hr_h=
hr_n=
case $hr_s in
__CASES__
esac
hr_d=__CACHE__
hr_why=
hr_desc() {
  hr_why=$(printf '%s (uid %s, mode %04o) %s' "$1" "$2" "$((0x$3 & 4095))" "$4")
}
hr_walk() {
  hr_p=/
  hr_rest=$1
  set -- $(stat -Lc '%u %f' / 2>/dev/null)
  [ -n "$2" ] || return 2
  while :; do
    hr_uid=$1
    hr_mode=$2
    if [ $((0x$hr_mode & 61440)) != 16384 ]; then hr_why="$hr_p is not a directory"; return 1; fi
    if [ "$hr_uid" != 0 ] && [ "$hr_uid" != "$hr_u" ]; then
      hr_desc "$hr_p" "$hr_uid" "$hr_mode" 'is owned by another user'; return 1
    fi
    while :; do case $hr_rest in /*) hr_rest=${hr_rest#/} ;; *) break ;; esac; done
    [ -n "$hr_rest" ] || break
    hr_name=${hr_rest%%/*}
    hr_rest=${hr_rest#"$hr_name"}
    if [ "$hr_p" = / ]; then hr_c=/$hr_name; else hr_c=$hr_p/$hr_name; fi
    if [ $((0x$hr_mode & 18)) != 0 ] && [ $((0x$hr_mode & 512)) = 0 ]; then
      hr_desc "$hr_p" "$hr_uid" "$hr_mode" 'is writable by group or others'; return 1
    fi
    set -- $(stat -Lc '%u %f' -- "$hr_c" 2>/dev/null)
    [ -n "$2" ] || return 2
    if [ $((0x$hr_mode & 18)) != 0 ]; then
      hr_l=$(stat -c %u -- "$hr_c" 2>/dev/null)
      if [ "$hr_l" != "$hr_u" ] || [ $((0x$2 & 18)) != 0 ]; then
        hr_desc "$hr_c" "$hr_l" "$2" "is in the shared directory $hr_p but is not owned and writable by uid $hr_u alone"
        return 1
      fi
    fi
    hr_p=$hr_c
  done
  if [ "$hr_uid" != "$hr_u" ]; then hr_desc "$hr_p" "$hr_uid" "$hr_mode" "is not owned by uid $hr_u"; return 1; fi
  [ $((0x$hr_mode & 4095)) = 448 ] || return 2
}
__WALK__
if [ -z "$hr_h" ]; then
  echo 'cache unsupported'
elif [ $hr_rc = 1 ]; then
  printf 'cache refused %s\n' "$hr_why"
elif [ $hr_rc = 0 ] && command exec 3<"$hr_d/$hr_n" 2>/dev/null; then
  set -- $(stat -Lc '%u %f' /proc/self/fd/3 2>/dev/null)
  hr_sum=
  if [ "$1" = "$hr_u" ] && [ -n "$2" ] && [ $((0x$2 & 61440)) = 32768 ] && [ $((0x$2 & 18)) = 0 ]; then
    hr_sum=$(sha256sum <&3 2>/dev/null) || hr_sum=
  fi
  if [ "${hr_sum%% *}" = "$hr_h" ]; then
    __RUN__
    echo 'cache ok'
  else
    echo 'cache missing'
  fi
else
  echo 'cache missing'
fi
'''

# In a direct run the path is checked (in a report-only run the module checks it): the
# path as written, then the physical one.
_WALK = '''hr_rc=2
case $hr_d in
  /*)
    hr_walk "$hr_d"
    hr_rc=$?
    if [ $hr_rc = 0 ]; then
      hr_r=$(cd -P -- "$hr_d" 2>/dev/null && pwd -P) || hr_r=
      if [ -n "$hr_r" ]; then hr_walk "$hr_r"; hr_rc=$?; else hr_rc=2; fi
    fi ;;
esac'''

# In a direct run: the marker, then the binary replaces the shell, the options on its stdin;
# the task's `environment` applies to it as to a module.
_RUN = '''echo run
    __ENV__exec /proc/self/fd/3 -'''


def remote_script(cache_dir, binaries, token, direct, env_string=''):
    """The one remote command of a task (see _SCRIPT). `direct`: check the cache's path and run
    the binary when it is cached and checks out; else only report whether it is cached (the
    module that runs next checks the path)."""
    cases = '\n'.join(
        "  'Linux %s') hr_h=%s; hr_n=%s ;;" % (arch, sha256, BINARY_PREFIX + sha256[:16])
        for arch, (_path, sha256) in sorted(binaries.items())
    )
    run, walk = ':', 'hr_rc=0'
    if direct:
        run = _RUN.replace('__ENV__', 'export %s\n    ' % env_string if env_string else '')
        walk = _WALK
    script = (_SCRIPT.replace('__MARKER__', MARKER).replace('__TOKEN__', token)
              .replace('__CASES__', cases).replace('__CACHE__', cache_dir).replace('__WALK__', walk)
              .replace('__RUN__', run))
    if direct:
        # The options were not used: read them, so the sender is never cut off.
        script += 'cat >/dev/null\n'
    return script


# The first run (see install_script): the target's Python runs module_utils/relay_cache.py.
_INSTALL = r'''umask 077
printf '%s_%s\n' __MARKER__ __TOKEN__
__ENV__for hr_py in __PYTHONS__; do
  if command -v "$hr_py" >/dev/null 2>&1; then
    exec "$hr_py" -c __CODE__ __TARGET__ __SHA256__ __UPLOAD__ __FORMAT__
  fi
done
echo 'fail no Python to install hermes-relayhost with on the target (tried: __TRIED__); set ansible_python_interpreter'
cat >/dev/null
'''


@functools.lru_cache(maxsize=None)
def install_code():
    """relay_cache.py as the `python -c` program: compressed (a third of the bytes) and in
    base64, which needs no quoting in any shell or become wrapper and keeps the command one
    line."""
    with open(INSTALL_CODE, 'rb') as f:
        packed = base64.b64encode(zlib.compress(f.read(), 9)).decode('ascii')
    return 'import base64,zlib;exec(zlib.decompress(base64.b64decode("%s")))' % packed


def install_script(quote, pythons, target, sha256, upload, fmt, token, env_string=''):
    """The command that installs the uploaded binary into the cache and runs it on the options
    (its stdin): the first Python of `pythons` found runs relay_cache.py's `main`. `target` is
    the cached binary's path, quoted for the shell already (a leading `~` expands there)."""
    return (_INSTALL.replace('__MARKER__', MARKER).replace('__TOKEN__', token)
            .replace('__ENV__', 'export %s\n' % env_string if env_string else '')
            .replace('__PYTHONS__', ' '.join(quote(p) for p in pythons))
            .replace('__TRIED__', ', '.join(pythons).replace("'", ''))
            .replace('__TARGET__', target).replace('__SHA256__', sha256)
            .replace('__UPLOAD__', quote(upload)).replace('__FORMAT__', fmt)
            .replace('__CODE__', quote(install_code())))


class Reply:
    """What the remote command printed after its marker line."""

    def __init__(self, res, token):
        self.rc = res.get('rc')
        self.stdout = res.get('stdout', '') or ''
        self.stderr = res.get('stderr', '') or ''
        self.system = self.uid = self.cache = self.why = self.output = None
        self.retry = self.fail = None
        self.ran = False
        found = None
        for found in re.finditer(r'^%s_%s\r?$' % (MARKER, token), self.stdout, re.M):
            pass
        self.marker = found is not None
        if not self.marker:
            return
        body = self.stdout[found.end():]
        offset = 0
        for line in body.splitlines(True):
            offset += len(line)
            text = line.rstrip('\r\n')
            key, _sep, value = text.partition(' ')
            if key == 'system' and self.system is None:
                self.system = value.strip()
            elif key == 'uid' and self.uid is None:
                self.uid = value.strip()
            elif key == 'cache' and self.cache is None:
                self.cache, _sep, self.why = value.partition(' ')
            elif key == 'retry' and self.retry is None:
                self.retry = value.strip()
            elif key == 'fail' and self.fail is None:
                self.fail = value.strip()
            elif text == 'run':
                self.ran = True
                self.output = body[offset:]
                break

    def shown(self):
        """What the command printed, for an error message: stdout (where a pty also puts
        stderr) and stderr."""
        return ' '.join(part.strip() for part in (self.stdout, self.stderr) if part.strip()) or '(no output)'


def _plain(value):
    """Task arguments as plain JSON types."""
    if isinstance(value, Mapping):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def no_log_values(args):
    """The values Ansible would mask for the module (its no_log options: `password`, the
    `transport_auth` passwords) and the password of a `database` URL in any form."""
    found = set()
    if args.get('password') not in (None, ''):
        found.add(str(args['password']))
    items = args.get('transport_auth')
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and item.get('password') not in (None, ''):
                found.add(str(item['password']))
    found |= database_secrets(args.get('database'))
    return found


class RelayBinaryAction(ActionBase):
    """Runs the cached binary on the target; places it there first when needed."""

    _supports_check_mode = True
    _supports_async = True

    MODULE = ''

    def run(self, tmp=None, task_vars=None):
        result = super(RelayBinaryAction, self).run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        task_vars = task_vars or {}
        wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
        try:
            result = merge_hash(result, self._run(task_vars, wrap_async))
        finally:
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _run(self, task_vars, wrap_async):
        cache_dir = str(self._templar.template(task_vars.get('hermes_relay_cache_dir', DEFAULT_CACHE_DIR)))
        if not cache_dir.startswith(('/', '~')):
            raise AnsibleActionFail('hermes_relay_cache_dir must be an absolute path or start with ~, not %r'
                                    % cache_dir)
        binaries = local_binaries()
        args = self._binary_args()
        secret_values = no_log_values(args)
        direct = not wrap_async and self._can_feed_stdin()

        reply = self._remote(cache_dir, binaries, direct, args)
        if direct and not reply.marker:
            # The command never started (a sudo that wants a tty, ...): ask once more, and
            # run the module, as modules run.
            direct = False
            reply = self._remote(cache_dir, binaries, False, None)
        if reply.ran:
            return self._binary_result(reply, secret_values)
        if not reply.marker or len((reply.system or '').split()) != 2:
            raise AnsibleActionFail('cannot read the target\'s system and architecture (uname -sm): %s'
                                    % reply.shown())
        if reply.cache == 'refused':
            raise AnsibleActionFail(refusal_message(cache_dir, reply.why, reply.uid))
        system, arch = reply.system.split()
        local, sha256 = local_binary(binaries, system, arch)
        target = cache_dir.rstrip('/') + '/' + BINARY_PREFIX + sha256[:16]
        fmt = compression_for(wrap_async)
        if direct:
            return self._install_and_run(task_vars, target, (local, sha256, arch), fmt, args,
                                         secret_values, reply.uid)
        env = {ENV_BINARY: target, ENV_SHA256: sha256}
        if reply.cache != 'ok':
            env.update(self._upload(local, sha256, fmt, arch))
        result = self._run_module(env, task_vars, wrap_async)
        if result.get(RETRY_KEY) and ENV_UPLOAD in env:
            env.update(self._upload(local, sha256, result[RETRY_KEY], arch))
            result = self._run_module(env, task_vars, wrap_async)
        result.pop(RETRY_KEY, None)
        return result

    def _can_feed_stdin(self):
        """Whether a command can get the options on stdin (what pipelining needs)."""
        become = getattr(self._connection, 'become', None)
        return bool(self._connection.has_pipelining) and getattr(become, 'name', '') != 'su'

    def _binary_args(self):
        """The options as the task gives them (module_defaults merged, nulls left out: the
        binary tells `omitted` from `default`), and what it needs to know of the run."""
        args = dict((name, _plain(value)) for name, value in self._task.args.items()
                    if value is not None and not name.startswith('_ansible_'))
        args.update({
            '_ansible_module_name': self.MODULE,
            '_ansible_check_mode': bool(self._task.check_mode),
            '_ansible_diff': bool(self._task.diff),
        })
        return args

    def _remote(self, cache_dir, binaries, direct, args):
        token = secrets.token_hex(12)
        env_string = self._compute_environment_string() if direct else ''
        script = remote_script(self._shell_path(cache_dir), binaries, token, direct, env_string)
        in_data = json.dumps(args).encode('utf-8') if direct else None
        return Reply(self._low_level_execute_command(script, sudoable=True, in_data=in_data), token)

    def _binary_result(self, reply, secret_values):
        """The binary's result object as the task's, masked as Ansible masks a module's."""
        text = reply.output or ''
        start = text.find('{')
        data = None
        if start >= 0:
            try:
                data = json.JSONDecoder().raw_decode(text[start:])[0]
            except ValueError:
                data = None
        if not isinstance(data, dict):
            shown = (reply.stderr.strip() or text.strip())[-2000:]
            return remove_values({
                'failed': True,
                'msg': 'hermes-relayhost printed no JSON result (exit %s): %s' % (reply.rc, shown),
            }, secret_values)
        warnings = data.pop('warnings', None) or []
        if data.pop('failed', False):
            data['failed'] = True
            data.setdefault('msg', 'hermes-relayhost failed')
        if warnings:
            data['warnings'] = [str(w) for w in warnings]
        return remove_values(data, secret_values)

    def _install_and_run(self, task_vars, target, binary, fmt, args, secret_values, uid):
        """Uploads the binary, then installs it into the cache and runs it in one command
        (install_script); once more gzip-compressed if the target's Python has no lzma."""
        local, sha256, arch = binary
        cache_dir = target.rpartition('/')[0]
        pythons = self._pythons(task_vars)
        env_string = self._compute_environment_string()
        quote = self._connection._shell.quote
        while True:
            upload = self._upload(local, sha256, fmt, arch)[ENV_UPLOAD]
            token = secrets.token_hex(12)
            script = install_script(quote, pythons, self._shell_path(target), sha256, upload, fmt,
                                    token, env_string)
            reply = Reply(self._low_level_execute_command(
                script, sudoable=True, in_data=json.dumps(args).encode('utf-8')), token)
            if reply.retry == 'gz' and fmt != 'gz':
                fmt = 'gz'
                continue
            break
        if reply.ran:
            return self._binary_result(reply, secret_values)
        if reply.cache == 'refused':
            raise AnsibleActionFail(refusal_message(cache_dir, reply.why, uid))
        if reply.fail:
            raise AnsibleActionFail(reply.fail)
        raise AnsibleActionFail(remove_values(
            'installing hermes-relayhost into %s failed (exit %s): %s'
            % (cache_dir, reply.rc, reply.shown()[-2000:]), secret_values))

    def _pythons(self, task_vars):
        """The target's Python for the install command, as Ansible picks it for a module: the
        configured interpreter, else the one it discovered, else its fallback list (the first
        one found runs)."""
        for value in (task_vars.get('ansible_python_interpreter'),
                      (task_vars.get('ansible_facts') or {}).get('discovered_interpreter_python'),
                      C.config.get_config_value('INTERPRETER_PYTHON', variables=task_vars)):
            value = str(self._templar.template(value)) if value else ''
            # `auto`, `auto_silent`, ...: Ansible would discover one; take its list.
            if value and not value.startswith('auto'):
                return [value]
        return [str(p) for p in C.config.get_config_value('INTERPRETER_PYTHON_FALLBACK', variables=task_vars)]

    def _upload(self, local, sha256, fmt, arch):
        """Puts the compressed binary into the task's temporary dir; the module's environment."""
        packed = compressed(local, sha256, fmt, arch)
        tmpdir = self._connection._shell.tmpdir or self._make_tmp_path()
        upload = self._connection._shell.join_path(tmpdir, '%s.%s' % (BINARY_NAME, fmt))
        self._transfer_file(packed, upload)
        self._fixup_perms2((tmpdir, upload), execute=False)
        return {ENV_UPLOAD: upload, ENV_UPLOAD_FORMAT: fmt}

    def _run_module(self, env, task_vars, wrap_async):
        """Runs MODULE (Python) with `env` added to the task's environment."""
        saved = self._task.environment
        environments = saved if isinstance(saved, list) else [saved] if saved else []
        try:
            self._task.environment = environments + [env]
            return self._execute_module(module_name=self.MODULE, module_args=dict(self._task.args),
                                        task_vars=task_vars, wrap_async=wrap_async)
        finally:
            self._task.environment = saved

    def _shell_path(self, path):
        """`path` quoted for the remote shell, a leading `~` or `~user` left to expand."""
        head, slash, rest = path.partition('/')
        if re.match(r'^~[\w.-]*$', head):
            return head + slash + (self._connection._shell.quote(rest) if rest else '')
        return self._connection._shell.quote(path)
