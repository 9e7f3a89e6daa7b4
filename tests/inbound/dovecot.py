"""A real Dovecot IMAP server for the tests: loopback port, throw-away config and mail dirs.

Started from the dovecot binary of Debian's dovecot-imapd with its own config file (no system
config is read or changed), a passwd-file user and Maildir storage in a temporary folder.
Run as an ordinary user it runs as that user; run as root it drops to Debian's "dovecot" /
"dovenull" users and stores the mail as "nobody" (Dovecot refuses root for mail).
"""
from __future__ import annotations

import grp
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BINARY = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot")
                                     else None)
USER, PASSWORD = "ar@example.test", "s3cret-imap"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Dovecot:
    folder: Path
    port: int
    process: subprocess.Popen
    # With tls=True: the IMAPS port (TLS from the first byte) and the CA file to trust; the
    # IMAP port then offers STARTTLS.
    tls_port: int | None = None
    ca_file: Path | None = None

    def settings(self, **overrides) -> dict:
        values = {"host": "127.0.0.1", "port": self.port, "security": "none",
                  "username": USER, "password": PASSWORD, "folder": "INBOX",
                  "after_read": "move", "processed_folder": "Processed", "timeout": 10}
        values.update(overrides)
        return values

    def client(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        imap.login(USER, PASSWORD)
        return imap

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        imap = self.client()
        try:
            status, data = imap.append(folder, None, None, raw)
            assert status == "OK", data
        finally:
            imap.logout()

    def append_many(self, raws, folder: str = "INBOX") -> None:
        imap = self.client()
        try:
            for raw in raws:
                status, data = imap.append(folder, None, None, raw)
                assert status == "OK", data
        finally:
            imap.logout()

    def count(self, folder: str = "INBOX") -> int:
        imap = self.client()
        try:
            status, data = imap.select(f'"{folder}"', readonly=True)
            return int(data[0]) if status == "OK" else 0
        finally:
            imap.logout()

    def empty(self) -> None:
        imap = self.client()
        try:
            for folder in ("INBOX", "Processed"):
                status, data = imap.select(f'"{folder}"')
                if status == "OK" and int(data[0] or 0):
                    imap.store("1:*", "+FLAGS", "(\\Deleted)")
                    imap.expunge()
        finally:
            imap.logout()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def self_signed(folder: Path, name: str = "server") -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 / localhost (its own CA), by the openssl CLI."""
    cert, key = folder / f"{name}-cert.pem", folder / f"{name}-key.pem"
    subprocess.run([shutil.which("openssl") or "openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "2", "-subj", f"/CN=CreditDesk test {name}",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def start(tls: bool = False) -> Dovecot:
    """``tls``: a certificate of its own, IMAPS on a second port and STARTTLS on the first."""
    if BINARY is None:
        raise FileNotFoundError("dovecot")
    folder = Path(tempfile.mkdtemp(prefix="creditdesk-dovecot-"))
    port = free_port()
    tls_port = free_port() if tls else None
    if tls:
        cert, key = self_signed(folder)
        os.chmod(key, 0o644)  # read by Dovecot's own users when the tests run as root
        ssl_config = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n"
        imaps = f"address = 127.0.0.1\n    port = {tls_port}\n    ssl = yes"
    else:
        cert, ssl_config, imaps = None, "ssl = no\n", "port = 0"
    if os.geteuid() == 0:
        internal, login = "dovecot", "dovenull"
        mail_user = pwd.getpwnam("nobody")
    else:
        me = pwd.getpwuid(os.getuid())
        internal = login = me.pw_name
        mail_user = me
    home = folder / "home"
    home.mkdir()
    os.chmod(folder, 0o755)
    os.chown(home, mail_user.pw_uid, mail_user.pw_gid) if os.geteuid() == 0 else None
    (folder / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    config = folder / "dovecot.conf"
    config.write_text(f"""
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl_config}disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:{home}/%u/Maildir
mail_uid = {mail_user.pw_uid}
mail_gid = {mail_user.pw_gid}
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={home}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    {imaps}
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
""")
    for sub in ("run", "state"):
        (folder / sub).mkdir()
    process = subprocess.Popen([BINARY, "-F", "-c", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("dovecot stopped: " + process.stderr.read().decode(errors="replace")
                               + _log(folder))
        try:
            imap = imaplib.IMAP4("127.0.0.1", port, timeout=2)
            imap.login(USER, PASSWORD)
            imap.create("Processed")
            imap.logout()
            return Dovecot(folder, port, process, tls_port, cert)
        except (OSError, imaplib.IMAP4.error):
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("dovecot did not answer on its port" + _log(folder))


def _log(folder: Path) -> str:
    path = folder / "dovecot.log"
    return "\n" + path.read_text()[-2000:] if path.exists() else ""
