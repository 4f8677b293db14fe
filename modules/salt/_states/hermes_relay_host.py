"""
State ``hermes_relay_host``: the outbound relay host of a Hermes SEG (or any Postfix host), as
the Hermes page *Email Relay > Relay Host* sets it. A thin layer over the execution module of
the same name, which runs the ``hermes-relayhost`` binary.

.. code-block:: yaml

    relay:
      hermes_relay_host.configured:
        - host: smtp.example.com
        - port: 587
        - tls: encrypt
        - username: relayuser@example.com
        - password: {{ pillar['relay']['password'] | json }}

    no-relay:
      hermes_relay_host.absent

The options are those of the Ansible module ``hermes_seg.relay.relay_host``
(``hermes-relayhost schema``), except ``state``, which Salt reserves: use ``absent``.

``changes`` holds, per changed item (``main.cf``, ``sasl_passwd``, ``rows``), the lines removed
(``old``) and added (``new``), taken from the binary's masked diff: a password shows as
``********``, never in clear.
"""

import difflib
import os

__virtualname__ = "hermes_relay_host"

ROWS_HEADER = "hermes database rows"


def __virtual__():
    if "hermes_relay_host.apply" in __salt__:
        return __virtualname__
    return (False, "the hermes_relay_host execution module is not loaded")


def configured(name, **kwargs):
    """
    The relay host is configured with the given options (``host``, ``port``, ``tls``,
    ``auth``, ``username``, ``password``, and the path options for a non-default layout).

    name
        The state ID; not an option.
    """
    return _run(name, kwargs)


def absent(name, **kwargs):
    """
    Relaying is disabled (direct MX delivery) and the stored relay credentials are cleared.
    Takes only the path options (``database``, ``root``, ``postfix_dir``, ...).
    """
    kwargs["state"] = "absent"
    return _run(name, kwargs)


def _run(name, kwargs):
    # `test: True` given to the state itself counts as much as `state.apply ... test=True`.
    test = bool(__opts__.get("test", False)) or bool(kwargs.pop("test", False))
    out = __salt__["hermes_relay_host.apply"](test=test, **kwargs)
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    if out.get("failed"):
        ret["result"] = False
        ret["comment"] = out.get("msg") or "hermes-relayhost failed"
        return ret
    comment = [out.get("msg") or ""]
    comment += [f"warning: {w}" for w in out.get("warnings") or []]
    ret["comment"] = "\n".join(c for c in comment if c)
    if out.get("changed"):
        ret["changes"] = _changes(out)
        ret["result"] = None if test else True
    return ret


def _changes(out):
    """``{item: {old, new}}`` with the removed and added lines of each masked diff entry."""
    changes = {}
    for entry in out.get("diff") or []:
        header = entry.get("after_header") or entry.get("before_header") or "?"
        key = "rows" if header == ROWS_HEADER else os.path.basename(header)
        if key in changes:
            key = header
        old, new = [], []
        before = (entry.get("before") or "").splitlines()
        after = (entry.get("after") or "").splitlines()
        lines = difflib.unified_diff(before, after, n=0, lineterm="")
        # Past the two header lines every line starts with "@@", "-" or "+" (no context).
        for line in list(lines)[2:]:
            if line.startswith("-"):
                old.append(line[1:])
            elif line.startswith("+"):
                new.append(line[1:])
        if old or new:
            changes[key] = {"old": "\n".join(old), "new": "\n".join(new)}
    if not changes:
        # Changed without a diff (should not happen with --diff): still say what changed.
        changes["changes"] = {"old": None, "new": out.get("changes") or []}
    return changes
