"""PKI, bearer tokens and kubeconfig files of the simulated API server.

Everything lives under DIR/pki and is generated once (first start) and kept across restarts:

  ca.crt / ca.key                 cluster CA (ECDSA P-256, CA:TRUE, keyCertSign)
  apiserver.crt / apiserver.key   serving cert, SAN 127.0.0.1, ::1, localhost, kubernetes, ...
  alice.crt / alice.key           client cert CN=alice O=devs (clientAuth)
  tokens.json                     {"admin": tok, "restricted": tok, "system:node:kdap-node": tok,
                                   "bad": tok-that-is-never-accepted}

The kubeconfig files (DIR/kubeconfig, DIR/kubelet.kubeconfig) are rewritten on every start
because the port may change.  Nothing here is ever logged.
"""

import base64
import datetime
import ipaddress
import json
import os
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NODE_USER = "system:node:kdap-node"

# user -> groups (every authenticated user also gets system:authenticated)
TOKEN_USERS = {
    "admin": ["system:masters"],
    "restricted": ["devs"],
    NODE_USER: ["system:nodes"],
}


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _write(path, data, mode=0o644):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _cert(subject, key, issuer_name, issuer_key, *, ca=False, server_sans=None, client=False):
    now = datetime.datetime.utcnow() - datetime.timedelta(hours=1)
    b = (x509.CertificateBuilder()
         .subject_name(subject)
         .issuer_name(issuer_name)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now)
         .not_valid_after(now + datetime.timedelta(days=3650)))
    if ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                          content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False,
                                          encipher_only=False, decipher_only=False), critical=True)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True,
                                          key_cert_sign=False, crl_sign=False,
                                          content_commitment=False, data_encipherment=False,
                                          key_agreement=False, encipher_only=False,
                                          decipher_only=False), critical=True)
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH]
        b = b.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                            critical=False)
    if server_sans:
        names = []
        for s in server_sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(s)))
            except ValueError:
                names.append(x509.DNSName(s))
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


class Pki:
    """Paths and secrets of one cluster directory."""

    def __init__(self, cluster_dir):
        self.dir = os.path.abspath(cluster_dir)
        self.pki = os.path.join(self.dir, "pki")
        self.ca_crt = os.path.join(self.pki, "ca.crt")
        self.ca_key = os.path.join(self.pki, "ca.key")
        self.srv_crt = os.path.join(self.pki, "apiserver.crt")
        self.srv_key = os.path.join(self.pki, "apiserver.key")
        self.alice_crt = os.path.join(self.pki, "alice.crt")
        self.alice_key = os.path.join(self.pki, "alice.key")
        self.tokens_file = os.path.join(self.pki, "tokens.json")
        self.tokens = {}

    def ensure(self):
        os.makedirs(self.pki, mode=0o700, exist_ok=True)
        if not (os.path.exists(self.ca_crt) and os.path.exists(self.ca_key)):
            key = _key()
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kdap-local-ca")])
            cert = _cert(name, key, name, key, ca=True)
            _write(self.ca_key, _key_pem(key), 0o600)
            _write(self.ca_crt, cert.public_bytes(serialization.Encoding.PEM))
            for p in (self.srv_crt, self.alice_crt):  # re-issue leaf certs under the new CA
                if os.path.exists(p):
                    os.unlink(p)
        with open(self.ca_key, "rb") as f:
            ca_key = serialization.load_pem_private_key(f.read(), None)
        with open(self.ca_crt, "rb") as f:
            ca_cert = x509.load_pem_x509_certificate(f.read())
        if not os.path.exists(self.srv_crt) or not os.path.exists(self.srv_key):
            key = _key()
            subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
            sans = ["127.0.0.1", "::1", "10.96.0.1", "localhost", "kubernetes", "kubernetes.default",
                    "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
            cert = _cert(subj, key, ca_cert.subject, ca_key, server_sans=sans)
            _write(self.srv_key, _key_pem(key), 0o600)
            _write(self.srv_crt, cert.public_bytes(serialization.Encoding.PEM))
        if not os.path.exists(self.alice_crt) or not os.path.exists(self.alice_key):
            key = _key()
            subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice"),
                              x509.NameAttribute(NameOID.ORGANIZATION_NAME, "devs")])
            cert = _cert(subj, key, ca_cert.subject, ca_key, client=True)
            _write(self.alice_key, _key_pem(key), 0o600)
            _write(self.alice_crt, cert.public_bytes(serialization.Encoding.PEM))
        if os.path.exists(self.tokens_file):
            with open(self.tokens_file) as f:
                self.tokens = json.load(f)
        changed = False
        for user in list(TOKEN_USERS) + ["bad"]:
            if user not in self.tokens:
                self.tokens[user] = secrets.token_urlsafe(32)
                changed = True
        if changed:
            _write(self.tokens_file, json.dumps(self.tokens, indent=1).encode(), 0o600)

    def user_for_token(self, token):
        """Returns (user, groups) or None for an unknown (rejected) token."""
        for user, tok in self.tokens.items():
            if user != "bad" and secrets.compare_digest(tok, token):
                return user, TOKEN_USERS.get(user, []) + ["system:authenticated"]
        return None

    def write_kubeconfigs(self, port):
        def b64file(p):
            with open(p, "rb") as f:
                return base64.b64encode(f.read()).decode()

        server = "https://127.0.0.1:%d" % port
        cluster = {"name": "kdap-local",
                   "cluster": {"server": server, "certificate-authority-data": b64file(self.ca_crt)}}
        users = [
            {"name": "admin", "user": {"token": self.tokens["admin"]}},
            {"name": "alice", "user": {"client-certificate-data": b64file(self.alice_crt),
                                       "client-key-data": b64file(self.alice_key)}},
            {"name": "bad-token", "user": {"token": self.tokens["bad"]}},
            {"name": "restricted", "user": {"token": self.tokens["restricted"]}},
        ]

        def ctx(name, user):
            return {"name": name, "context": {"cluster": "kdap-local", "user": user, "namespace": "default"}}

        cfg = {"apiVersion": "v1", "kind": "Config", "preferences": {},
               "clusters": [cluster], "users": users,
               "contexts": [ctx("kdap-local", "admin"), ctx("alice-cert", "alice"),
                            ctx("bad-token", "bad-token"), ctx("restricted", "restricted")],
               "current-context": "kdap-local"}
        _write(os.path.join(self.dir, "kubeconfig"), _dump(cfg), 0o600)
        kcfg = {"apiVersion": "v1", "kind": "Config", "preferences": {},
                "clusters": [cluster],
                "users": [{"name": NODE_USER, "user": {"token": self.tokens[NODE_USER]}}],
                "contexts": [{"name": "kubelet", "context": {"cluster": "kdap-local", "user": NODE_USER,
                                                             "namespace": "default"}}],
                "current-context": "kubelet"}
        _write(os.path.join(self.dir, "kubelet.kubeconfig"), _dump(kcfg), 0o600)


def _dump(cfg):
    try:
        import yaml
        return yaml.safe_dump(cfg, sort_keys=False).encode()
    except ImportError:  # JSON is valid YAML
        return json.dumps(cfg, indent=2).encode()
