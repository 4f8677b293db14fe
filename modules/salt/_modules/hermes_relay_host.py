"""
Execution module ``hermes_relay_host``: configures the outbound relay host of a Hermes SEG (or
any Postfix host) with the ``hermes-relayhost`` binary, which does what the Hermes page
*Email Relay > Relay Host* does on *Save*.

All logic lives in the binary; this module only hands it the options. They go as JSON on
stdin, with no shell and quiet logging, so a password never reaches ``ps``, the command line or
Salt's log. The binary masks secrets in everything it returns.

The binary is found through the minion option ``hermes_relay_host.binary`` (minion config,
grains or pillar, via ``config.get``), else on ``PATH``.

CLI example (prefer the state with the password in pillar; a CLI argument is logged by Salt)::

    salt-call hermes_relay_host.apply host=smtp.example.com port=587 test=True
"""

import json
import logging

import salt.utils.path

__virtualname__ = "hermes_relay_host"

log = logging.getLogger(__name__)

BINARY = "hermes-relayhost"


def __virtual__():
    return __virtualname__


def _binary():
    configured = __salt__["config.get"]("hermes_relay_host.binary", "")
    if configured:
        return configured
    return salt.utils.path.which(BINARY)


def _options(kwargs):
    """The module options: Salt's injected kwargs (``name``, ``__id__``, ``__sls__``,
    ``__env__``, ``__pub_*``, any ``__`` key) are not options and the binary would reject them
    as unknown."""
    return {
        key: value
        for key, value in kwargs.items()
        if key != "name" and not key.startswith("__")
    }


def _failed(msg):
    return {"changed": False, "failed": True, "msg": msg, "warnings": []}


def apply(test=None, **kwargs):
    """
    Apply the relay host options given as keyword arguments (see
    ``hermes-relayhost schema``) and return the binary's result: ``changed``, ``failed``,
    ``msg``, ``warnings``, ``changes``, ``relayhost`` and the masked ``diff``.

    test
        Report what would change and write nothing. Defaults to the minion's ``test`` option.

    CLI example::

        salt-call hermes_relay_host.apply host=smtp.example.com port=587 test=True
    """
    if test is None:
        test = bool(__opts__.get("test", False))
    binary = _binary()
    if not binary:
        __context__["retcode"] = 1
        return _failed(
            f"{BINARY} not found: set the minion option hermes_relay_host.binary "
            "or put it on PATH"
        )
    cmd = [binary, "apply", "--args-file", "-"]
    if test:
        cmd.append("--check")
    cmd.append("--diff")
    res = __salt__["cmd.run_all"](
        cmd,
        python_shell=False,
        stdin=json.dumps(_options(kwargs)),
        output_loglevel="quiet",
        ignore_retcode=True,
    )
    try:
        out = json.loads(res.get("stdout") or "")
    except ValueError:
        # No result object: the binary could not run at all. Its stderr is its own message
        # (it never prints a secret), trimmed to the last lines.
        stderr = "\n".join((res.get("stderr") or "").strip().splitlines()[-5:])
        out = _failed(
            f"{binary} returned no JSON result (exit {res.get('retcode')}): {stderr}"
        )
    if not isinstance(out, dict):
        out = _failed(f"{binary} returned a non-object result")
    if out.get("failed"):
        __context__["retcode"] = 1
    return out
