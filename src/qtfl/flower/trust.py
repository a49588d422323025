"""Credentials of a Flower deployment: TLS certificates and SuperNode keys.

* **TLS.** :func:`make_tls` issues a per-run CA and a SuperLink certificate whose subject
  alternative names cover every address the SuperNodes and ``flwr`` dial (``127.0.0.1`` and
  ``localhost`` always, plus the given hosts). The CA's private key lives only in memory
  while it signs: nobody can issue a second certificate under it afterwards. Users with their
  own PKI pass a directory instead (:func:`load_tls_dir`: ``ca.pem``, ``server.pem``,
  ``server.key``), checked before anything starts.
* **SuperNode keys.** Flower 1.41 authenticates a SuperNode by an elliptic-curve key pair
  (a NIST curve, OpenSSH encoding): the node signs a timestamp on every Fleet request with
  ``--auth-supernode-private-key``; a SuperLink started with ``--enable-supernode-auth``
  refuses to register nodes over the Fleet API and only activates nodes whose public key
  was registered beforehand through its Control API (``flwr supernode register KEY.pub``).
  :func:`make_node_key` writes one P-384 pair per SuperNode.

Every private key is created owner-only (mode 0600, ``O_EXCL``) in an owner-only directory.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from qtfl.errors import InputError

#: File names inside a TLS directory (``--tls-dir``).
CA_CERT, SERVER_CERT, SERVER_KEY = "ca.pem", "server.pem", "server.key"
#: Validity of a generated per-run certificate.
CERT_VALIDITY = dt.timedelta(days=7)


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for TLS between SuperLink, SuperNodes and ``flwr``."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


@dataclass(frozen=True)
class NodeKey:
    """One SuperNode's authentication key pair (OpenSSH encoding, NIST P-384)."""

    private_key: Path
    public_key: Path


def private_dir(directory: Path) -> Path:
    """``directory`` created (with parents) and set to mode 0700."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    return directory


def write_private(path: Path, data: bytes) -> Path:
    """Create ``path`` with mode 0600 (refusing to reuse an existing file) and write ``data``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path


def _san(hosts: tuple[str, ...]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(("127.0.0.1", "localhost", *hosts)):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def make_tls(directory: Path, *, hosts: tuple[str, ...] = ()) -> TlsFiles:
    """A fresh CA and SuperLink certificate for ``hosts`` in ``directory`` (keys 0600).

    Args:
        directory: created 0700; must not already hold the three files.
        hosts: addresses (IP or DNS name) SuperNodes and ``flwr`` use to reach the SuperLink,
            besides ``127.0.0.1`` and ``localhost``.
    """
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(minutes=5), now + CERT_VALIDITY
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qtfl per-run CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                       key_cert_sign=True, crl_sign=True, encipher_only=False,
                       decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA384())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP384R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qtfl SuperLink")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_san(hosts), critical=False)
        .sign(ca_key, hashes.SHA384())
    )  # fmt: skip
    del ca_key  # never written: no further certificate can be issued under this CA
    directory = private_dir(directory)
    files = TlsFiles(directory / CA_CERT, directory / SERVER_CERT, directory / SERVER_KEY)
    files.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    write_private(
        files.server_key,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return files


def load_tls_dir(directory: str | Path, *, hosts: tuple[str, ...] = ()) -> TlsFiles:
    """User-supplied TLS files, checked: present, parseable, issued by the CA, key 0600.

    Raises:
        InputError: naming the file and what is wrong with it.
    """
    d = Path(directory)
    if not d.is_dir():
        raise InputError(f"--tls-dir {d} is not a directory (it must hold {_listing()})")
    files = TlsFiles(d / CA_CERT, d / SERVER_CERT, d / SERVER_KEY)
    for path in (files.ca_cert, files.server_cert, files.server_key):
        if not path.is_file():
            raise InputError(f"--tls-dir {d} has no {path.name} (it must hold {_listing()})")
    mode = stat.S_IMODE(files.server_key.stat().st_mode)
    if mode & 0o077:
        raise InputError(
            f"{files.server_key} is readable by others (mode {mode:o}); "
            f"a private key must be owner-only: chmod 600 {files.server_key}"
        )
    try:
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    except ValueError:
        raise InputError(f"{files.ca_cert} is not a PEM certificate") from None
    try:
        cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    except ValueError:
        raise InputError(f"{files.server_cert} is not a PEM certificate") from None
    try:
        serialization.load_pem_private_key(files.server_key.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise InputError(f"{files.server_key} is not an unencrypted PEM private key") from None
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise InputError(f"{files.server_cert} is not signed by {files.ca_cert}") from None
    missing = [h for h in hosts if not _covers(cert, h)]
    if missing:
        raise InputError(
            f"{files.server_cert} does not name {', '.join(missing)} in its subject "
            "alternative names; SuperNodes dialling that address would refuse it"
        )
    return files


def _covers(cert: x509.Certificate, host: str) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        return ipaddress.ip_address(host) in san.get_values_for_type(x509.IPAddress)
    except ValueError:
        return host in san.get_values_for_type(x509.DNSName)


def _listing() -> str:
    return f"{CA_CERT}, {SERVER_CERT} and {SERVER_KEY}"


def make_node_key(directory: Path, name: str) -> NodeKey:
    """A fresh P-384 key pair for one SuperNode: ``<name>`` (0600) and ``<name>.pub``."""
    directory = private_dir(directory)
    key = ec.generate_private_key(ec.SECP384R1())
    private = write_private(
        directory / name,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ),
    )
    public = directory / f"{name}.pub"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        + b"\n"
    )
    return NodeKey(private, public)
