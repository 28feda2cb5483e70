#!/usr/bin/env python3
"""Measures the peak memory of `porta serve` under a burst of parallel sign-ins (issue 10).

Starts the given release binary on a fresh SQLite directory, opens N login forms (one cookie jar each), then
submits all N sign-ins at once and reports the server's resident memory before, at its peak (VmHWM) and after.

    cargo build --release --bin porta
    python3 benches/login-burst.py target/release/porta 200

Throttling is raised out of the way (login.max_failures) so every sign-in really runs argon2.
"""

import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

import requests

PASSWORD = "Burst-Measure-Lantern-Quarry-7"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1))


def main():
    binary, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    for k in ("PORTA_DATABASE_URL", "PORTA_MASTER_KEY", "PORTA_CONFIG"):
        env.pop(k, None)
    env.update(
        PORTA_LISTEN=f"127.0.0.1:{port}",
        PORTA_ISSUER=base,
        PORTA_ADMIN_PASSWORD=PASSWORD,
        PORTA_LOGIN__MAX_FAILURES="100000",
        PORTA_LOG_FORMAT="json",
        RUST_LOG="warn",
    )
    with tempfile.TemporaryDirectory() as d:
        server = subprocess.Popen([os.path.abspath(binary), "serve"], cwd=d, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    if requests.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    time.sleep(0.1)
            sessions = []
            for _ in range(n):
                s = requests.Session()
                html = s.get(base + "/login", timeout=10).text
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
                sessions.append((s, csrf))
            before = status_kib(server.pid, "VmRSS")
            results = []
            start = threading.Barrier(n)

            def sign_in(s, csrf):
                start.wait()
                r = s.post(base + "/login", data={"csrf_token": csrf, "username": "admin",
                                                  "password": PASSWORD},
                           allow_redirects=False, timeout=300)
                results.append(r.status_code)

            threads = [threading.Thread(target=sign_in, args=p) for p in sessions]
            t0 = time.time()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            took = time.time() - t0
            peak = status_kib(server.pid, "VmHWM")
            time.sleep(2)
            after = status_kib(server.pid, "VmRSS")
            codes = {c: results.count(c) for c in set(results)}
            print(f"{n} parallel sign-ins in {took:.1f} s, statuses {codes}")
            print(f"RSS before {before / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB, "
                  f"after {after / 1024:.0f} MiB")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
