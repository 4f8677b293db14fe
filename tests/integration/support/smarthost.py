#!/usr/bin/env python3
"""An authenticating test smarthost (aiosmtpd) for the end-to-end tests.

Every SMTP session must AUTH (PLAIN or LOGIN) against the JSON table in --users
({"login": "password"}), which is re-read on every AUTH, so a test can rotate a password
without restarting the server. Each accepted message is appended to --log as one JSON line:
    {"auth_user": ..., "tls": bool, "mail_from": ..., "rcpt_tos": [...], "data_len": N,
     "subject": ...}
and each rejected login as {"auth_failed": login}.

Modes:
  plain     no TLS at all; AUTH allowed in clear text (auth_require_tls=False)
  starttls  STARTTLS offered and required before MAIL/AUTH (require_starttls=True),
            certificate from --cert/--key
  implicit  TLS from the first byte (port-465 style), certificate from --cert/--key

--port 0 binds a free port; the port actually bound is written to --ready (as JSON
{"port": N, "pid": N}) once the server accepts connections. A test waits for that file.
Stops on SIGTERM/SIGINT.
"""

import argparse
import asyncio
import email.parser
import json
import logging
import os
import signal
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    p.add_argument("--users", required=True, help="JSON file {login: password}")
    p.add_argument("--mode", choices=["plain", "starttls", "implicit"], default="plain")
    p.add_argument("--cert", help="PEM certificate (starttls, implicit)")
    p.add_argument("--key", help="PEM private key (starttls, implicit)")
    p.add_argument("--log", required=True, help="JSON-lines file of messages and failed logins")
    p.add_argument("--ready", help="file written with {port, pid} once listening")
    args = p.parse_args(argv)
    if args.mode != "plain" and not (args.cert and args.key):
        p.error(f"--mode {args.mode} needs --cert and --key")
    return args


class Recorder:
    """Appends one JSON object per line; O_APPEND + one write keeps lines whole."""

    def __init__(self, path):
        self.path = path

    def write(self, obj):
        line = (json.dumps(obj, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class Authenticator:
    def __init__(self, users_file, recorder):
        self.users_file = users_file
        self.recorder = recorder

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = text(auth_data.login)
        password = text(auth_data.password)
        try:
            with open(self.users_file, encoding="utf-8") as f:
                users = json.load(f)
        except (OSError, ValueError) as e:
            print(f"smarthost: cannot read users file: {e}", file=sys.stderr, flush=True)
            users = {}
        if login in users and users[login] == password:
            return AuthResult(success=True, auth_data=auth_data)
        self.recorder.write({"auth_failed": login, "mechanism": mechanism})
        return AuthResult(success=False, handled=False)


class Handler:
    def __init__(self, recorder):
        self.recorder = recorder

    async def handle_DATA(self, server, session, envelope):
        # Covers both STARTTLS (transport replaced by the TLS app transport) and implicit TLS.
        tls = server.transport is not None and (
            server.transport.get_extra_info("ssl_object") is not None
        )
        auth_user = None
        if session.authenticated and session.auth_data is not None:
            auth_user = text(getattr(session.auth_data, "login", None))
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode()
        headers = email.parser.BytesHeaderParser().parsebytes(content)
        self.recorder.write(
            {
                "auth_user": auth_user,
                "tls": tls,
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "data_len": len(content),
                "subject": headers.get("Subject"),
            }
        )
        return "250 2.0.0 OK queued"


def server_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


async def serve(args):
    recorder = Recorder(args.log)
    handler = Handler(recorder)
    authenticator = Authenticator(args.users, recorder)
    tls_ctx = server_context(args.cert, args.key) if args.mode != "plain" else None

    def factory():
        kwargs = dict(
            hostname="smarthost.test",
            authenticator=authenticator,
            auth_required=True,
            # Plain: AUTH in clear text. STARTTLS: AUTH only after STARTTLS. Implicit: the
            # whole session is TLS, but aiosmtpd only counts STARTTLS as TLS for this check.
            auth_require_tls=args.mode == "starttls",
        )
        if args.mode == "starttls":
            kwargs.update(tls_context=tls_ctx, require_starttls=True)
        return SMTP(handler, **kwargs)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory,
        host=args.host,
        port=args.port,
        ssl=tls_ctx if args.mode == "implicit" else None,
    )
    port = server.sockets[0].getsockname()[1]
    if args.ready:
        tmp = args.ready + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"port": port, "pid": os.getpid()}, f)
        os.rename(tmp, args.ready)
    print(f"smarthost: {args.mode} on {args.host} port {port}", file=sys.stderr, flush=True)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv=None):
    # aiosmtpd warns about AUTH without TLS (wanted in plain mode) and about its own
    # deprecated login_data on every AUTH: noise in the test's stderr file.
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
