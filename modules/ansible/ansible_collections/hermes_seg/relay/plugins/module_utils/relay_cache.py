# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hermes-relayhost contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Target side, without Ansible: the per-user binary cache, checked, filled and read safely.

The cache is a per-user dir (`~/.cache/hermes_seg.relay`). Before it is used, every directory
from `/` down to it is checked as OpenSSH's StrictModes checks a home dir (see
`open_cache_dir`), and everything after that is done through the descriptor of the checked
directory, never again by path. The binary is opened once; that open file is checked (owner,
mode, SHA-256) and is what runs (`/proc/self/fd/N`), so no file put in its place after the
check can run instead.

Two users: the Python module (module_utils/relay_binary.py, through AnsiballZ) imports it, and
the action plugin sends this file's text as `python -c` (no AnsiballZ payload: the first run of
a task sends the compressed binary and little else). Run that way (`main`), it installs the
uploaded binary, prints `run` and becomes the binary, which reads the task's options from the
same stdin; or it prints one line that says why not (`retry gz`, `cache refused WHY`, `fail
WHY`). So it imports nothing of Ansible.

It keeps Python 3.6 syntax: ansible-core 2.16 still manages targets that run it.
"""

import errno
import hashlib
import os
import stat
import sys
import zlib

try:
    import lzma
except ImportError:  # a Python built without liblzma
    lzma = None

BINARY_PREFIX = 'hermes-relayhost-'

_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


class CacheRefused(Exception):
    """The cache dir, or a directory above it, is not safe to keep a binary that runs."""


class CannotRun(Exception):
    """The binary cannot be run from the cache: a corrupt upload, a missing or mismatched
    cached copy, no /proc."""


class NeedsGzip(Exception):
    """The upload is xz-compressed and this Python has no lzma module."""


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


def _decompressor(fmt):
    if fmt == 'xz':
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    if fmt == 'gz':
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    return None


def install(cache_fd, upload, fmt, name, want):
    """Decompresses the uploaded binary into the cache under its final name, atomically (a
    private temp file, fsync, rename), checking its SHA-256 on the way (CannotRun); then
    drops the copies of other versions."""
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
            raise CannotRun('the uploaded hermes-relayhost binary is corrupt (SHA-256 '
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


def open_verified(cache_fd, name, want):
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


def verified_binary(target, want, upload=None, fmt=''):
    """(N, `/proc/self/fd/N`): the cached binary `target` (`~` expanded), opened once as the
    inheritable descriptor N and checked (`open_verified`) after installing the upload, if any,
    and the path that runs it. Raises NeedsGzip, CacheRefused or CannotRun, which the callers
    (`main`, and relay_binary.py's module) only put into words."""
    target = os.path.abspath(os.path.expanduser(target))
    cache, name = os.path.split(target)
    if upload and fmt == 'xz' and lzma is None:
        raise NeedsGzip()
    cache_fd = open_cache_dir(cache)
    try:
        if upload:
            install(cache_fd, upload, fmt, name, want)
        fd = open_verified(cache_fd, name, want)
    finally:
        os.close(cache_fd)
    if fd is None:
        raise CannotRun('the cached hermes-relayhost binary %s is missing or does not match the '
                        'collection\'s; it is uploaded again on the next run' % target)
    executable = '/proc/self/fd/%d' % fd
    if not os.path.exists(executable):
        os.close(fd)
        raise CannotRun('/proc is not mounted: hermes-relayhost runs the binary it checked '
                        'through /proc/self/fd')
    os.set_inheritable(fd, True)
    return fd, executable


def main(argv):
    """`python -c` entry (see the module docstring): CACHE_FILE SHA256 UPLOAD FORMAT."""
    target, want, upload, fmt = argv

    def say(line):
        os.write(1, (line.replace('\n', ' ') + '\n').encode('utf-8', 'replace'))
        if line != 'run':
            # The options were not used: read them, so the sender is never cut off.
            for _block in iter(lambda: os.read(0, 1 << 16), b''):
                pass

    try:
        _fd, executable = verified_binary(target, want, upload, fmt)
    except NeedsGzip:
        return say('retry gz')
    except CacheRefused as e:
        return say('cache refused %s' % e)
    except CannotRun as e:
        return say('fail %s' % e)
    say('run')
    os.execv(executable, ['hermes-relayhost', '-'])


if __name__ == '__main__':
    main(sys.argv[1:])
