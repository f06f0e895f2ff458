"""Sending the summary: SMTP with STARTTLS (certificate verified) and AUTH, retries with
backoff; what cannot be sent is kept in a spool folder, nothing is lost."""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from analyzer.errors import AnalyzerError, ConfigError, InputError
from analyzer.settings.config import MailConfig
from analyzer.settings.values import is_loopback
from analyzer.store.files import make_private_folder


class MailError(AnalyzerError):
    """The message could not be delivered to the SMTP server."""


def smtp_password(mail: MailConfig, environ: dict[str, str] | os._Environ) -> str | None:
    """The password from ``password_file`` or the environment variable ``password_env``;
    never from the config file itself, never echoed, never sent where it could be read
    (see ``check_auth_transport``), never from a file other users may read or change."""
    if mail.username is None:
        return None
    check_auth_transport(mail)
    if mail.password_file is not None:
        return read_password_file(mail.password_file, mail.allow_insecure_password_file)
    value = environ.get(mail.password_env)
    if not value:
        raise ConfigError(
            f"mail.username is set but ${mail.password_env} is empty (or set mail.password_file)"
        )
    return value


def check_auth_transport(mail: MailConfig) -> None:
    """Refuse (``ConfigError``) AUTH without STARTTLS, which sends the password readable
    by anyone on the way, unless the server is on this machine's loopback or
    ``allow_plaintext_auth`` says the way is trusted."""
    if mail.username is None or mail.starttls or mail.allow_plaintext_auth:
        return
    if is_loopback(mail.host):
        return  # the password does not leave this machine
    raise ConfigError(
        f"refusing to send the SMTP password to {mail.host}:{mail.port} without TLS "
        "(mail.starttls = false): set starttls = true, or allow_plaintext_auth = true when "
        "the network between is trusted"
    )


def read_password_file(path: Path, allow_insecure: bool = False) -> str:
    """The password in ``path`` (surrounding white space dropped); a file every local user
    may read, or that its group or every user may change, is refused unless
    ``allow_insecure`` (``[mail] allow_insecure_password_file``)."""
    try:
        with open(path, encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode  # of the file read, links followed
            if mode & 0o026 and not allow_insecure:
                who = "read by every local user" if mode & 0o004 else "changed by other users"
                raise ConfigError(
                    f"mail.password_file {path} may be {who} (mode {mode & 0o777:04o}): chmod "
                    "600 it (640 for a group), or set [mail] allow_insecure_password_file = true"
                )
            return handle.read().strip()
    except OSError as exc:
        raise ConfigError(f"mail.password_file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"mail.password_file {path}: not UTF-8 text") from None


def send_message(
    message: EmailMessage,
    mail: MailConfig,
    password: str | None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Deliver ``message`` to the configured server, trying ``mail.retries`` times.

    Raises:
        MailError: with one line saying why (wrong password: no retry).
    """
    check_auth_transport(mail)
    context = ssl.create_default_context(cafile=str(mail.cafile) if mail.cafile else None)
    last = "no attempt made"
    for attempt in range(max(1, mail.retries)):
        if attempt:
            sleep(min(2**attempt, 30))
        try:
            with smtplib.SMTP(mail.host, mail.port, timeout=mail.timeout) as smtp:
                smtp.ehlo()
                if mail.starttls:
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if mail.username:
                    _login(smtp, mail.username, password or "")
                smtp.send_message(message)
            return
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"SMTP server {mail.host}:{mail.port} refused the login "
                f"{mail.username!r}: {exc.smtp_code}"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise MailError(
                f"SMTP server {mail.host}:{mail.port}: certificate not trusted "
                f"({exc.verify_message}); set mail.cafile for a private CA"
            ) from None
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            last = str(exc) or type(exc).__name__
    raise MailError(
        f"could not send to {mail.host}:{mail.port} after {max(1, mail.retries)} attempt(s): {last}"
    )


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """One AUTH with one mechanism: smtplib's login() would try every mechanism in turn
    after a refusal, which some servers answer by hanging up, hiding the real cause."""
    advertised = smtp.esmtp_features.get("auth", "").upper().split()
    smtp.user, smtp.password = user, password
    for name, method in (("PLAIN", smtp.auth_plain), ("LOGIN", smtp.auth_login)):
        if name in advertised:
            smtp.auth(name, method)
            return
    smtp.login(user, password)  # CRAM-MD5 or whatever the server offers


def check_writable_folder(path: Path) -> None:
    """Raise InputError unless ``path``'s folder exists and is writable (checked before the
    work whose result goes there)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise InputError(f"cannot write {path}: folder {folder} is not writable")
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder")


def write_eml(message: EmailMessage, path: Path, file_mode: int = 0o600) -> Path:
    """Write the message as an .eml file with ``file_mode`` (``[file_mode]``), atomically
    (write aside, then rename), into a folder that exists (a mistyped path must not make
    folders)."""
    check_writable_folder(path)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(handle, file_mode)
        with os.fdopen(handle, "wb") as out:
            out.write(message.as_bytes())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def spool_message(message: EmailMessage, folder: Path, stamp: str, file_mode: int = 0o600) -> Path:
    """Keep an unsent message in the spool folder (``relaywatch-<stamp>.eml``), made when
    missing (owner only, or as ``file_mode`` allows): it is relaywatch's own folder."""
    try:
        make_private_folder(folder, file_mode)
        return write_eml(message, folder / f"relaywatch-{stamp}.eml", file_mode)
    except (OSError, InputError) as exc:
        raise MailError(
            f"could not send, and could not spool to {folder}: {getattr(exc, 'strerror', exc)}"
        ) from None
