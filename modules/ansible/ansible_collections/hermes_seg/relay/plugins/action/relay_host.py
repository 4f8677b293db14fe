# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hermes-relayhost contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of hermes_seg.relay.relay_host: the binary reaches the host once, then it runs."""

from __future__ import annotations

from ansible_collections.hermes_seg.relay.plugins.plugin_utils.relay_action import RelayBinaryAction


class ActionModule(RelayBinaryAction):
    """Runs the relay_host module on the cached hermes-relayhost binary."""

    MODULE = 'hermes_seg.relay.relay_host'
