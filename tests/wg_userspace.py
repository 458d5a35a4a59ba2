# SPDX-License-Identifier: MIT
"""The wg module against wireguard-go and wg(8), in network namespaces.

Run by wg-userspace.sh (root, names made unique by MR_WG_TEST_SUFFIX):

  python3 wg_userspace.py WG_TOOL

Every device is a wireguard-go process started through the library
(mr_wg_start_userspace) inside a namespace made here. Results of
libmyrelay are compared field by field with what the real wg(8) reads from
the same device, and devices configured by wg(8) are read with libmyrelay.
With MR_WG_BENCH=N it also prints the time to configure N peers with ours and
with `wg setconf` (an indication, not a benchmark).
"""
import base64
import os
import random
import re
import subprocess
import sys
import time

TOOL = sys.argv[1]
SFX = os.environ["MR_WG_TEST_SUFFIX"]
TMP = os.environ["MR_WG_TEST_TMP"]
NS_A = f"mrwg-a-{SFX}"
NS_B = f"mrwg-b-{SFX}"
PIDS = []
FAILED = []
rng = random.Random(int(SFX, 16))


def run(cmd, ns=None, check=True, input=None):
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    p = subprocess.run(cmd, input=input, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def tool(args, ns, check=True):
    return run([TOOL] + args, ns=ns, check=check)


def ok(cond, what):
    print(("ok   - " if cond else "FAIL - ") + what, flush=True)
    if not cond:
        FAILED.append(what)
    return cond


# --- keys and configurations ---------------------------------------------

def b64(raw):
    return base64.b64encode(raw).decode()


def genkey():
    k = bytearray(rng.randbytes(32))
    k[0] &= 248
    k[31] = (k[31] & 127) | 64
    return b64(bytes(k))


def pubkey(priv):
    return run(["wg", "pubkey"], input=priv + "\n").stdout.strip()


def randpub():
    return b64(rng.randbytes(32))


class Peer:
    def __init__(self, pub, aips=(), psk=None, endpoint=None, keepalive=0):
        self.pub, self.aips, self.psk = pub, list(aips), psk
        self.endpoint, self.keepalive = endpoint, keepalive


def render(priv, port, peers, fwmark=None, extra_peer_lines=None):
    out = ["[Interface]", f"PrivateKey = {priv}", f"ListenPort = {port}"]
    if fwmark is not None:
        out.append(f"FwMark = {fwmark}")
    for p in peers:
        out += ["", "[Peer]", f"PublicKey = {p.pub}"]
        if p.psk:
            out.append(f"PresharedKey = {p.psk}")
        if p.endpoint:
            out.append(f"Endpoint = {p.endpoint}")
        if p.aips:
            out.append("AllowedIPs = " + ", ".join(p.aips))
        if p.keepalive:
            out.append(f"PersistentKeepalive = {p.keepalive}")
        if extra_peer_lines and p.pub in extra_peer_lines:
            out += extra_peer_lines[p.pub]
    return "\n".join(out) + "\n"


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def dummy_peers(n, base):
    peers = []
    for i in range(n):
        aips = [f"10.{base}.{i >> 8}.{i & 255}/32"]
        if i % 2:
            aips.append(f"fd00:{base:x}:{i:x}::/64")
        if i % 5 == 0:
            aips.append(f"172.{16 + base % 16}.{i >> 8}.{(i & 255)}/32")
        peers.append(Peer(randpub(), aips,
                          psk=b64(rng.randbytes(32)) if i % 3 == 0 else None,
                          endpoint=(f"198.51.100.{i % 250 + 1}:{1024 + i}" if i % 4 == 0 else
                                    f"[2001:db8::{i:x}]:{2048 + i}" if i % 4 == 1 else None),
                          keepalive=25 if i % 7 == 0 else 0))
    return peers


# --- reading devices -------------------------------------------------------

def parse_dump(text):
    """`wg show IF dump` (and wg_tool dump) into a comparable structure."""
    lines = text.strip("\n").split("\n")
    priv, pub, port, fwmark = lines[0].split("\t")
    dev = {"private": priv, "public": pub, "port": int(port), "fwmark": fwmark, "peers": {}}
    for line in lines[1:]:
        f = line.split("\t")
        dev["peers"][f[0]] = {
            "psk": f[1], "endpoint": f[2],
            "aips": frozenset() if f[3] == "(none)" else frozenset(f[3].split(",")),
            "handshake": int(f[4]), "rx": int(f[5]), "tx": int(f[6]), "keepalive": f[7]}
    return dev


def wg_dump(ns, ifname):
    return parse_dump(run(["wg", "show", ifname, "dump"], ns=ns).stdout)


def our_dump(ns, ifname):
    return parse_dump(tool(["dump", ifname], ns).stdout)


def expected(priv, port, peers, fwmark="off"):
    """What wg show dump must say after setconf of these settings."""
    dev = {"private": priv, "public": pubkey(priv), "port": port, "fwmark": fwmark,
           "peers": {}}
    for p in peers:
        dev["peers"][p.pub] = {
            "psk": p.psk or "(none)", "endpoint": p.endpoint or "(none)",
            "aips": frozenset(p.aips), "handshake": 0, "rx": 0, "tx": 0,
            "keepalive": str(p.keepalive) if p.keepalive else "off"}
    return dev


def diff(a, b, what):
    """Field-by-field comparison; prints the first differences."""
    problems = []
    for k in ("private", "public", "port", "fwmark"):
        if a[k] != b[k]:
            problems.append(f"{k}: {a[k]!r} != {b[k]!r}")
    for pub in set(a["peers"]) | set(b["peers"]):
        pa, pb = a["peers"].get(pub), b["peers"].get(pub)
        if pa is None or pb is None:
            problems.append(f"peer {pub} only on one side")
            continue
        for k in pa:
            if pa[k] != pb[k]:
                problems.append(f"peer {pub} {k}: {pa[k]!r} != {pb[k]!r}")
    for p in problems[:5]:
        print("       " + p)
    return ok(not problems, what)


def showconf(ns, ifname):
    return run(["wg", "showconf", ifname], ns=ns).stdout


def showconf_sorted(ns, ifname):
    """wg showconf with its [Peer] sections sorted: wireguard-go lists peers in
    no particular order."""
    blocks = showconf(ns, ifname).strip().split("\n\n")
    return "\n\n".join(blocks[:1] + sorted(blocks[1:]))


def start(ns, ifname):
    pid = int(tool(["start", ifname], ns).stdout.strip())
    PIDS.append((ns, ifname, pid))
    with open(os.path.join(TMP, "pids"), "a") as f:
        f.write(f"{pid}\n")
    return pid


# --- tests -----------------------------------------------------------------

def test_set_and_readback():
    ifname = f"mrwa{SFX}"
    start(NS_A, ifname)
    priv = genkey()
    peers = [Peer(randpub(), ["10.0.0.0/24", "fd00:1::/64"], psk=b64(rng.randbytes(32)),
                  endpoint="192.0.2.1:51820", keepalive=25),
             Peer(randpub(), ["10.0.1.7/32"], endpoint="[2001:db8::1]:1234"),
             Peer(randpub(), [])]
    conf = write("a.conf", render(priv, 41001, peers, fwmark="0x42"))
    tool(["setconf", ifname, conf], NS_A)
    real = wg_dump(NS_A, ifname)
    diff(real, expected(priv, 41001, peers, fwmark="0x42"),
         "set with libmyrelay, read with wg show dump: every field as configured")
    diff(our_dump(NS_A, ifname), real, "read with libmyrelay equals wg show dump")
    sc = showconf(NS_A, ifname)
    ok(f"PrivateKey = {priv}" in sc and "FwMark = 0x42" in sc and "ListenPort = 41001" in sc,
       "wg showconf shows the interface as set")

    # addconf semantics: remove, update-only, replace vs add allowed IPs
    newpeer = randpub()
    extra = {peers[0].pub: ["ReplaceAllowedIPs = true"], peers[1].pub: ["Remove = true"],
             newpeer: ["UpdateOnly = true"]}
    conf2 = write("a2.conf", render(priv, 41001, [Peer(peers[0].pub, ["10.9.0.0/16"]),
                                                  Peer(peers[1].pub, []),
                                                  Peer(peers[2].pub, ["10.8.0.0/16"]),
                                                  Peer(newpeer, ["10.7.0.0/16"])],
                                    extra_peer_lines=extra))
    tool(["addconf", ifname, conf2], NS_A)
    real = wg_dump(NS_A, ifname)
    ok(real["peers"][peers[0].pub]["aips"] == {"10.9.0.0/16"},
       "ReplaceAllowedIPs replaced the peer's allowed IPs")
    ok(peers[1].pub not in real["peers"], "Remove removed the peer")
    ok(newpeer not in real["peers"], "UpdateOnly did not create a missing peer")
    ok(real["peers"][peers[2].pub]["aips"] == {"10.8.0.0/16"}, "allowed IPs added")
    ok(real["peers"][peers[0].pub]["psk"] == peers[0].psk,
       "fields not given were left as they were")
    return ifname


def test_reverse(ifname):
    priv = genkey()
    peers = dummy_peers(40, 3)
    conf = write("r.conf", render(priv, 41002, peers, fwmark="1234"))
    run(["wg", "setconf", ifname, conf], ns=NS_A)
    real = wg_dump(NS_A, ifname)
    diff(real, expected(priv, 41002, peers, fwmark="0x4d2"), "wg setconf applied (sanity)")
    diff(our_dump(NS_A, ifname), real, "set with wg setconf, read with libmyrelay: equal")


def test_thousand(ifname):
    priv = genkey()
    peers = dummy_peers(1000, 4)
    conf = write("k.conf", render(priv, 41003, peers))
    t0 = time.monotonic()
    tool(["setconf", ifname, conf], NS_A)
    t1 = time.monotonic()
    real = wg_dump(NS_A, ifname)
    diff(real, expected(priv, 41003, peers, fwmark="0x4d2"),
         f"1,000 peers set with libmyrelay ({t1 - t0:.2f} s) read back by wg: all equal")
    diff(our_dump(NS_A, ifname), real, "1,000 peers read back by libmyrelay: equal to wg")
    out = tool(["sync", ifname, conf], NS_A).stdout
    ok("added=0 removed=0 updated=0 unchanged=1000 device_changed=0 messages=0 bytes=0" in out,
       f"sync to the same 1,000 peers sends nothing ({out.strip()})")


def test_bad_input(ifname):
    before = showconf_sorted(NS_A, ifname)
    good = Peer(randpub(), ["10.50.0.0/24"])
    priv = genkey()
    cases = {
        "bad base64 public key": render(priv, 41003, [Peer("not-a-key", ["10.1.0.0/24"])]),
        "all-zero public key": render(priv, 41003, [Peer(b64(bytes(32)), ["10.1.0.0/24"])]),
        "host bits set": render(priv, 41003, [good, Peer(randpub(), ["10.1.0.1/24"])]),
        "port 70000": render(priv, 70000, [good]),
        "keepalive 70000": render(priv, 41003, [Peer(randpub(), [], keepalive=70000)]),
        "endpoint host name": render(priv, 41003, [Peer(randpub(), [],
                                                        endpoint="vpn.example.com:51820")]),
        "IPv6 endpoint without brackets": render(priv, 41003, [Peer(randpub(), [],
                                                                    endpoint="2001:db8::1:5")]),
        "allowed IP given to two peers": render(priv, 41003, [good, Peer(randpub(),
                                                                         ["10.50.0.0/24"])]),
        "duplicate peer": render(priv, 41003, [good, good]),
        "own public key as a peer": render(priv, 41003, [Peer(pubkey(priv), [])]),
    }
    for what, text in cases.items():
        p = tool(["setconf", ifname, write("bad.conf", text)], NS_A, check=False)
        ok(p.returncode == 2 and p.stderr.strip() != "",
           f"bad input refused ({what}): {p.stderr.strip()[:100]}")
        p = tool(["sync", ifname, write("bad.conf", text)], NS_A, check=False)
        ok(p.returncode == 2, f"bad input refused by sync ({what})")
    ok(showconf_sorted(NS_A, ifname) == before and before.count("[Peer]") == 1000,
       "wg showconf identical before and after bad input")


def setup_tunnel():
    run(["ip", "netns", "add", NS_B])
    run(["ip", "link", "add", f"mrva{SFX}", "netns", NS_A, "type", "veth", "peer", "name",
         f"mrvb{SFX}", "netns", NS_B])
    for ns, dev, addr in ((NS_A, f"mrva{SFX}", "10.99.0.1/24"),
                          (NS_B, f"mrvb{SFX}", "10.99.0.2/24")):
        run(["ip", "addr", "add", addr, "dev", dev], ns=ns)
        run(["ip", "link", "set", dev, "up"], ns=ns)
        run(["ip", "link", "set", "lo", "up"], ns=ns)
    wa, wb = f"mrwc{SFX}", f"mrwd{SFX}"
    start(NS_A, wa)
    start(NS_B, wb)
    ka, kb = genkey(), genkey()
    pa, pb = pubkey(ka), pubkey(kb)
    psk = b64(rng.randbytes(32))
    dummies = dummy_peers(20, 20)
    a_peers = [Peer(pb, ["10.100.0.2/32"], psk=psk, endpoint="10.99.0.2:41021")] + dummies
    b_peers = [Peer(pa, ["10.100.0.1/32"], psk=psk, endpoint="10.99.0.1:41020")]
    a_conf = write("ta.conf", render(ka, 41020, a_peers))
    tool(["setconf", wa, a_conf], NS_A)
    tool(["setconf", wb, write("tb.conf", render(kb, 41021, b_peers))], NS_B)
    for ns, dev, addr in ((NS_A, wa, "10.100.0.1/24"), (NS_B, wb, "10.100.0.2/24")):
        run(["ip", "addr", "add", addr, "dev", dev], ns=ns)
        run(["ip", "link", "set", dev, "up"], ns=ns)
    return wa, wb, ka, a_peers, pb


def test_tunnel_counters(wa, pb):
    p = run(["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.100.0.2"], ns=NS_A, check=False)
    if not ok(p.returncode == 0, "ping through the tunnel between the namespaces"):
        print(p.stdout, p.stderr)
        return False
    # Our reading must lie between two readings of wg(8) taken around it.
    w1 = wg_dump(NS_A, wa)["peers"][pb]
    o = our_dump(NS_A, wa)["peers"][pb]
    w2 = wg_dump(NS_A, wa)["peers"][pb]
    ok(o["rx"] > 0 and o["tx"] > 0, f"counters after traffic: rx={o['rx']} tx={o['tx']}")
    ok(w1["rx"] <= o["rx"] <= w2["rx"] and w1["tx"] <= o["tx"] <= w2["tx"],
       "rx/tx counters read by libmyrelay agree with wg show dump")
    ok(o["handshake"] > 0 and w1["handshake"] <= o["handshake"] <= w2["handshake"],
       "last handshake read by libmyrelay agrees with wg show dump")
    ok(o["endpoint"] == w1["endpoint"] == "10.99.0.2:41021", "endpoint agrees")
    return True


def handshake(ns, ifname, pub):
    sec, nsec = tool(["handshake", ifname, pub], ns).stdout.split()
    return int(sec), int(nsec)


def test_sync_keeps_sessions(wa, ka, a_peers, pb):
    hs = handshake(NS_A, wa, pb)
    ok(hs[0] > 0, f"a session exists (handshake {hs[0]}.{hs[1]:09d})")
    time.sleep(1.1)  # a new handshake would now show a different second
    added = Peer(randpub(), ["10.201.0.1/32"], keepalive=0)
    desired = a_peers + [added]
    out = tool(["sync", wa, write("s1.conf", render(ka, 41020, desired))], NS_A).stdout
    m = dict(kv.split("=") for kv in out.split())
    n = len(a_peers)
    ok(m["added"] == "1" and m["removed"] == "0" and m["updated"] == "0" and
       m["unchanged"] == str(n) and m["device_changed"] == "0",
       f"sync adding one peer to {n}: {out.strip()}")
    ok(int(m["bytes"]) < 300 and m["messages"] == "1",
       f"adding one peer sent one small message ({m['bytes']} bytes)")
    ok(added.pub in wg_dump(NS_A, wa)["peers"], "wg show lists the added peer")
    ok(handshake(NS_A, wa, pb) == hs, "the unchanged peer's last handshake did not move")
    p = run(["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.100.0.2"], ns=NS_A, check=False)
    ok(p.returncode == 0 and handshake(NS_A, wa, pb) == hs,
       "traffic still flows on the same session after the sync")

    # removal of one peer, and a changed field on another
    gone = desired[5]
    desired2 = [q for q in desired if q is not gone]
    desired2[3] = Peer(desired2[3].pub, desired2[3].aips + ["10.202.0.0/16"],
                       psk=desired2[3].psk, endpoint=desired2[3].endpoint,
                       keepalive=desired2[3].keepalive)
    out = tool(["sync", wa, write("s2.conf", render(ka, 41020, desired2))], NS_A).stdout
    m = dict(kv.split("=") for kv in out.split())
    ok(m["removed"] == "1" and m["updated"] == "1" and m["added"] == "0" and
       m["unchanged"] == str(len(desired2) - 1), f"sync removing one, changing one: {out.strip()}")
    real = wg_dump(NS_A, wa)
    ok(gone.pub not in real["peers"], "the removed peer is gone")
    ok(real["peers"][desired2[3].pub]["aips"] == frozenset(desired2[3].aips),
       "the changed peer has its new allowed IPs")
    ok(handshake(NS_A, wa, pb) == hs, "the session survived that sync too")
    diff(our_dump(NS_A, wa), real, "after syncs, libmyrelay and wg show dump agree")


def bench(n):
    """Ours vs wg setconf on the same N peers, on two fresh devices."""
    i1, i2 = f"mrwe{SFX}", f"mrwf{SFX}"
    start(NS_A, i1)
    start(NS_A, i2)
    priv = genkey()
    peers = dummy_peers(n, 30)
    c1 = write("b1.conf", render(priv, 42001, peers))
    c2 = write("b2.conf", render(priv, 42002, peers))
    t0 = time.monotonic()
    tool(["setconf", i1, c1], NS_A)
    t1 = time.monotonic()
    run(["wg", "setconf", i2, c2], ns=NS_A)
    t2 = time.monotonic()
    print(f"bench: {n} peers on wireguard-go: libmyrelay {t1 - t0:.2f} s, "
          f"wg setconf {t2 - t1:.2f} s")
    t0 = time.monotonic()
    out = tool(["sync", i1, write("b3.conf", render(priv, 42001, peers + [Peer(randpub(), ["10.250.0.1/32"])]))], NS_A).stdout
    t1 = time.monotonic()
    print(f"bench: sync adding one peer to {n}: {t1 - t0:.3f} s, {out.strip()}")


def cleanup():
    for ns, ifname, pid in PIDS:
        tool(["stop", ifname, str(pid)], ns, check=False)
    for ns in (NS_A, NS_B):
        run(["ip", "netns", "del", ns], check=False)


def main():
    run(["ip", "netns", "add", NS_A])
    try:
        run(["ip", "link", "set", "lo", "up"], ns=NS_A)
        ifname = test_set_and_readback()
        test_reverse(ifname)
        test_thousand(ifname)
        test_bad_input(ifname)
        wa, wb, ka, a_peers, pb = setup_tunnel()
        if test_tunnel_counters(wa, pb):
            test_sync_keeps_sessions(wa, ka, a_peers, pb)
        if os.environ.get("MR_WG_BENCH"):
            bench(int(os.environ["MR_WG_BENCH"]))
    finally:
        cleanup()
    if FAILED:
        print(f"{len(FAILED)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
