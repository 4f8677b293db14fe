"""
Execution module ``hermes_relay_host``: configures the outbound relay host of a Hermes SEG (or
any Postfix host) with the ``hermes-relayhost`` binary, which does what the Hermes page
*Email Relay > Relay Host* does on *Save*.

All logic lives in the binary; this module only hands it the options. They go as JSON on
stdin, with no shell and quiet logging, so a password never reaches ``ps``, the command line or
Salt's log. The binary masks secrets in everything it returns.

Secrets can stay in pillar: ``password_pillar`` and ``transport_auth_pillar`` name pillar keys
that are read here, on the minion, just before the binary runs, so the value is in no SLS, no
``state.show_sls`` output, no minion cache file and no return.

The binary is found through the minion option ``hermes_relay_host.binary`` (minion config,
grains or pillar, via ``config.get``), else on ``PATH``. Without it the module does not load
(``__virtual__`` says why).

CLI example (a CLI argument is logged by Salt: name a pillar key rather than a password)::

    salt-call hermes_relay_host.apply host=smtp.example.com port=587 \\
        username=relayuser password_pillar=hermes_relay:secrets:password test=True
"""

import json
import os

import salt.utils.path

__virtualname__ = "hermes_relay_host"

BINARY = "hermes-relayhost"

# The options `hermes-relayhost reload` uses (it refuses the others); their defaults are the
# binary's.
RELOAD_OPTIONS = ("host_type", "postfix_exec", "postfix_exec_dir", "postfix_dir", "root")

# Secret options that may come from pillar instead: option -> the option naming its pillar key.
PILLAR_OPTIONS = {
    "password": "password_pillar",
    "transport_auth": "transport_auth_pillar",
}


def __virtual__():
    if _binary():
        return __virtualname__
    return (False, _not_found())


def _not_found():
    configured = _configured_binary()
    if configured:
        what = "is not an executable file" if os.path.exists(configured) else "does not exist"
        return (
            f"{BINARY} not found: {configured} (the minion option "
            f"hermes_relay_host.binary) {what}"
        )
    return (
        f"{BINARY} not found: install it (the hermes_relay formula does) and set the "
        "minion option hermes_relay_host.binary to its path, or put it on the minion's PATH"
    )


def _configured_binary():
    return __salt__["config.get"]("hermes_relay_host.binary", "")


def _binary():
    """The binary's path, or None when it is not there (checked at every call, so a binary
    installed after the module loaded is used as soon as the module is reloaded)."""
    configured = _configured_binary()
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        return None
    return salt.utils.path.which(BINARY)


def _options(kwargs):
    """The module options: Salt's injected kwargs (``name``, ``__id__``, ``__sls__``,
    ``__env__``, ``__pub_*``, any ``__`` key) are not options and the binary would reject them
    as unknown; ``None`` means omitted (as Ansible's ``omit``)."""
    return {
        key: value
        for key, value in kwargs.items()
        if key != "name" and not key.startswith("__") and value is not None
    }


def _failed(msg, code):
    __context__["retcode"] = 1
    return {
        "changed": False,
        "failed": True,
        "msg": msg,
        "warnings": [],
        "error": {"code": code},
    }


def _pillar_value(key):
    """The plain pillar value at ``key`` (None when missing)."""
    try:
        # Salt 3008 masks what pillar.get returns ('**********') unless asked not to.
        return __salt__["pillar.get"](key, default=None, unmask=True)
    except TypeError:
        # Salt before 3008: no masking, no `unmask` argument.
        return __salt__["pillar.get"](key, default=None)


def _resolve_pillar(options, pillar_keys):
    """Puts the pillar values named by ``password_pillar`` / ``transport_auth_pillar`` into
    ``options``; returns an error message (naming the key, never a value) or None."""
    for option, pillar_option in PILLAR_OPTIONS.items():
        key = pillar_keys.get(pillar_option)
        if key is None:
            continue
        if option in options:
            return f"give '{option}' or '{pillar_option}', not both"
        if not isinstance(key, str) or not key:
            return f"option '{pillar_option}' must be a pillar key such as relay:{option}"
        value = _pillar_value(key)
        if value is None:
            return (
                f"pillar key '{key}' (option '{pillar_option}') is missing on this minion: "
                "check the pillar top file and refresh pillar (saltutil.refresh_pillar)"
            )
        options[option] = value
    return None


def _run_binary(binary, subcommand, flags, options):
    """``hermes-relayhost SUBCOMMAND --args-file - --format json FLAGS``, the options as JSON
    on stdin: the one place that builds the binary's command line. Returns its JSON result
    object."""
    cmd = [binary, subcommand, "--args-file", "-", "--format", "json", *flags]
    res = __salt__["cmd.run_all"](
        cmd,
        python_shell=False,
        stdin=json.dumps(options),
        # Neither the options (stdin) nor the result is logged, at any level.
        output_loglevel="quiet",
        ignore_retcode=True,
    )
    try:
        out = json.loads(res.get("stdout") or "")
    except ValueError:
        # No result object: the binary could not run at all. Its stderr is its own message
        # (it never prints a secret), trimmed to the last lines.
        stderr = "\n".join((res.get("stderr") or "").strip().splitlines()[-5:])
        return _failed(
            f"{binary} returned no JSON result (exit {res.get('retcode')}): {stderr}",
            "no_result",
        )
    if not isinstance(out, dict):
        return _failed(f"{binary} returned a non-object result", "no_result")
    if out.get("failed"):
        __context__["retcode"] = 1
    return out


def apply(test=None, password_pillar=None, transport_auth_pillar=None, **kwargs):
    """
    Apply the relay host options given as keyword arguments and return the binary's result:
    ``changed``, ``failed``, ``msg``, ``warnings``, ``changes``, ``relayhost`` and the masked
    ``diff``; on failure ``error.code``. Nothing is written when anything is wrong.

    The options are those of the state ``hermes_relay_host.configured``
    (``salt-call sys.state_doc hermes_relay_host``) and of ``hermes-relayhost schema``:
    ``host``, ``port``, ``tls``, ``auth``, ``username``, ``password``, ``transport_auth``,
    the path options, ``state=absent`` to disable relaying.

    test
        Report what would change and write nothing. Defaults to the minion's ``test`` option.

    password_pillar
        Pillar key (``:`` separates levels) holding the relay password, read on the minion.
        A missing key fails the run; giving ``password`` too is an error.

    transport_auth_pillar
        Pillar key holding the ``transport_auth`` list (``domain``, ``username``,
        ``password`` per entry), read on the minion. Same rules as ``password_pillar``.

    CLI example::

        salt-call hermes_relay_host.apply host=smtp.example.com port=587 test=True
        salt-call hermes_relay_host.apply host=smtp.example.com username=relayuser \\
            password_pillar=hermes_relay:secrets:password
    """
    if test is None:
        test = bool(__opts__.get("test", False))
    binary = _binary()
    if not binary:
        return _failed(_not_found(), "binary_not_found")
    options = _options(kwargs)
    error = _resolve_pillar(
        options,
        {
            "password_pillar": password_pillar,
            "transport_auth_pillar": transport_auth_pillar,
        },
    )
    if error:
        return _failed(error, "invalid_args")
    flags = ["--check"] if test else []
    return _run_binary(binary, "apply", [*flags, "--diff"], options)


def _flag(value, default):
    """An option boolean as Ansible reads it (``yes``/``no``, ``1``/``0``, ...)."""
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() not in ("no", "false", "off", "0", "n", "f")
    return bool(value)


def reload(test=None, **kwargs):
    """
    Reload Postfix with ``hermes-relayhost reload`` (``postfix reload`` through
    ``postfix_exec``, with ``-c`` the config directory as Postfix sees it), as the binary does
    after a change: skipped with a warning when Postfix is not running. Writes nothing. The
    state's ``mod_watch`` uses it, so a ``watch`` on another state reloads Postfix even when
    the relay settings did not change.

    Takes the same options as ``apply`` and uses only ``host_type``, ``postfix_exec``,
    ``postfix_exec_dir``, ``postfix_dir``, ``root`` and ``reload`` (``reload=False``: do
    nothing).

    test
        Report that Postfix would be reloaded; run nothing. Defaults to the minion's ``test``
        option.

    CLI example::

        salt-call hermes_relay_host.reload
        salt-call hermes_relay_host.reload postfix_exec='[]'
    """
    if test is None:
        test = bool(__opts__.get("test", False))
    options = _options(kwargs)
    if not _flag(options.get("reload"), True):
        return {
            "changed": False,
            "failed": False,
            "msg": "reload: false: Postfix not reloaded",
            "warnings": [],
        }
    if test:
        return {
            "changed": True,
            "failed": False,
            "msg": "Postfix would be reloaded",
            "warnings": [],
        }
    binary = _binary()
    if not binary:
        return _failed(_not_found(), "binary_not_found")
    wanted = {key: options[key] for key in RELOAD_OPTIONS if key in options}
    return _run_binary(binary, "reload", [], wanted)
