# py-hello: the Python HTTP service kdap's Python tests debug.  It is started
# without debugpy (kdap attaches later).  Line numbers are found by the
# marker comments (tests/e2e/pydbg.py): keep each marker on its line.
import http.server
import os
import subprocess
import sys
import threading


class Account:
    def __init__(self, owner):
        self.owner = owner
        self.balance = 10


STATS = {"hits": 0}
LOCK = threading.Lock()


def decorate(text, acct, items):
    suffix = " (%s, %d)" % (acct.owner, len(items))
    return text + suffix  # PY_BP_DECORATE


def boom():
    raise KeyError("uncaught boom")  # PY_BP_BOOM


def handle(path):
    with LOCK:
        STATS["hits"] += 1
        hits = STATS["hits"]
    acct = Account("ann")
    items = list(range(250))
    table = {"k%d" % i: i for i in range(5)}
    msg = "hello %s #%d" % (path, hits)  # PY_BP_HANDLE
    if path == "/raise":
        try:
            raise ValueError("caught boom")
        except ValueError as e:
            msg = "caught %s" % e
    if path == "/spawn":
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    if path == "/uncaught":
        threading.Thread(target=boom, name="boom").start()
    msg = decorate(msg, acct, items)  # PY_BP_CALL
    return msg + " %d\n" % len(table)  # PY_BP_RETURN


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = handle(self.path).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


def main():
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "0"))
    host = os.environ.get("HOST", "127.0.0.1")
    srv = http.server.ThreadingHTTPServer((host, port), Handler)
    print("py-hello listening on %s:%d (pid %d)" % (host, srv.server_address[1], os.getpid()),
          flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
