#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Differential test of the cidr module against Python's ipaddress.

Generates random valid and mutated/invalid address and prefix strings of both
families, random contains/overlaps pairs, random subtractions and allocator
runs, feeds them all to tests/cidr_tool in one process, and compares every
answer with the standard library:

  mr_cidr_parse_network    ip_network(s, strict=True), "/N" required
  mr_cidr_parse_interface  ip_interface(s), "/N" required
  mr_cidr_parse_address    ip_address(s)
  mr_cidr_parse            ip_network(s, strict=True)
  mr_cidr_contains         b.subnet_of(a) (same version)
  mr_cidr_overlaps         a.overlaps(b) (same version)
  mr_cidr_subtract         collapse_addresses() of repeated address_exclude()
  mr_cidr_pool_alloc       ip_network.subnets(new_prefix=N), in order
  mr_cidr_hosts_alloc      ip_network.hosts() after the first (the gateway)

Intentional differences (inputs Python accepts and we refuse; they are
taken out of the comparison, counted, and we check that we do refuse them):

  zone ids          "fe80::1%eth0": Python >= 3.9 accepts scoped addresses;
                    AllowedIPs, interface addresses and pools have no zone.
  leading zeros     "10.0.0.0/024": Python reads it as /24; we refuse it as we
  in a length       refuse "010.0.0.1" (ambiguity: octal in other parsers).
  netmask forms     "10.0.0.0/255.255.255.0" and "/0.0.0.255": Python takes
                    IPv4 netmasks and hostmasks; we want a prefix length.
  bare address      "10.0.0.5" for ip_interface()/ip_network() means /32 in
  where "/N" is     Python; our network and interface parsers require the
  required          length (mr_cidr_parse and mr_cidr_parse_address take the
                    bare form).

Formatting: we print IPv4-mapped addresses in the mixed notation of RFC 5952
section 5 ("::ffff:1.2.3.4"), as Python >= 3.13 does. Python <= 3.12 prints
them in hex ("::ffff:102:304"); there, the text of mapped addresses is not
compared (counted as excluded).

Usage: cidr_diff.py PATH/TO/cidr_tool  (env CIDR_DIFF_SEED to vary the seed)
"""
import ipaddress
import itertools
import os
import random
import re
import subprocess
import sys
import time

SEED = int(os.environ.get("CIDR_DIFF_SEED", "20240601"))
N_STRINGS = 6000      # x 4 parse modes
N_PAIRS = 3000        # contains + overlaps each
N_NETWORK = 1000
N_SUBTRACT = 600
N_POOL = 200
N_HOSTS = 200

MAPPED_HEX = str(ipaddress.ip_address("::ffff:1.2.3.4")) == "::ffff:102:304"
MAPPED_NET = ipaddress.ip_network("::ffff:0:0/96")

rng = random.Random(SEED)


# --------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------

def rand_v4_int():
    kind = rng.random()
    if kind < 0.15:
        return rng.choice([0, 0xFFFFFFFF, 0x0A000000, 0x7F000001, 0xC0A80101])
    if kind < 0.4:
        # few significant octets, many zeros: exercises "0" octets
        v = 0
        for _ in range(4):
            v = (v << 8) | rng.choice([0, 0, 1, 10, 100, 255, rng.randrange(256)])
        return v
    return rng.getrandbits(32)


def rand_v6_int():
    kind = rng.random()
    if kind < 0.1:
        return rng.choice([0, 1, (1 << 128) - 1, 0xFFFF << 32 | rng.getrandbits(32),
                           0xFE80 << 112 | 1, 0x20010DB8 << 96])
    if kind < 0.6:
        # runs of zero groups of various lengths and positions (RFC 5952 ties)
        groups = [rng.choice([0, 0, 0, 1, 0xFFFF, rng.getrandbits(16), rng.getrandbits(8)])
                  for _ in range(8)]
        v = 0
        for g in groups:
            v = (v << 16) | g
        return v
    return rng.getrandbits(128)


def v6_text(v):
    """A random valid RFC 4291 spelling of v."""
    groups = [(v >> (16 * (7 - i))) & 0xFFFF for i in range(8)]
    style = rng.random()
    if style < 0.25:
        return str(ipaddress.IPv6Address(v))
    if style < 0.35:
        return ipaddress.IPv6Address(v).exploded
    tail_v4 = rng.random() < 0.15
    nparts = 6 if tail_v4 else 8
    texts = []
    for g in groups[:nparts]:
        t = "%x" % g
        if rng.random() < 0.15:
            t = t.zfill(rng.randint(len(t), 4))
        if rng.random() < 0.2:
            t = t.upper()
        texts.append(t)
    if tail_v4:
        texts.append(str(ipaddress.IPv4Address(v & 0xFFFFFFFF)))
    # compress a random run of zero groups (length >= 1 is valid on input)
    zero_runs = []
    i = 0
    while i < nparts:
        if groups[i] == 0:
            j = i
            while j < nparts and groups[j] == 0:
                j += 1
            zero_runs.append((i, j))
            i = j
        else:
            i += 1
    if zero_runs and rng.random() < 0.8:
        a, b = rng.choice(zero_runs)
        a2 = rng.randint(a, b - 1)
        b2 = rng.randint(a2 + 1, b)
        left = ":".join(texts[:a2])
        right = ":".join(texts[b2:])
        return left + "::" + right
    return ":".join(texts)


def rand_len(version):
    mx = 32 if version == 4 else 128
    r = rng.random()
    if r < 0.1:
        return mx
    if r < 0.15:
        return 0
    return rng.randint(0, mx)


def rand_network(version=None, base=None):
    version = version or rng.choice([4, 6])
    v = base if base is not None else (rand_v4_int() if version == 4 else rand_v6_int())
    ln = rand_len(version)
    cls = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    return cls((v, ln), strict=False)


def valid_string():
    version = rng.choice([4, 6])
    v = rand_v4_int() if version == 4 else rand_v6_int()
    text = str(ipaddress.IPv4Address(v)) if version == 4 else v6_text(v)
    r = rng.random()
    if r < 0.3:
        return text
    ln = rand_len(version)
    if r < 0.55:
        # make it a proper network (host bits zero) most of the time
        mx = 32 if version == 4 else 128
        v &= ~((1 << (mx - ln)) - 1) & ((1 << mx) - 1)
        text = str(ipaddress.IPv4Address(v)) if version == 4 else v6_text(v)
    return f"{text}/{ln}"


JUNK = list("0123456789abcdefABCDEFgGxX.:/%-+ \t\n") + ["::", ":::", "..", "//", "\u0661",
                                                       "\u00e9", "0", "00", "255", "256",
                                                       "ffff", "fffff", "%eth0", "1.2.3.4"]


def mutate(s):
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(9)
        pos = rng.randint(0, len(s))
        if op == 0 and s:
            s = s[:pos] + s[pos + 1:]
        elif op == 1:
            s = s[:pos] + rng.choice(JUNK) + s[pos:]
        elif op == 2 and s:
            p = rng.randrange(len(s))
            s = s[:p] + rng.choice(JUNK) + s[p + 1:]
        elif op == 3:
            s = s[:pos]
        elif op == 4:
            # leading zero on an octet/group or on the prefix length
            m = list(re.finditer(r"[0-9a-fA-F]+", s))
            if m:
                g = rng.choice(m)
                s = s[:g.start()] + "0" + s[g.start():]
        elif op == 5:
            s = rng.choice([" ", "\t", "", "x"]) + s + rng.choice([" ", "\n", "", "/"])
        elif op == 6:
            suffix = rng.choice(["/", "/33", "/129", "/-1", "/+8", "/ 8", "/8 ", "/08", "/0",
                                 "/00", "/255.255.255.0", "/0.0.0.255", "/1e1", "/%d" %
                                 rng.randint(0, 200), "/24/24"])
            s = s.split("/")[0] + suffix
        elif op == 7 and len(s) > 2:
            a = rng.randrange(len(s))
            b = rng.randrange(a, len(s))
            s = s[:a] + s[a:b + 1] + s[a:]
        elif op == 8:
            s = s + rng.choice(["%eth0", "%1", ":1", ".1", ":", "::"])
    return s


FIXED = [
    "", " ", "/", "//", "0.0.0.0", "0.0.0.0/0", "255.255.255.255/32", "1.2.3", "1.2.3.4.5",
    "1..2.3", ".1.2.3", "1.2.3.", "256.1.1.1", "01.2.3.4", "1.2.3.04", "0.0.0.00",
    "1.2.3.4/", "1.2.3.4/33", "1.2.3.4/32", "1.2.3.4/-0", "1.2.3.4/024", "10.0.0.0/8",
    "10.0.0.1/8", "::", "::/0", "::/128", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::",
    "::2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1::2::3", ":1::", "::1:",
    ":::", "1:::2", "12345::", "::ffff:1.2.3.4", "::ffff:1.2.3.4/96", "::1.2.3.4",
    "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "1:2:3:4:5::1.2.3.4", "::1.2.3",
    "::1.2.3.04", "::1.2.3.4:5", "1.2.3.4::", "fe80::1%eth0", "fe80::%1/64", "FE80::A",
    "2001:DB8::/32", "2001:db8::/129", "2001:0db8:0000:0000:0000:0000:0000:0001",
    "0000:0000:0000:0000:0000:0000:255.255.255.255", "g::1", "1.2.3.4 ", " 1.2.3.4",
    "1.2.3.4\n", "\u0661.2.3.4", "10.0.0.0/255.0.0.0", "10.0.0.0/0.255.255.255",
    "2001:db8:0:1:1:1:1:1", "2001:db8::1:0:0:1", "2001:0:0:1::1", "1:0:0:1:0:0:1:0",
]


# --------------------------------------------------------------------------
# Python's answers
# --------------------------------------------------------------------------

def py_parse(mode, s):
    """(prefix text, address text) or None when Python refuses."""
    try:
        if mode == "address":
            a = ipaddress.ip_address(s)
            return f"{a}/{a.max_prefixlen}", str(a)
        if mode == "interface":
            if "/" not in s:
                return None
            i = ipaddress.ip_interface(s)
            return str(i), str(i.ip)
        if mode == "network" and "/" not in s:
            return None
        n = ipaddress.ip_network(s, strict=True)
        return str(n), str(n.network_address)
    except ValueError:
        return None


def intentional_difference(s):
    if "%" in s:
        return "zone id"
    if "/" in s:
        addr, _, plen = s.partition("/")
        if re.fullmatch(r"0[0-9]+", plen):
            return "leading zero in prefix length"
        if "." in plen and ":" not in addr:
            return "IPv4 netmask/hostmask form"
    return None


def is_mapped_text(text):
    """True when text is an IPv4-mapped address and this Python prints those
    differently from us (only then is the text left out)."""
    if not MAPPED_HEX:
        return False
    try:
        return ipaddress.ip_interface(text).ip in MAPPED_NET
    except ValueError:
        return False


def py_subtract(include, exclude):
    out = []
    for version in (4, 6):
        nets = list(ipaddress.collapse_addresses(n for n in include if n.version == version))
        for e in (e for e in exclude if e.version == version):
            new = []
            for n in nets:
                if not n.overlaps(e):
                    new.append(n)
                elif e.subnet_of(n):
                    new.extend(n.address_exclude(e))
                # else: n lies inside e and disappears
            nets = new
        out += sorted(ipaddress.collapse_addresses(nets))
    return [str(n) for n in out]


def rand_subnet_of(net):
    """A random network inside net (or net itself)."""
    mx = net.max_prefixlen
    ln = rng.randint(net.prefixlen, min(mx, net.prefixlen + rng.choice([0, 1, 2, 4, 8, 16, 40])))
    host = rng.getrandbits(mx - net.prefixlen) if mx > net.prefixlen else 0
    v = int(net.network_address) | host
    return type(net)((v, ln), strict=False)


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

def main():
    tool = sys.argv[1]
    t0 = time.monotonic()
    cmds = []      # command lines for the tool
    checks = []    # (kind, payload) parallel to cmds

    strings = list(FIXED)
    while len(strings) < N_STRINGS:
        s = valid_string()
        if rng.random() < 0.45:
            s = mutate(s)
        strings.append(s)
    for s in strings:
        for mode in ("network", "interface", "address", "any"):
            cmds.append(f"parse {mode} {s.encode('utf-8').hex()}")
            checks.append(("parse", (mode, s)))

    for _ in range(N_PAIRS):
        a = rand_network()
        r = rng.random()
        if r < 0.4:
            b = rand_subnet_of(a)
        elif r < 0.6:
            b = rand_network(a.version, int(a.network_address))
        elif r < 0.7:
            b = rand_network(6 if a.version == 4 else 4)
        else:
            b = rand_network(a.version)
        if rng.random() < 0.5:
            a, b = b, a
        for op in ("contains", "overlaps"):
            cmds.append(f"{op} {a} {b}")
            checks.append((op, (a, b)))

    for _ in range(N_NETWORK):
        version = rng.choice([4, 6])
        v = rand_v4_int() if version == 4 else rand_v6_int()
        text = str(ipaddress.IPv4Address(v)) if version == 4 else v6_text(v)
        ln = rand_len(version)
        cmds.append(f"network {text}/{ln}")
        checks.append(("network", f"{text}/{ln}"))

    for i in range(N_SUBTRACT):
        include = []
        for _ in range(rng.randint(0 if i % 50 == 0 else 1, 4)):
            r = rng.random()
            if r < 0.2:
                include.append(ipaddress.ip_network(rng.choice(["0.0.0.0/0", "::/0"])))
            elif r < 0.35:
                # touching siblings, which the result must merge
                n = rand_network()
                if n.prefixlen + 2 <= n.max_prefixlen:
                    parts = list(n.subnets(prefixlen_diff=2))
                    include += rng.sample(parts, rng.randint(2, 4))
                else:
                    include.append(n)
            else:
                include.append(rand_network())
        exclude = []
        for _ in range(rng.randint(0, 40)):
            r = rng.random()
            if include and r < 0.75:
                exclude.append(rand_subnet_of(rng.choice(include)))
            elif include and r < 0.85:
                # a supernet of an include (removes all of it)
                n = rng.choice(include)
                exclude.append(n.supernet(prefixlen_diff=rng.randint(0, n.prefixlen)))
            else:
                exclude.append(rand_network())
        if exclude and rng.random() < 0.2:
            exclude.append(rng.choice(exclude))  # duplicates
        if include and rng.random() < 0.05:
            exclude.append(rng.choice(include))  # exclude equal to include
        cmds.append("subtract " + " ".join(map(str, include)) + " | " +
                    " ".join(map(str, exclude)))
        checks.append(("subtract", (include, exclude)))

    for _ in range(N_POOL):
        version = rng.choice([4, 6])
        mx = 32 if version == 4 else 128
        pool = rand_network(version)
        sub = rng.randint(pool.prefixlen, min(mx, pool.prefixlen + rng.choice([0, 1, 3, 8, 20])))
        n = rng.randint(1, 40)
        cmds.append(f"pool {pool} {sub} {n}")
        checks.append(("pool", (pool, sub, n)))

    for _ in range(N_HOSTS):
        version = rng.choice([4, 6])
        mx = 32 if version == 4 else 128
        net = rand_network(version)
        if rng.random() < 0.6:
            net = net.supernet(new_prefix=max(0, min(net.prefixlen, mx - rng.randint(0, 6))))
        n = rng.randint(1, 70)
        cmds.append(f"hosts {net} {n}")
        checks.append(("hosts", (net, n)))

    proc = subprocess.run([tool], input="\n".join(cmds) + "\n", capture_output=True,
                          text=True, errors="replace")
    lines = proc.stdout.split("\n")
    if proc.returncode != 0:
        print(f"FAIL: cidr_tool exited with {proc.returncode}: {proc.stderr[-2000:]}")
        return 1
    if len(lines) - 1 != len(cmds):
        print(f"FAIL: {len(cmds)} commands but {len(lines) - 1} answers")
        return 1

    counts = {}
    excluded = {}
    failures = []

    def fail(msg):
        failures.append(msg)

    def count(kind):
        counts[kind] = counts.get(kind, 0) + 1

    for cmd, (kind, payload), got in zip(cmds, checks, lines):
        if kind == "parse":
            mode, s = payload
            ours = None
            if got.startswith("ok "):
                ours = tuple(got[3:].split(" "))
            elif not got.startswith("err -1 "):
                fail(f"parse {mode} {s!r}: unexpected answer {got!r}")
                continue
            reason = intentional_difference(s)
            if not reason and mode in ("network", "interface") and "/" not in s:
                # Python defaults the length to /32 or /128; we require it here
                # (mr_cidr_parse / mr_cidr_parse_address take bare addresses)
                try:
                    ipaddress.ip_interface(s)
                    reason = "bare address where \"/N\" is required"
                except ValueError:
                    pass
            if reason:
                excluded[reason] = excluded.get(reason, 0) + 1
                if ours is not None:
                    fail(f"parse {mode} {s!r}: we accept it ({got}) but document refusing "
                         f"it ({reason})")
                continue
            want = py_parse(mode, s)
            if (want is None) != (ours is None):
                fail(f"parse {mode} {s!r}: ours {got!r}, Python "
                     f"{'refuses' if want is None else want}")
                continue
            if want is None:
                # the detail must name the input (for inputs quoted verbatim)
                if (s.isprintable() and s.isascii() and '"' not in s and "\\" not in s
                        and len(s) <= 64 and f'"{s}"' not in got):
                    fail(f"parse {mode} {s!r}: detail does not quote the input: {got!r}")
                count(f"parse {mode} refused")
                continue
            if is_mapped_text(want[0]):
                excluded["IPv4-mapped text (this Python prints hex)"] = \
                    excluded.get("IPv4-mapped text (this Python prints hex)", 0) + 1
                continue
            if tuple(want) != ours:
                fail(f"parse {mode} {s!r}: ours {ours}, Python {want}")
                continue
            count(f"parse {mode} accepted")
        elif kind in ("contains", "overlaps"):
            a, b = payload
            if a.version != b.version:
                want = False
            elif kind == "contains":
                want = b.subnet_of(a)
            else:
                want = a.overlaps(b)
            if got != ("true" if want else "false"):
                fail(f"{kind} {a} {b}: ours {got}, Python {want}")
                continue
            count(f"{kind} {'true' if want else 'false'}")
        elif kind == "network":
            want = str(ipaddress.ip_interface(payload).network)
            if is_mapped_text(want):
                continue
            if got != f"ok {want}":
                fail(f"network {payload}: ours {got!r}, Python {want}")
                continue
            count("network")
        elif kind == "subtract":
            include, exclude = payload
            want = py_subtract(include, exclude)
            if not got.startswith("ok"):
                fail(f"{cmd}: {got}")
                continue
            ours = got[3:].split() if got != "ok" else []
            if MAPPED_HEX:
                want = [w for w in want if not is_mapped_text(w)]
                ours = [o for o in ours if not is_mapped_text(o)]
            if ours != want:
                fail(f"{cmd}:\n  ours   {ours[:20]}... ({len(ours)})\n  Python {want[:20]}... "
                     f"({len(want)})")
                continue
            count("subtract")
            counts["subtract output prefixes"] = counts.get("subtract output prefixes", 0) + \
                len(want)
        elif kind == "pool":
            pool, sub, n = payload
            want = [str(s) for s in itertools.islice(pool.subnets(new_prefix=sub), n)]
            if len(want) < n:
                want.append("exhausted")
            want = "ok " + " ".join(want)
            if MAPPED_HEX and any(is_mapped_text(w) for w in want.split()[1:]):
                continue
            if got != want:
                fail(f"{cmd}: ours {got!r}, Python {want!r}")
                continue
            count("pool")
        elif kind == "hosts":
            net, n = payload
            mx = net.max_prefixlen
            if net.prefixlen > mx - 2:
                if not got.startswith("err -1 "):
                    fail(f"{cmd}: too small for hosts, but got {got!r}")
                    continue
                count("hosts refused (/31, /32, /127, /128)")
                continue
            gateway = f"{net.network_address + 1}/{net.prefixlen}"
            # Python's hosts(): IPv4 skips network and broadcast, IPv6 skips the
            # subnet-router anycast (offset 0); we additionally reserve the first
            # one as the gateway.
            hosts = [str(h) for h in itertools.islice(net.hosts(), 1, n + 1)]
            if len(hosts) < n:
                hosts.append("exhausted")
            want = "ok " + " ".join([gateway] + hosts)
            if MAPPED_HEX and is_mapped_text(gateway):
                continue
            if got != want:
                fail(f"{cmd}: ours {got!r}, Python {want!r}")
                continue
            count("hosts")

    total = sum(v for k, v in counts.items() if k != "subtract output prefixes")
    print(f"seed {SEED}; Python {sys.version.split()[0]}; {len(cmds)} commands in "
          f"{time.monotonic() - t0:.1f} s")
    for k in sorted(counts):
        print(f"  agree  {counts[k]:7d}  {k}")
    for k in sorted(excluded):
        print(f"  excl.  {excluded[k]:7d}  {k} (intentional difference; refusal checked)")
    print(f"  total agreeing cases: {total}; failures: {len(failures)}")
    for f in failures[:40]:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
