"""Loopback TLS servers for the demo: a certificate expiring in 5 days, one
already expired, and one for the wrong host, under a demo CA that troop is told
to trust. Writes the CA to CA_PATH, serves until killed.

usage: tls_servers.py CA_PATH PORT DNS_PORT
  127.0.0.61 shop.demo.test    valid for 5 more days
  127.0.0.62 legacy.demo.test  expired 3 days ago
  127.0.0.63 api.demo.test     serves a certificate for www.demo.test
The names are answered by a small DNS server on 127.0.0.1:DNS_PORT.
"""
import datetime
import socket
import ssl
import sys
import tempfile
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ca_path, port, dns_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
now = datetime.datetime.now(datetime.timezone.utc)
day = datetime.timedelta(days=1)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


ca_key = ec.generate_private_key(ec.SECP256R1())
ca = (x509.CertificateBuilder().subject_name(name("troop demo CA")).issuer_name(name("troop demo CA"))
      .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
      .not_valid_before(now - 30 * day).not_valid_after(now + 3650 * day)
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
      .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
      .sign(ca_key, hashes.SHA256()))
with open(ca_path, "wb") as f:
    f.write(ca.public_bytes(serialization.Encoding.PEM))


def leaf(host, not_before, not_after):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name(host)).issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = tempfile.NamedTemporaryFile(delete=False, suffix=".pem")
    pem.write(cert.public_bytes(serialization.Encoding.PEM))
    pem.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    pem.close()
    return pem.name


servers = [
    ("127.0.0.61", leaf("shop.demo.test", now - day, now + 5 * day + datetime.timedelta(hours=1))),
    ("127.0.0.62", leaf("legacy.demo.test", now - 400 * day, now - 3 * day + datetime.timedelta(hours=1))),
    ("127.0.0.63", leaf("www.demo.test", now - day, now + 200 * day)),
]


def serve(ip, pem):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pem)
    sock = socket.create_server((ip, port))
    while True:
        conn, _ = sock.accept()
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass


NAMES = {"shop.demo.test": "127.0.0.61", "legacy.demo.test": "127.0.0.62", "api.demo.test": "127.0.0.63"}


def dns():
    """A records for NAMES; NXDOMAIN otherwise."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", dns_port))
    while True:
        q, peer = sock.recvfrom(1500)
        i, labels = 12, []
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode().lower())
            i += 1 + q[i]
        qtype = int.from_bytes(q[i + 1:i + 3], "big")
        ip = NAMES.get(".".join(labels))
        answers = [ip] if ip and qtype == 1 else []
        head = q[:2] + bytes([0x84 | (q[2] & 1), 0x80 if ip else 0x83]) + (1).to_bytes(2, "big") + len(answers).to_bytes(2, "big") + bytes(4)
        body = q[12:i + 5]
        for a in answers:
            body += b"\xc0\x0c" + (1).to_bytes(2, "big") + (1).to_bytes(2, "big") + (60).to_bytes(4, "big") + (4).to_bytes(2, "big")
            body += bytes(int(x) for x in a.split("."))
        sock.sendto(head + body, peer)


threading.Thread(target=dns, daemon=True).start()
for ip, pem in servers:
    threading.Thread(target=serve, args=(ip, pem), daemon=True).start()
print(f"demo TLS servers on 127.0.0.61-63:{port}", flush=True)
threading.Event().wait()
