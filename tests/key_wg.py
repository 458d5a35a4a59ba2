#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compare libmyrelay's key module with `wg` (wireguard-tools).

  1. 1,000+ private keys (from `wg genkey`, from mr_key_generate_private and
     raw unclamped random bytes): our public key equals `wg pubkey`'s, and
     our base64 of a decoded key is the text wg printed.
  2. Keys from mr_key_generate_private are accepted by `wg pubkey` as is.
  3. A table of malformed keys and a few hundred random one-character
     mutations of valid keys: we accept exactly what `wg pubkey` accepts.

Usage: key_wg.py PATH/TO/key_tool
"""
import base64
import os
import random
import subprocess
import sys

N_WG_GENKEY = 400
N_OURS = 300
N_RAW = 300
N_MUTATIONS = 400

# Keys that wg refuses; kept as bytes because some are not valid UTF-8.
VALID = b"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
BAD = [
    b"",
    VALID[:-1],                                  # 43 characters
    VALID + b"A",                                # 45 characters
    VALID[:-1] + b"A",                           # no pad
    VALID[:-2] + b"==",                          # two pads
    b"=" + VALID[:-1],                           # pad first
    VALID[:-2] + b"=" + VALID[-2:-1],            # pad swapped
    VALID[:12] + b"-" + VALID[13:],              # URL-safe alphabet
    VALID[:12] + b"_" + VALID[13:],
    VALID[:12] + b"." + VALID[13:],
    VALID[:12] + b"\x80" + VALID[13:],
    VALID[:42] + b"p=",                          # not canonical: o -> p
    b"A" * 42 + b"B=",                           # not canonical
    b"/" * 42 + b"9=",                           # not canonical
]
ALSO_GOOD = [
    b"A" * 43 + b"=",                            # zero private key: wg takes it
    b"/" * 42 + b"8=",
    b"CQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    # regression: its public key starts with "ERR", which the tool's old
    # refusal marker mistook for an error (CI, 2026-11-25)
    b"YH9fVY4R8YIMw6Vre+as+HB2RxPg0iCo7dzS9RJf5lk=",
]

failures = 0


def fail(msg):
    global failures
    failures += 1
    if failures <= 20:
        print("FAIL:", msg)


def wg(args, data=None):
    return subprocess.run(["wg", *args], input=data, capture_output=True)


def wg_pubkey(text):
    """wg's verdict on one key: its public key text, or None if refused."""
    r = wg(["pubkey"], text + b"\n")
    if r.returncode != 0:
        return None
    return r.stdout.strip()


def tool(args, lines=None):
    data = b"".join(l + b"\n" for l in lines) if lines is not None else None
    r = subprocess.run([sys.argv[1], *args], input=data, capture_output=True, check=True)
    return r.stdout.splitlines()


def ours(lines, mode):
    """Our answer per line: the output text, or None when we refused."""
    out = tool([mode], lines)
    assert len(out) == len(lines), (len(out), len(lines))
    return [None if o.startswith(b"!ERR") else o for o in out]


def main():
    seed = os.environ.get("KEY_WG_SEED") or os.urandom(8).hex()
    print(f"mutation seed: KEY_WG_SEED={seed}")
    rng = random.Random(seed)

    wg_keys = [wg(["genkey"]).stdout.strip() for _ in range(N_WG_GENKEY)]
    our_keys = tool(["genkey", str(N_OURS)])
    raw_keys = [base64.b64encode(os.urandom(32)) for _ in range(N_RAW)]
    raw_keys += [base64.b64encode(bytes([b]) * 32) for b in (0, 0xff, 0x80, 0x7f)]
    keys = wg_keys + our_keys + raw_keys
    assert len(set(keys)) == len(keys), "duplicate keys"

    # 1 and 2: public keys and base64 agree.
    our_pubs = ours(keys, "pubkey")
    our_texts = ours(keys, "reencode")
    for key, mine, text in zip(keys, our_pubs, our_texts):
        theirs = wg_pubkey(key)
        if theirs is None:
            fail(f"wg refused a key we generated or decoded: {key!r}")
        elif mine != theirs:
            fail(f"public key of {key!r}: ours {mine!r}, wg {theirs!r}")
        if text != key:
            fail(f"decode+encode of {key!r} gave {text!r}")
    for key in our_keys:
        raw = base64.b64decode(key)
        if raw[0] & 7 or raw[31] & 0xc0 != 0x40:
            fail(f"generated private key {key!r} is not clamped")
    for key in tool(["genpsk", "50"]):
        if base64.b64encode(base64.b64decode(key)) != key or wg_pubkey(key) is None:
            fail(f"generated preshared key {key!r} is not a key wg accepts")

    # 3: the same keys refused and accepted.
    charset = [bytes([c]) for c in range(0x21, 0x7f)] + [b"\x80", b"\xc3", b"\xff"]
    mutated = []
    for _ in range(N_MUTATIONS):
        k = bytearray(rng.choice(keys))
        pos = rng.randrange(len(k) + 1)
        how = rng.random()
        if how < 0.8 and pos < len(k):
            k[pos:pos + 1] = rng.choice(charset)
        elif how < 0.9 and pos < len(k):
            del k[pos]
        else:
            k[pos:pos] = rng.choice(charset)
        mutated.append(bytes(k))
    cases = BAD + ALSO_GOOD + mutated
    mine_all = ours(cases, "pubkey")
    accepted = refused = 0
    for i, (case, mine) in enumerate(zip(cases, mine_all)):
        theirs = wg_pubkey(case)
        if i < len(BAD) and theirs is not None:
            fail(f"table says wg refuses {case!r}, but it accepted it")
        if i >= len(BAD) and i < len(BAD) + len(ALSO_GOOD) and theirs is None:
            fail(f"table says wg accepts {case!r}, but it refused it")
        if mine != theirs:
            fail(f"{case!r}: ours {mine!r}, wg {theirs!r}")
        if theirs is None:
            refused += 1
        else:
            accepted += 1

    print(f"{len(keys)} keys: public keys and base64 agree with wg: "
          f"{len(wg_keys)} from wg genkey, {len(our_keys)} from mr_key_generate_private, "
          f"{len(raw_keys)} raw random")
    print(f"{len(cases)} malformed or mutated keys: wg and we accepted {accepted}, "
          f"refused {refused}")
    print(f"key-wg: {failures} disagreement(s) with wg")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
