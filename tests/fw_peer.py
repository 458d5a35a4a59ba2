# SPDX-License-Identifier: MIT
"""Tiny UDP/TCP endpoints for tests/fw-traffic.sh (stdlib only).

    fw_peer.py serve-udp PORT [LOG]   answer each datagram with the sender's
                                      address as the server saw it; append
                                      that address to LOG
    fw_peer.py serve-tcp PORT         answer each connection likewise, close
    fw_peer.py udp HOST PORT [SRC]    send one datagram (from SRC if given),
                                      print the answer; exit 1 on timeout
    fw_peer.py tcp HOST PORT          connect, print the answer; exit 1 when
                                      the connection fails or times out

Servers listen on every address of both families (one dual-stack socket).
"""
import socket
import sys

TIMEOUT = 1.0


def dual_socket(kind):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    return s


def plain(addr):
    return addr[7:] if addr.startswith("::ffff:") else addr


def serve_udp(port, log=None):
    s = dual_socket(socket.SOCK_DGRAM)
    s.bind(("::", port))
    while True:
        _, peer = s.recvfrom(2048)
        who = plain(peer[0])
        if log:
            with open(log, "a") as f:
                f.write(who + "\n")
        try:
            s.sendto(who.encode(), peer)
        except OSError:
            pass  # no route back (a spoofed source): keep serving


def serve_tcp(port):
    s = dual_socket(socket.SOCK_STREAM)
    s.bind(("::", port))
    s.listen(16)
    while True:
        c, peer = s.accept()
        try:
            c.sendall(plain(peer[0]).encode())
        except OSError:
            pass
        finally:
            c.close()


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def udp(host, port, src=None):
    s = socket.socket(family_of(host), socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    if src:
        s.bind((src, 0))
    s.sendto(b"hello", (host, port))
    try:
        data, _ = s.recvfrom(2048)
    except (socket.timeout, OSError) as e:
        print(f"no answer: {e}")
        return 1
    print(data.decode())
    return 0


def tcp(host, port):
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT) as s:
            print(s.recv(2048).decode())
    except OSError as e:
        print(f"failed: {e}")
        return 1
    return 0


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "serve-udp" and len(argv) in (3, 4):
        serve_udp(int(argv[2]), argv[3] if len(argv) == 4 else None)
    elif cmd == "serve-tcp" and len(argv) == 3:
        serve_tcp(int(argv[2]))
    elif cmd == "udp" and len(argv) in (4, 5):
        return udp(argv[2], int(argv[3]), argv[4] if len(argv) == 5 else None)
    elif cmd == "tcp" and len(argv) == 4:
        return tcp(argv[2], int(argv[3]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
