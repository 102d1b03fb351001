#!/usr/bin/python3
"""Registries that require credentials, for the kdap local test cluster.

Two more Debian `docker-registry` (distribution 2.8) instances next to the open one on
127.0.0.1:5000, both over TLS with a serving certificate of the cluster CA (DIR/pki/ca.crt):

  basic   127.0.0.1:5001   `auth: htpasswd` (bcrypt), as a private registry does
  token   127.0.0.1:5002   `auth: token`: the Bearer flow public registries use; its token
                           service (this file, `token-server`) is https://127.0.0.1:5003/token

Another cluster directory already holding a port: any free port instead; the addresses in use are
in DIR/registry-auth/registries.json (no secrets, 0644).  The credentials are generated once per
DIR and written only to 0600 files:

  DIR/registry-auth/credentials.json  {"ca": ..., "basic": {"registry", "username", "password"},
                                       "token": {"registry", "realm", "service", "username", "password"}}
  DIR/registry-auth/auth.json         the same as a docker config.json `auths` map (skopeo
                                      --authfile, REGISTRY_AUTH_FILE, DOCKER_CONFIG)
  DIR/registry-auth/certs/ca.crt      the cluster CA alone (skopeo --cert-dir / --dest-cert-dir)

The token service answers `GET /token?service=S&scope=repository:NAME:ACTIONS` (Basic auth
optional) with {"token", "access_token", "expires_in", "issued_at"}: a JWT (RS256, x5c = its
signing certificate, issued by the cluster CA = the registry's rootcertbundle).  A known user
gets every action it asks for; an anonymous client gets a token with no access (the registry then
answers 401 insufficient_scope, as Docker Hub does for a private repository); a wrong password
gets 401.  It logs who asked for which scope, never a secret.
"""
import argparse
import base64
import datetime
import http.server
import json
import os
import secrets
import socket
import ssl
import sys
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import api_pki  # noqa: E402

PORTS = {"basic": 5001, "token": 5002, "token-service": 5003}
SERVICE = "kdap-token-registry"
ISSUER = "kdap-token-service"
USERS = {"basic": "kdap-basic", "token": "kdap-token"}
TOKEN_TTL = 300
BCRYPT_COST = 4     # every request to the Basic registry checks the hash: keep it cheap

REGISTRY_CONFIG = """version: 0.1
log:
  level: {level}
  accesslog:
    disabled: {quiet}
  fields:
    service: {service}
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: {addr}
  secret: {secret}
{tls}  headers:
    X-Content-Type-Options: [nosniff]
{auth}"""


def config_yaml(service, root, addr, secret, tls=None, auth=""):
    """A docker-registry config: the open one (no tls, no auth, quiet) or one with credentials
    (TLS (cert, key), an `auth:` section, access log on for counting uploads)."""
    t = "  tls:\n    certificate: %s\n    key: %s\n" % tls if tls else ""
    return REGISTRY_CONFIG.format(level="info" if tls else "warn", quiet="false" if tls else "true",
                                  service=service, root=root, addr=addr, secret=secret, tls=t,
                                  auth="auth:\n" + auth if auth else "")


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Paths:
    def __init__(self, d):
        self.dir = os.path.abspath(d)
        self.root = os.path.join(self.dir, "registry-auth")
        j = lambda *p: os.path.join(self.root, *p)  # noqa: E731
        self.credentials = j("credentials.json")
        self.authfile = j("auth.json")
        self.registries = j("registries.json")
        self.certdir = j("certs")
        self.tls_crt, self.tls_key = j("tls.crt"), j("tls.key")
        self.signer_crt, self.signer_key = j("token-signer.crt"), j("token-signer.key")
        self.htpasswd = j("htpasswd")
        self.token_users = j("token-users.json")
        self.ca_crt = os.path.join(self.dir, "pki", "ca.crt")

    def config(self, kind):
        return os.path.join(self.root, kind, "config.yml")

    def pidfile(self, kind):
        return os.path.join(self.dir, "registry-%s.pid" % kind)

    def logfile(self, kind):
        return os.path.join(self.dir, "registry-%s.log" % kind)


def _load_ca(d):
    pki = api_pki.Pki(d)
    pki.ensure()
    with open(pki.ca_key, "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    with open(pki.ca_crt, "rb") as f:
        ca_cert = x509.load_pem_x509_certificate(f.read())
    return ca_cert, ca_key


def ensure_files(d):
    """Certificates, users, htpasswd and auth files of DIR (created once, kept across restarts).
    Returns the credentials dict."""
    p = Paths(d)
    os.makedirs(p.root, mode=0o700, exist_ok=True)
    os.makedirs(p.certdir, exist_ok=True)
    ca_cert, ca_key = _load_ca(d)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    fresh_ca = not os.path.exists(os.path.join(p.certdir, "ca.crt")) or \
        open(os.path.join(p.certdir, "ca.crt"), "rb").read() != ca_pem
    if fresh_ca or not os.path.exists(p.tls_key):
        key = api_pki._key()
        subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kdap-registry")])
        cert = api_pki._cert(subj, key, ca_cert.subject, ca_key, server_sans=["127.0.0.1", "::1", "localhost"])
        api_pki._write(p.tls_key, api_pki._key_pem(key), 0o600)
        api_pki._write(p.tls_crt, cert.public_bytes(serialization.Encoding.PEM))
    if fresh_ca or not os.path.exists(p.signer_key):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        cert = api_pki._cert(subj, key, ca_cert.subject, ca_key)
        api_pki._write(p.signer_key, api_pki._key_pem(key), 0o600)
        api_pki._write(p.signer_crt, cert.public_bytes(serialization.Encoding.PEM))
    api_pki._write(os.path.join(p.certdir, "ca.crt"), ca_pem)

    creds = {}
    if os.path.exists(p.credentials):
        with open(p.credentials) as f:
            creds = json.load(f)
    changed = False
    for kind, user in USERS.items():
        if not creds.get(kind, {}).get("password"):
            creds[kind] = {"username": user, "password": secrets.token_urlsafe(24)}
            changed = True
    creds["ca"] = p.ca_crt
    if changed or not os.path.exists(p.htpasswd) or not os.path.exists(p.token_users):
        import bcrypt
        for path, kind in ((p.htpasswd, "basic"), (p.token_users, "token")):
            h = bcrypt.hashpw(creds[kind]["password"].encode(), bcrypt.gensalt(BCRYPT_COST)).decode()
            if kind == "basic":
                api_pki._write(path, ("%s:%s\n" % (creds[kind]["username"], h)).encode(), 0o600)
            else:
                api_pki._write(path, json.dumps({creds[kind]["username"]: h}).encode(), 0o600)
    return creds, changed


def write_addresses(d, creds, addrs):
    """Record the addresses in use: registries.json (public) and the 0600 credential files."""
    p = Paths(d)
    creds["basic"]["registry"] = addrs["basic"]
    creds["token"]["registry"] = addrs["token"]
    creds["token"]["realm"] = "https://%s/token" % addrs["token-service"]
    creds["token"]["service"] = SERVICE
    api_pki._write(p.credentials, json.dumps(creds, indent=1).encode(), 0o600)
    auths = {creds[k]["registry"]: {"auth": base64.b64encode(
        ("%s:%s" % (creds[k]["username"], creds[k]["password"])).encode()).decode()} for k in USERS}
    api_pki._write(p.authfile, json.dumps({"auths": auths}, indent=1).encode(), 0o600)
    public = {"ca": p.ca_crt, "basic": addrs["basic"], "token": addrs["token"],
              "token-service": creds["token"]["realm"], "service": SERVICE}
    api_pki._write(p.registries, json.dumps(public, indent=1).encode(), 0o644)


def registry_config(d, kind, addr, realm=None):
    p = Paths(d)
    if kind == "basic":
        auth = "  htpasswd:\n    realm: kdap-basic-registry\n    path: %s\n" % p.htpasswd
    else:
        auth = ("  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n"
                % (realm, SERVICE, ISSUER, p.ca_crt))
    data = os.path.join(p.root, kind, "data")
    os.makedirs(data, exist_ok=True)
    return config_yaml("registry-" + kind, data, addr, secrets.token_hex(16), (p.tls_crt, p.tls_key), auth)


def free_port(preferred):
    """`preferred` when nothing listens there, else any free port."""
    for port in (preferred, 0):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return s.getsockname()[1]
        except OSError:
            continue
        finally:
            s.close()
    raise OSError("no free port")


def probe(addr, ctx):
    """True when a TLS server answers GET /v2/ (any status) at addr."""
    import http.client
    h, _, port = addr.rpartition(":")
    try:
        c = http.client.HTTPSConnection(h, int(port), context=ctx, timeout=2)
        c.request("GET", "/v2/")
        c.getresponse().read()
        c.close()
        return True
    except (OSError, http.client.HTTPException):
        return False


# ---------------------------------------------------------------------------------------------
# the token service

def make_token(signer_key, signer_crt_der, account, access):
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(signer_crt_der).decode()]}
    claims = {"iss": ISSUER, "sub": account, "aud": SERVICE, "exp": now + TOKEN_TTL, "nbf": now - 10,
              "iat": now, "jti": secrets.token_hex(16), "access": access}
    signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     _b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = signer_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64url(sig)


def parse_scopes(values):
    """`repository:NAME:pull,push` (repeated, or space separated) -> access claim entries."""
    out = []
    for v in values:
        for scope in v.split():
            parts = scope.split(":")
            if len(parts) < 3:
                continue
            typ, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1]
            out.append({"type": typ, "name": name, "actions": [a for a in actions.split(",") if a]})
    return out


def serve_token(d, port):
    import bcrypt
    p = Paths(d)
    with open(p.signer_key, "rb") as f:
        signer_key = serialization.load_pem_private_key(f.read(), None)
    with open(p.signer_crt, "rb") as f:
        signer_der = x509.load_pem_x509_certificate(f.read()).public_bytes(serialization.Encoding.DER)
    with open(p.token_users) as f:
        users = json.load(f)
    logf = open(p.logfile("token-service"), "a", buffering=1)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "kdap-token-service/1"

        def log_message(self, fmt, *args):   # the request line carries no secret; headers do
            pass

        def reply(self, code, obj, extra=None):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def account(self):
            """'' anonymous, the user name, or None for wrong credentials."""
            h = self.headers.get("Authorization", "")
            if not h:
                return ""
            if not h.startswith("Basic "):
                return None
            try:
                user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
            except ValueError:
                return None
            hashed = users.get(user)
            if hashed and bcrypt.checkpw(pw.encode(), hashed.encode()):
                return user
            return None

        def issue(self, q, account):
            if q.get("service", [SERVICE])[0] != SERVICE:
                return self.reply(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
            if account is None:
                logf.write("%s token: refused: incorrect username or password\n" % time.strftime("%FT%T"))
                return self.reply(401, {"details": "incorrect username or password"},
                                  {"WWW-Authenticate": 'Basic realm="%s"' % ISSUER})
            access = parse_scopes(q.get("scope", [])) if account else []
            logf.write("%s token: account=%s scope=%s granted=%s\n" % (
                time.strftime("%FT%T"), account or "(anonymous)", " ".join(q.get("scope", [])),
                json.dumps(access)))
            tok = make_token(signer_key, signer_der, account, access)
            self.reply(200, {"token": tok, "access_token": tok, "expires_in": TOKEN_TTL,
                             "issued_at": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")})

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            if u.path != "/token":
                return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": u.path}]})
            self.issue(urllib.parse.parse_qs(u.query), self.account())

        def do_POST(self):   # OAuth2 form (grant_type=password|refresh_token), as Docker Hub accepts
            u = urllib.parse.urlsplit(self.path)
            n = int(self.headers.get("Content-Length") or 0)
            q = urllib.parse.parse_qs(self.rfile.read(n).decode(errors="replace"))
            if u.path != "/token":
                return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": u.path}]})
            account = ""
            if q.get("grant_type", [""])[0] == "password":
                user, pw = q.get("username", [""])[0], q.get("password", [""])[0]
                hashed = users.get(user)
                account = user if hashed and bcrypt.checkpw(pw.encode(), hashed.encode()) else None
            self.issue(q, account)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(p.tls_crt, p.tls_key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


def main(argv):
    ap = argparse.ArgumentParser(prog="registry_auth.py")
    ap.add_argument("command", choices=["token-server"])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args(argv)
    serve_token(os.path.abspath(a.dir), a.port)


if __name__ == "__main__":
    main(sys.argv[1:])
