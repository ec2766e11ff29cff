"""The daemon's own small CA and the certificate of its executor listeners.

Made on first use in ``<state dir>/tls`` (directory 0700, keys 0600): a CA (EC P-256, ten
years) and a server certificate it signs whose SANs cover every address and name the
listeners are bound to or advertised as. Executors get the CA certificate (not a secret)
and verify the daemon with it; a listener that gains an address gets a new certificate.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_DAYS = 3650
CERT_DAYS = 825


@dataclass(frozen=True)
class ServerTLS:
    key_pem: bytes
    cert_pem: bytes
    ca_pem: bytes


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "StratOS"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_ca(common: str = "StratOS daemon CA") -> tuple[bytes, bytes]:
    """(key PEM, certificate PEM) of a new CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(_name(common)).issuer_name(_name(common))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return _pem_key(key), cert.public_bytes(serialization.Encoding.PEM)


def _san(value: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        return x509.DNSName(value)


def issue(ca_key_pem: bytes, ca_cert_pem: bytes, sans: Iterable[str]) -> tuple[bytes, bytes]:
    """(key PEM, certificate PEM) of a server certificate for ``sans`` (IP addresses or names)."""
    names = sorted({s for s in sans if s})
    if not names:
        raise ValueError("a server certificate needs at least one address or name")
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return _pem_key(key), cert.public_bytes(serialization.Encoding.PEM)


def sans_of(cert_pem: bytes) -> set[str]:
    """The addresses and names a certificate covers."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in ext.get_values_for_type(x509.IPAddress)} | set(ext.get_values_for_type(x509.DNSName))


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def server_tls(state_dir: Path, sans: Iterable[str]) -> ServerTLS:
    """The daemon's CA (made on first use) and a certificate covering ``sans`` (reissued when needed)."""
    directory = state_dir / "tls"
    directory.mkdir(mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.pem"
    if not (ca_key.exists() and ca_cert.exists()):
        key_pem, cert_pem = make_ca()
        _write_private(ca_key, key_pem)
        _write_private(ca_cert, cert_pem)
    wanted = {s for s in sans if s}
    key, cert = directory / "server.key", directory / "server.pem"
    if not (key.exists() and cert.exists()) or not wanted <= sans_of(cert.read_bytes()):
        covered = sans_of(cert.read_bytes()) if cert.exists() else set()
        key_pem, cert_pem = issue(ca_key.read_bytes(), ca_cert.read_bytes(), wanted | covered)
        _write_private(key, key_pem)
        _write_private(cert, cert_pem)
    return ServerTLS(key.read_bytes(), cert.read_bytes(), ca_cert.read_bytes())
