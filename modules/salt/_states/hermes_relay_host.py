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
        - password_pillar: hermes_relay:secrets:password
        - watch:
          - file: /etc/postfix/master.cf

    no-relay:
      hermes_relay_host.absent

The options are those of the Ansible module ``hermes_seg.relay.relay_host``
(``hermes-relayhost schema``), except ``state``, which Salt reserves: use ``absent``.

``changes`` holds, per changed item (``main.cf``, ``sasl_passwd``, ``rows``), the lines removed
(``old``) and added (``new``), taken from the binary's masked diff: a password shows as
``********``, never in clear. The binary's warnings are in ``warnings``.

``watch``: Salt first runs the state itself; when that changed nothing, ``mod_watch`` reloads
Postfix (no file is written), so a change elsewhere (master.cf, a certificate) is picked up.
"""

import difflib
import os

import salt.utils.path

__virtualname__ = "hermes_relay_host"

BINARY = "hermes-relayhost"

# How to get the binary, for a minion that has none yet.
HOW_TO_INSTALL = (
    "state.apply hermes_relay installs it (the formula's hermes_relay.install state, from "
    "the formula's files/), or install the project's .deb (/usr/bin/hermes-relayhost, "
    "found on PATH when hermes_relay_host.binary is unset)"
)

ROWS_HEADER = "hermes database rows"

# Appended to each state's docstring, so `sys.state_doc` lists every option with each state.
PATH_OPTIONS_DOC = """
    host_type
        ``hermes`` (default): a Hermes SEG host, its rows the truth and main.cf rendered from
        the base template. ``postfix``: any Postfix host, no Hermes database, key or template;
        main.cf is edited in place for the relay keys only (every other line kept as it is),
        the password lives only in sasl_passwd, and ``postfix_exec`` defaults to ``[]``.

    database
        Hermes database URL: ``sqlite:PATH`` (default ``sqlite:<root>/hermes.sqlite``),
        ``mysql://USER[:PASSWORD]@HOST[:PORT]/DB`` or
        ``mysql://USER@localhost/DB?socket=PATH``. Hermes hosts pass the MariaDB URL.

    database_options_file
        MySQL option file whose ``[client]`` group supplies what the URL leaves out (keeps a
        database password out of the SLS).

    root
        Prefix for ``key_file``, ``postfix_dir`` and ``template`` (default ``/``).

    key_file
        Hermes AES key file (default ``/opt/hermes/keys/hermes.key``).

    cipher
        Format of the stored credentials: ``ecb`` (default, what Hermes reads) or ``cbc``.

    postfix_dir
        Directory main.cf and sasl_passwd are written into (default ``/etc/postfix``).

    template
        Base main.cf, a handlebars template (default
        ``/opt/hermes/conf_files/main.cf.HERMES``).

    vars
        Mapping of strings, the template's ``{{vars.NAME}}`` (default ``{}``).

    postfix_exec
        Command prefix for postconf/postmap/postfix (default
        ``["docker", "exec", "hermes_postfix_dkim"]``; ``[]`` runs them on this host).

    postfix_exec_dir
        The Postfix config directory as those commands see it (default ``/etc/postfix`` with
        a prefix, else ``postfix_dir``).

    reload
        Reload Postfix after a change, and on ``watch`` (default ``True``).

    test
        ``True``: report the pending changes (result ``None``) and write nothing, as
        ``state.apply ... test=True`` does.
"""


def __virtual__():
    # Loaded even when the execution module is not (no binary yet): a formula that installs
    # the binary earlier in the same run (with `reload_modules`) then finds it, and a test
    # run before that says what is missing instead of "state not found".
    return __virtualname__


def configured(
    name,
    host=None,
    port=None,
    tls=None,
    tls_ca_file=None,
    tls_name=None,
    auth=None,
    username=None,
    password=None,
    password_pillar=None,
    transport_auth=None,
    transport_auth_pillar=None,
    sasl_security_options=None,
    sasl_tls_security_options=None,
    probe=None,
    **kwargs,
):
    """
    The relay host is configured with the given options; an omitted option keeps what is
    stored (so a state with only ``transport_auth`` leaves the relay as it is).

    name
        The state ID; not an option.

    host
        Relay host: IPv4, IPv6 or a DNS name (ASCII; the ``xn--`` form for IDNs). Required
        unless only ``transport_auth`` is given.

    port
        TCP port of the relay host, 1-65535 (default 25).

    tls
        Outbound TLS level: ``none``, ``may`` (default), ``encrypt``, ``wrapper`` (implicit
        TLS, port 465), or ``verify`` / ``secure`` (Postfix's levels that check the relay's
        certificate, written as a TLS policy entry for the relay).

    tls_ca_file
        With ``verify``/``secure``: the PEM CA file that signs the relay's certificate, as
        Postfix sees the path (0644), written as ``smtp_tls_CAfile``.

    tls_name
        With ``verify``/``secure``: the name the certificate must carry (default: ``host``).

    auth
        SASL authentication on or off; defaults to on when ``username`` is given, else the
        stored setting. ``False`` clears the stored credentials.

    username
        SASL username (not secret: shown in changes). Omitted: the stored one is kept.

    password
        SASL password. Omitted or empty: the stored one is kept. Rendered into the SLS, so
        ``state.show_sls`` shows it: prefer ``password_pillar``.

    password_pillar
        Pillar key (``:`` between levels, e.g. ``hermes_relay:secrets:password``) holding the
        password, read on the minion when the state runs: the password is in no SLS, log,
        cache or return. A missing key fails the state, nothing written. Not with
        ``password``.

    transport_auth
        SASL credentials of per-domain relays (Hermes *Domains* page): a list of
        ``{domain, username, password}``. Prefer ``transport_auth_pillar``.

    transport_auth_pillar
        Pillar key holding the ``transport_auth`` list, read on the minion (as
        ``password_pillar``). Not with ``transport_auth``.

    sasl_security_options
        ``smtp_sasl_security_options`` (Postfix's default ``noplaintext, noanonymous`` refuses
        PLAIN/LOGIN; most smarthosts need ``noanonymous``). Omitted: the stored value is kept.

    sasl_tls_security_options
        ``smtp_sasl_tls_security_options``, the same for TLS sessions.

    probe
        ``True``: before writing new credentials, log in to the relay host with them (EHLO,
        STARTTLS or implicit TLS, AUTH); a rejected login fails the state, nothing written.
    """
    options = {
        "host": host,
        "port": port,
        "tls": tls,
        "tls_ca_file": tls_ca_file,
        "tls_name": tls_name,
        "auth": auth,
        "username": username,
        "password": password,
        "password_pillar": password_pillar,
        "transport_auth": transport_auth,
        "transport_auth_pillar": transport_auth_pillar,
        "sasl_security_options": sasl_security_options,
        "sasl_tls_security_options": sasl_tls_security_options,
        "probe": probe,
    }
    return _run(name, {**kwargs, **options})


def absent(name, **kwargs):
    """
    Relaying is disabled (direct MX delivery) and the stored relay credentials are cleared.
    Takes only the options below.

    name
        The state ID; not an option.
    """
    kwargs["state"] = "absent"
    return _run(name, kwargs)


def mod_watch(name, sfun=None, **kwargs):
    """
    Called by Salt for a ``watch`` requisite when a watched state changed and this state
    itself did not (had it changed something, the binary would already have reloaded):
    reloads Postfix, as ``service.running`` restarts on ``watch``. Nothing is written and
    nothing re-applied. Skipped with a warning when Postfix is not running; nothing at all
    with ``reload: False``. Of the watching state's options it uses ``postfix_exec``,
    ``postfix_exec_dir``, ``postfix_dir``, ``root`` and ``reload`` (below).

    name
        The state ID.

    sfun
        The watching state's function (``configured`` or ``absent``), set by Salt.
    """
    test = _test(kwargs)
    out = _call("hermes_relay_host.reload", test, kwargs)
    ret = _ret(name, out)
    if out.get("changed"):
        ret["changes"] = {"postfix": {"old": None, "new": "reloaded"}}
        ret["result"] = None if test else True
    return ret


for _fun in (configured, absent, mod_watch):
    _fun.__doc__ += PATH_OPTIONS_DOC


def _test(kwargs):
    # `test: True` given to the state itself counts as much as `state.apply ... test=True`.
    return bool(__opts__.get("test", False)) or bool(kwargs.pop("test", False))


def _call(fun, test, kwargs):
    """The execution module's result, or a failure that says why it is not loaded: without
    the binary, how to install it (a test run only reports that, as the binary may be
    installed before this runs, e.g. by the formula in the same run)."""
    if fun not in __salt__:
        reason = _binary_missing()
        if reason is None:
            # The binary is there: the module failed to load for another reason, which the
            # functions loader knows (the context wrapper's missing_fun_string asks the states
            # loader, which knows nothing of the execution module's __virtual__).
            functions = __salt__.value() if hasattr(__salt__, "value") else __salt__
            reason = functions.missing_fun_string(fun)
        elif test:
            reason += "; the relay settings can be previewed once it is installed"
        if test:
            return {"changed": True, "failed": False, "msg": reason, "warnings": []}
        return {"changed": False, "failed": True, "msg": reason, "warnings": []}
    return __salt__[fun](test=test, **kwargs)


def _binary_missing():
    """Why the execution module has no binary and how to install it (as its ``__virtual__``
    says, plus how to get one), or None when the binary is there."""
    configured = __salt__["config.get"]("hermes_relay_host.binary", "")
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return None
        what = "is not an executable file" if os.path.exists(configured) else "does not exist"
        return (
            f"{BINARY} not found: {configured} (the minion option hermes_relay_host.binary) "
            f"{what}: {HOW_TO_INSTALL}"
        )
    if salt.utils.path.which(BINARY):
        return None
    return (
        f"{BINARY} not found: install it (the hermes_relay formula does) and set the minion "
        f"option hermes_relay_host.binary to its path, or put it on the minion's PATH: "
        f"{HOW_TO_INSTALL}"
    )


def _ret(name, out):
    ret = {"name": name, "changes": {}, "result": True, "comment": out.get("msg") or ""}
    if out.get("warnings"):
        ret["warnings"] = list(out["warnings"])
    if out.get("failed"):
        ret["result"] = False
        ret["comment"] = ret["comment"] or "hermes-relayhost failed"
    return ret


def _run(name, kwargs):
    test = _test(kwargs)
    out = _call("hermes_relay_host.apply", test, kwargs)
    ret = _ret(name, out)
    if out.get("changed") and not out.get("failed"):
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
        # Changed without a diff: the binary's change list, or (binary not installed yet,
        # test run) the reason no diff could be computed.
        changes["changes"] = {"old": None, "new": out.get("changes") or out.get("msg")}
    return changes
