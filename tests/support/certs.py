"""Certificates for TLS tests, made by scripts/make-certs (openssl; nothing downloaded)."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Certs:
    """A directory made by scripts/make-certs: a CA, the broker's certificate, clients' ones."""

    def __init__(self, directory, *clients):
        args = [str(ROOT / "scripts" / "make-certs"), str(directory)]
        for c in clients:
            args += ["--client", c]
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        self.dir = directory
        self.ca = directory / "ca.pem"
        self.broker = directory / "broker.pem"

    def client(self, name):
        """(certificate, key) of client `name`."""
        return self.dir / f"client-{name}-cert.pem", self.dir / f"client-{name}-key.pem"

    def client_pem(self, name):
        """Client `name`'s key and certificate chain in one file."""
        return self.dir / f"client-{name}.pem"

    @staticmethod
    def subject(name):
        """The subject DN (RFC 2253) of client `name`'s certificate."""
        return f"CN={name},OU=clients,O=Sluice"
