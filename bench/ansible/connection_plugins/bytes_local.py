# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hermes-relayhost contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The `local` connection, counting what Ansible sends to each "host" (bench/ansible-bytes.sh)."""

from __future__ import annotations

DOCUMENTATION = """
    name: bytes_local
    short_description: execute on controller, counting the bytes sent
    description:
        - The local connection; appends to the file named by HERMES_BENCH_BYTES one JSON line
          per command (the command line and its stdin) and per file put (its size), with the
          host's name, so that the bytes a play sends to each host can be summed.
    author: hermes-relayhost contributors
    options:
        become_success_timeout:
            type: int
            default: 10
            description: As for the local connection.
            vars:
                - name: ansible_local_become_success_timeout
        become_strip_preamble:
            type: bool
            default: true
            description: As for the local connection.
            vars:
                - name: ansible_local_become_strip_preamble
    extends_documentation_fragment:
        - connection_pipelining
"""

import json
import os

from ansible.plugins.connection.local import Connection as LocalConnection


class Connection(LocalConnection):
    """local, counting."""

    transport = 'bytes_local'

    def _count(self, kind, size):
        log = os.environ.get('HERMES_BENCH_BYTES')
        if log:
            line = json.dumps([self._play_context.remote_addr, kind, size]) + '\n'
            # One short O_APPEND write per line: lines of concurrent forks do not mix.
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)

    def exec_command(self, cmd, in_data=None, sudoable=True):
        self._count('exec', len(cmd.encode('utf-8', 'surrogateescape')) + len(in_data or b''))
        return super(Connection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)

    def put_file(self, in_path, out_path):
        self._count('put', os.path.getsize(in_path))
        return super(Connection, self).put_file(in_path, out_path)
