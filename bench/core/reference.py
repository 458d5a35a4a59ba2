#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""References for bench/core, measured in the same run as ours.

  reference.py gen FILE N SEED     write N random IPv4 networks (/8../28)
  reference.py subtract FILE       Python ipaddress: 0.0.0.0/0 minus FILE
                                   (address_exclude, then collapse_addresses);
                                   prints the time then the result lines
  reference.py keys N              base64 validation of a public key (stdlib)
  reference.py tokens N            parse + checksum + SHA-256 + compare (stdlib)
"""
import base64
import hashlib
import hmac
import ipaddress
import os
import random
import sys
import time


def gen(path, n, seed):
    rnd = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(n):
            length = rnd.randint(8, 28)
            addr = rnd.getrandbits(32) & ((0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF)
            f.write(f"{ipaddress.IPv4Address(addr)}/{length}\n")


def subtract(path):
    excludes = [ipaddress.ip_network(line.strip()) for line in open(path) if line.strip()]
    t0 = time.perf_counter()
    nets = [ipaddress.ip_network("0.0.0.0/0")]
    for ex in excludes:
        new = []
        for n in nets:
            if not n.overlaps(ex):
                new.append(n)
            elif ex.supernet_of(n):
                continue
            else:
                new.extend(n.address_exclude(ex))
        nets = new
    result = sorted(ipaddress.collapse_addresses(nets))
    dt = time.perf_counter() - t0
    print(f"subtract_time\t{dt:.6f}\ts")
    print(f"subtract_result\t{len(result)}\tprefixes")
    for r in result:
        print(f"= {r}")


def keys(n):
    text = base64.b64encode(os.urandom(32)).decode()
    t0 = time.perf_counter()
    for _ in range(n):
        ok = len(text) == 44 and len(base64.b64decode(text, validate=True)) == 32
        assert ok
    print(f"key_validate\t{n / (time.perf_counter() - t0):.0f}\tper_s")


def tokens(n):
    # The same steps as mr_token_verify: split the text, decode id and secret
    # from base32, check a checksum over the text (zlib's CRC-32 stands in for
    # our CRC-30), hash the secret, compare in constant time.
    import binascii
    secret = os.urandom(32)
    sid = base64.b32encode(os.urandom(10)).decode().lower()
    body = f"mrp_{sid}_" + base64.b32encode(secret).decode().rstrip("=").lower()
    text = body + format(binascii.crc32(body.encode()) & 0xFFFFFF, "06x")
    stored = hashlib.sha256(secret).digest()
    t0 = time.perf_counter()
    for _ in range(n):
        assert text.startswith("mrp_") and len(text) == 79
        body, check = text[:-6], text[-6:]
        assert format(binascii.crc32(body.encode()) & 0xFFFFFF, "06x") == check
        _, tid, sec = body.split("_")
        base64.b32decode(tid.upper())
        raw = base64.b32decode(sec.upper() + "====")
        assert hmac.compare_digest(hashlib.sha256(raw).digest(), stored)
    print(f"token_verify\t{n / (time.perf_counter() - t0):.0f}\tper_s")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "subtract":
        subtract(sys.argv[2])
    elif cmd == "keys":
        keys(int(sys.argv[2]))
    elif cmd == "tokens":
        tokens(int(sys.argv[2]))
    else:
        sys.exit(f"unknown command {cmd}")
