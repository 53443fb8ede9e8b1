"""Starts a server command and prints the milliseconds until GET URL first answers 200,
then leaves the server running and prints its pid. Used by bench/server.sh."""
import socket
import subprocess
import sys
import time

url_host, url_port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
command = sys.argv[4:]
request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()

started = time.perf_counter()
proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = started + 30
while time.perf_counter() < deadline:
    try:
        with socket.create_connection((url_host, url_port), timeout=1) as s:
            s.sendall(request)
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                print(f"{(time.perf_counter() - started) * 1000:.1f} {proc.pid}")
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.0005)
proc.kill()
sys.exit("no 200 within 30 s")
