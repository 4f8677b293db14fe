# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hermes-relayhost contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Target side of the collection's modules: install and run the compiled hermes-relayhost binary.

The action plugin (plugins/plugin_utils/relay_action.py) runs a cached binary by itself, with one
shell command (no Python on the target). This module runs instead when that cannot be done: when
the binary is not cached yet (the plugin uploads it compressed; this code decompresses it into
the cache), for `async` tasks and over connections that cannot feed a command's stdin.

The cache is a per-user dir (`~/.cache/hermes_seg.relay`). Before it is used, every directory
from `/` down to it is checked as OpenSSH's StrictModes checks a home dir (see
`open_cache_dir`), and everything after that is done through the descriptor of the checked
directory, never again by path. The binary is opened once; that open file is checked (owner,
mode, SHA-256) and is what runs (`/proc/self/fd/N`), so no file put in its place after the
check can run instead. The task's options reach the binary in a private args file (0600, in
Ansible's remote temporary dir, removed afterwards).

It keeps Python 3.6 syntax: ansible-core 2.16 still manages targets that run it.
"""

import errno
import hashlib
import json
import os
import re
import stat
import tempfile
import zlib

try:
    import lzma
except ImportError:  # a Python built without liblzma
    lzma = None

from urllib.parse import unquote

from ansible.module_utils.basic import _load_params

# Set by the action plugin for this one module run.
ENV_BINARY = 'HERMES_RELAYHOST_BINARY'
ENV_SHA256 = 'HERMES_RELAYHOST_SHA256'
ENV_UPLOAD = 'HERMES_RELAYHOST_UPLOAD'
ENV_UPLOAD_FORMAT = 'HERMES_RELAYHOST_UPLOAD_FORMAT'

BINARY_PREFIX = 'hermes-relayhost-'
# The result key by which this module asks the action plugin for the upload in another format
# (the target's Python has no lzma).
RETRY_KEY = 'hermes_relay_upload_retry'

# The query parameters of a database URL that carry a password (MySQL client spellings).
PASSWORD_PARAMETERS = ('password', 'passwd', 'pass', 'pwd')

_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


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


def sha256_file(path):
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


class CacheRefused(Exception):
    """The cache dir, or a directory above it, is not safe to keep a binary that runs."""


def _describe(path, st):
    return '%s (uid %d, mode %04o)' % (path, st.st_uid, stat.S_IMODE(st.st_mode))


def _check_parent(parent, parent_st, child, child_lst, child_st, euid):
    """The rule for a directory (`parent`) above the cache dir, given its next component.

    As OpenSSH's StrictModes: owned by root or by us, and writable by no one else. One
    exception: a sticky directory writable by others (`/tmp`) is fine above a component that
    is ours and that only we can write, since no one else may rename or remove our entry in it.
    """
    if not stat.S_ISDIR(parent_st.st_mode):
        raise CacheRefused('%s is not a directory' % parent)
    if parent_st.st_uid not in (0, euid):
        raise CacheRefused('%s is owned by another user' % _describe(parent, parent_st))
    if parent_st.st_mode & _WRITABLE_BY_OTHERS:
        if not parent_st.st_mode & stat.S_ISVTX:
            raise CacheRefused('%s is writable by group or others' % _describe(parent, parent_st))
        if child_lst is not None and (child_lst.st_uid != euid or child_st.st_mode & _WRITABLE_BY_OTHERS):
            raise CacheRefused(
                '%s is in the shared directory %s but is not owned and writable by uid %d alone'
                % (_describe(child, child_lst), parent, euid))


def _check_named_path(path, euid):
    """Checks the directories of `path` as written (by path, following its symlinks): a
    symlink on the way must sit in a directory no one else can write. Stops at the first
    missing component (it is created later)."""
    parent = '/'
    parent_st = os.stat(parent)
    for name in [part for part in path.split('/') if part]:
        child = os.path.join(parent, name)
        try:
            child_lst = os.lstat(child)
        except OSError as e:
            if e.errno == errno.ENOENT:
                _check_parent(parent, parent_st, child, None, None, euid)
                return
            raise
        try:
            child_st = os.stat(child)
        except OSError:
            raise CacheRefused('%s is a dangling symlink' % child)
        _check_parent(parent, parent_st, child, child_lst, child_st, euid)
        parent, parent_st = child, child_st


def _open_dir(name, dir_fd):
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)


def open_cache_dir(path):
    """The descriptor of the cache dir `path` (absolute), created 0700 with any missing parent.

    Refuses (CacheRefused) unless `/` and every directory down to it are owned by root or by us
    and writable by no one else (sticky shared directories aside, see `_check_parent`), and the
    cache dir itself is ours; its mode is then set to 0700 if it holds nothing else (else it
    must be writable by no one else). The physical path is walked one
    descriptor at a time, without following symlinks, so what is checked is what is used; the
    path as written is checked too (its symlinks must not be anyone else's to change).
    """
    euid = os.geteuid()
    _check_named_path(path, euid)
    fd = _open_dir('/', None)
    try:
        current, current_st = '/', os.fstat(fd)
        for name in [part for part in os.path.realpath(path).split('/') if part]:
            child = os.path.join(current, name)
            try:
                child_fd = _open_dir(name, fd)
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise CacheRefused('%s changed while it was being checked (%s)' % (child, e.strerror))
                try:
                    os.mkdir(name, 0o700, dir_fd=fd)
                except OSError as e:
                    if e.errno != errno.EEXIST:
                        raise
                child_fd = _open_dir(name, fd)
            child_st = os.fstat(child_fd)
            try:
                _check_parent(current, current_st, child, child_st, child_st, euid)
            except BaseException:
                os.close(child_fd)
                raise
            os.close(fd)
            fd, current, current_st = child_fd, child, child_st
        if not stat.S_ISDIR(current_st.st_mode) or current_st.st_uid != euid:
            raise CacheRefused('%s is not a directory owned by uid %d' % (_describe(current, current_st), euid))
        if stat.S_IMODE(current_st.st_mode) != 0o700:
            # Made private, unless it is a directory of other uses (`/tmp` named by mistake).
            others = [n for n in os.listdir(fd) if not n.startswith((BINARY_PREFIX, '.upload-'))]
            if not others:
                os.fchmod(fd, 0o700)
            elif current_st.st_mode & _WRITABLE_BY_OTHERS:
                raise CacheRefused('%s is writable by group or others and holds other files'
                                   % _describe(current, current_st))
        return fd
    except BaseException:
        os.close(fd)
        raise


def refusal_message(path, why, uid=None):
    """The task failure for a cache that is not safe (`uid`: the user it is checked for)."""
    uid = os.geteuid() if uid is None else uid
    return ('refusing to use the hermes-relayhost binary cache %s: %s. The cache and every '
            'directory above it must be owned by root or uid %s and writable by no one else (a '
            'sticky directory such as /tmp only above a directory that uid %s owns and alone '
            'can write); set hermes_relay_cache_dir to such a directory'
            % (path, why, uid, uid))


def _decompressor(fmt):
    if fmt == 'xz':
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    if fmt == 'gz':
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    return None


def _install(module, cache_fd, upload, fmt, name, want):
    """Decompresses the uploaded binary into the cache under its final name, atomically (a
    private temp file, fsync, rename), checking its SHA-256 on the way; then drops the copies of
    other versions."""
    tmp = '.upload-%s' % os.urandom(8).hex()
    out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                  dir_fd=cache_fd)
    try:
        digest = hashlib.sha256()
        decompressor = _decompressor(fmt)
        with os.fdopen(out, 'wb') as dst, open(upload, 'rb') as src:
            for block in iter(lambda: src.read(1 << 20), b''):
                data = decompressor.decompress(block) if decompressor else block
                digest.update(data)
                dst.write(data)
            if decompressor is not None:
                rest = decompressor.flush() if fmt == 'gz' else b''
                digest.update(rest)
                dst.write(rest)
                if not decompressor.eof:
                    digest.update(b'truncated')
            dst.flush()
            os.fchmod(dst.fileno(), 0o700)
            os.fsync(dst.fileno())
        if digest.hexdigest() != want:
            module.fail_json(msg='the uploaded hermes-relayhost binary is corrupt (SHA-256 '
                                 'mismatch); run the task again')
        os.rename(tmp, name, src_dir_fd=cache_fd, dst_dir_fd=cache_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=cache_fd)
        except OSError:
            pass
        raise
    for other in os.listdir(cache_fd):
        if other.startswith(BINARY_PREFIX) and other != name:
            os.unlink(other, dir_fd=cache_fd)
    os.fsync(cache_fd)


def _open_verified(cache_fd, name, want):
    """Opens the cached binary once and checks that open file: a regular file of ours that no
    one else can write, with the expected SHA-256. Returns its descriptor, or None (and removes
    a file that does not match) when it is not the expected binary."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cache_fd)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ELOOP):
            return None
        raise
    st = os.fstat(fd)
    ok = (stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()
          and not st.st_mode & _WRITABLE_BY_OTHERS)
    if ok:
        digest = hashlib.sha256()
        for block in iter(lambda: os.read(fd, 1 << 20), b''):
            digest.update(block)
        ok = digest.hexdigest() == want
    if not ok:
        os.close(fd)
        try:
            os.unlink(name, dir_fd=cache_fd)
        except OSError:
            pass
        return None
    return fd


def cached_binary(module):
    """The descriptor of the verified cached binary (installing the upload first, if any)."""
    target = os.environ.get(ENV_BINARY)
    want = os.environ.get(ENV_SHA256)
    if not target or not want:
        module.fail_json(msg='%s runs through its action plugin, which places the '
                             'hermes-relayhost binary; call it by its name, not as '
                             'ansible.legacy or through a copied module file' % module._name)
    target = os.path.abspath(os.path.expanduser(target))
    cache, name = os.path.split(target)
    upload = os.environ.get(ENV_UPLOAD)
    fmt = os.environ.get(ENV_UPLOAD_FORMAT, '')
    if upload and fmt == 'xz' and lzma is None:
        module.fail_json(msg='the Python on this host has no lzma module; uploading the '
                             'hermes-relayhost binary gzip-compressed instead', **{RETRY_KEY: 'gz'})
    try:
        cache_fd = open_cache_dir(cache)
    except CacheRefused as e:
        module.fail_json(msg=refusal_message(cache, e))
    try:
        if upload:
            _install(module, cache_fd, upload, fmt, name, want)
        fd = _open_verified(cache_fd, name, want)
    finally:
        os.close(cache_fd)
    if fd is None:
        module.fail_json(msg='the cached hermes-relayhost binary %s is missing or does not match '
                             'the collection\'s; it is uploaded again on the next run' % target)
    return fd


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
    fd = cached_binary(module)
    executable = '/proc/self/fd/%d' % fd
    if not os.path.exists(executable):
        module.fail_json(msg='/proc is not mounted: hermes-relayhost runs the binary it checked '
                             'through /proc/self/fd')
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
