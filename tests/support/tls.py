"""Throwaway TLS material for tests: a private CA and a `localhost`/`127.0.0.1` server certificate.

The fake exchanges can serve HTTPS with it, so a client (ccxt, an SDK) verifies a real chain exactly as it
would against a venue, and a test can prove that trusting *this* CA is what makes the connection work.
Keys are EC P-256 because they are generated in milliseconds; validity is two days by default so a stale
file left in a temporary directory never looks like a real certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TlsMaterial", "make_test_pki"]


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """PEM files written by `make_test_pki`. `ca_key` is kept so the CA can also sign for a proxy."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path

    def server_ssl_context(self) -> ssl.SSLContext:
        """A server-side context presenting the server certificate (for `FakeBinanceUsdm(tls=...)`)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(certfile=self.server_cert, keyfile=self.server_key)
        return context

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client-side context that trusts only the test CA (for urllib/http.client in tests)."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


def make_test_pki(
    directory: str | Path,
    *,
    dns_names: tuple[str, ...] = ("localhost",),
    ip_addresses: tuple[str, ...] = ("127.0.0.1",),
    days: int = 2,
) -> TlsMaterial:
    """Create `ca.pem`, `ca-key.pem`, `server.pem`, `server-key.pem` in `directory` and return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # Back-date by an hour so a small clock difference between processes never makes the cert "not yet valid".
    not_before = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    not_after = not_before + dt.timedelta(days=days, hours=1)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "riskwall tests"),
        x509.NameAttribute(NameOID.COMMON_NAME, "riskwall throwaway test CA"),
    ])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    # Modern verifiers (OpenSSL with X509_STRICT, as Python 3.13+ enables) reject leaf certificates without
    # SAN, AKI or with CA:TRUE, so every extension a public CA would set is present.
    san = x509.SubjectAlternativeName(
        [x509.DNSName(name) for name in dns_names]
        + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    )
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (*dns_names, *ip_addresses)[0])]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(san, critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    material = TlsMaterial(
        ca_cert=directory / "ca.pem",
        ca_key=directory / "ca-key.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server-key.pem",
    )
    material.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    material.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(material.ca_key, ca_key)
    _write_private(material.server_key, server_key)
    return material


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.touch(mode=0o600, exist_ok=True)
    path.write_bytes(pem)
