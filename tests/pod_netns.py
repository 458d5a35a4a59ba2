# SPDX-License-Identifier: MIT
"""Pods on the userspace backend with real clients, in network namespaces.

Run by pod-netns.sh (root; names made unique by MR_POD_TEST_SUFFIX):

    python3 pod_netns.py

Topology (everything made here, removed in the finally block):

    client namespaces a1 a2 a3 b1          node namespace
    eth0 198.18.0.1x/24 ---- veth ---- bridge 198.18.0.1/24 (the uplink)
    mrcXX-SFX: wg-quick + wireguard-go     pod A wg-xxxxxx 10.90.1.1/24 fd90:1::1/64
                                           pod B wg-yyyyyy 10.90.2.1/24 fd90:2::1/64
                                           (wireguard-go started by mr_pod_apply)

The pods are driven through the Python binding (myrelay.pod) from inside
the node namespace; the clients are the real wg-quick on configurations
rendered by myrelay.conf; the results are read back with ip, wg, nft, ping
and /proc. Each check prints what it measured.
"""
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import time

from myrelay import conf, ctx, errors, name, pod
from myrelay._ffi import MrKey, MrPrefix, lib
from myrelay.cidr import _coerce
from myrelay.key import PUBLIC, Key

SFX = os.environ["MR_POD_TEST_SUFFIX"]
TMP = os.environ["MR_POD_TEST_TMP"]
NODE = f"mrpn-n-{SFX}"
CLIENTS = ("a1", "a2", "a3", "b1")
NS = {c: f"mrpn-{c}-{SFX}" for c in CLIENTS}
CIF = {c: f"mrc{c}-{SFX}" for c in CLIENTS}  # client WireGuard interfaces
BRIDGE = f"mrbr-{SFX}"
POD_A = name.pod_interface(f"pod-netns-a-{os.getpid()}-{SFX}")
POD_B = name.pod_interface(f"pod-netns-b-{os.getpid()}-{SFX}")
# refused pods (bad input): they must leave nothing behind
POD_C = name.pod_interface(f"pod-netns-c-{os.getpid()}-{SFX}")
POD_D = name.pod_interface(f"pod-netns-d-{os.getpid()}-{SFX}")
PORT = {"A": 51820, "B": 51821}
assert len({POD_A, POD_B, POD_C, POD_D}) == 4, "pod name collision: rerun"
SOCKDIR = "/var/run/wireguard"
CLONE_NEWNET = 0x40000000

# Programs run here get a clean environment: no ASan preload (set for the
# interpreter under sanitizer builds), and wireguard-go allowed to start.
ENV = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}
ENV["WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD"] = "1"

FAILED = []
T0 = time.monotonic()


def ok(cond, what):
    print(("ok   - " if cond else "FAIL - ") + what, flush=True)
    if not cond:
        FAILED.append(what)
    return cond


def run(cmd, ns=None, check=True, timeout=30, input=None):
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout,
                       input=input)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def ping(ns, dst, src=None, count=3):
    """(replies received, rtt avg ms or None) for count echo requests."""
    cmd = ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "1"]
    if src:
        cmd += ["-I", src]
    p = run(cmd + [dst], ns=ns, check=False, timeout=15)
    m = re.search(r"(\d+) received", p.stdout)
    rtt = re.search(r"= [\d.]+/([\d.]+)/", p.stdout)
    return (int(m.group(1)) if m else 0), (float(rtt.group(1)) if rtt else None)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns {path}: {os.strerror(e)}")
    finally:
        os.close(fd)


# --- state read back with the real programs -------------------------------

def counters(c, ifname):
    """The pod's firewall counters through the library: {name: packets}."""
    packets = (ctypes.c_uint64 * 4)()
    lib.mr_fw_pod_counters(c.handle, ifname.encode(), packets, None, 4)
    return {lib.mr_fw_counter_name(i).decode(): packets[i] for i in range(4)}


def nft_counters():
    """{counter object name: packets} from `nft -j list counters`."""
    p = run(["nft", "-j", "list", "counters", "table", "inet", "myrelay"], ns=NODE)
    out = {}
    for o in json.loads(p.stdout)["nftables"]:
        if "counter" in o:
            out[o["counter"]["name"]] = o["counter"]["packets"]
    return out


def wg_show(ifname, what):
    """{public key: [fields]} from `wg show IF WHAT` in the node namespace."""
    p = run(["wg", "show", ifname, what], ns=NODE)
    return {f[0]: f[1:] for f in (l.split("\t") for l in p.stdout.splitlines()) if f}


def ruleset():
    """`nft list ruleset` without counter values (traffic moves them)."""
    p = run(["nft", "list", "ruleset"], ns=NODE)
    return re.sub(r"packets \d+ bytes \d+", "packets N bytes N", p.stdout)


def showconf(ifname):
    """`wg showconf` with the [Peer] sections sorted: wireguard-go lists its
    peers in no particular order (a Go map)."""
    text = run(["wg", "showconf", ifname], ns=NODE).stdout
    head, *peers = text.split("[Peer]")
    return head + "".join(sorted("[Peer]" + p.rstrip("\n") + "\n" for p in peers))


def snapshot():
    return {
        "ip addr": run(["ip", "-j", "addr"], ns=NODE).stdout,
        "wg showconf A": showconf(POD_A),
        "wg showconf B": showconf(POD_B),
        "nft ruleset": ruleset(),
        "links": run(["ip", "-j", "link"], ns=NODE).stdout,
    }


def links():
    return {l["ifname"] for l in json.loads(run(["ip", "-j", "link"], ns=NODE).stdout)}


def wireguard_go_for(ifname):
    """Live (not zombie) wireguard-go processes serving ifname, from /proc."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if argv and argv[0].endswith(b"wireguard-go") and ifname.encode() in argv \
                and state != "Z":
            found.append(int(pid))
    return found


# --- the pods and the clients -------------------------------------------

class Client:
    def __init__(self, c, pod_key, port, addrs, allowed):
        self.c, self.ns, self.ifname = c, NS[c], CIF[c]
        self.key = Key.generate()
        self.pub = self.key.public_key()
        self.pub_text = self.pub.to_base64()
        self.addrs = addrs
        with conf.Config(private_key=self.key, addresses=addrs, public_key=pod_key.public_key(),
                         endpoint=f"198.18.0.1:{port}", allowed_ips=allowed) as cfg:
            text = cfg.render()
        self.path = os.path.join(TMP, f"{self.ifname}.conf")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    def up(self):
        run(["wg-quick", "up", self.path], ns=self.ns)


def spec_of(ifname, key, port, addresses, clients):
    s = pod.Spec(ifname, private_key=key, listen_port=port, addresses=addresses,
                 uplinks=[BRIDGE])
    for cl in clients:
        s.add_peer(cl.pub, cl.addrs)
    return s


def report_text(r):
    return (f"created={r.link_created} +{r.peers_added} -{r.peers_removed} ~{r.peers_updated} "
            f"={r.peers_unchanged} bytes_sent={r.bytes_sent} addrs +{r.addresses_added} "
            f"-{r.addresses_removed}")


def setup_topology():
    run(["ip", "netns", "add", NODE])
    run(["ip", "link", "set", "lo", "up"], ns=NODE)
    run(["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"], ns=NODE)
    run(["ip", "link", "add", BRIDGE, "type", "bridge"], ns=NODE)
    run(["ip", "addr", "add", "198.18.0.1/24", "dev", BRIDGE], ns=NODE)
    run(["ip", "link", "set", BRIDGE, "up"], ns=NODE)
    for i, c in enumerate(CLIENTS):
        ns, veth = NS[c], f"mrv{c}-{SFX}"
        run(["ip", "netns", "add", ns])
        run(["ip", "link", "set", "lo", "up"], ns=ns)
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns],
            ns=NODE)
        run(["ip", "link", "set", veth, "master", BRIDGE, "up"], ns=NODE)
        run(["ip", "addr", "add", f"198.18.0.{11 + i}/24", "dev", "eth0"], ns=ns)
        run(["ip", "link", "set", "eth0", "up"], ns=ns)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cleanup(c):
    """Remove everything this run made; never raises."""
    for ifname in (POD_A, POD_B, POD_C, POD_D):
        try:
            if c is not None:
                pod.teardown(c, ifname)
        except Exception:  # noqa: BLE001 - best effort
            pass
    me = os.getpid()
    for ns in [NS[x] for x in CLIENTS] + [NODE]:
        try:
            pids = [int(p) for p in run(["ip", "netns", "pids", ns], check=False).stdout.split()]
        except Exception:
            pids = []
        for sig in (signal.SIGTERM, signal.SIGKILL):
            live = [p for p in pids if p != me]
            for p in live:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 2
            while live and time.monotonic() < deadline:
                live = [p for p in live if alive(p)]
                time.sleep(0.05)
    try:  # reap the wireguard-go children the library started
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
    for ns in [NS[x] for x in CLIENTS] + [NODE]:
        run(["ip", "netns", "del", ns], check=False)
    for ifname in list(CIF.values()) + [POD_A, POD_B, POD_C, POD_D]:
        try:
            os.unlink(f"{SOCKDIR}/{ifname}.sock")
        except OSError:
            pass


# --- the checks ------------------------------------------------------------

def check_tunnels(c, cl):
    print("# ping through each pod's tunnel")
    before = counters(c, POD_A)["accept"]
    for who, dst in (("a1", "10.90.1.1"), ("a2", "10.90.1.1"), ("b1", "10.90.2.1"),
                     ("a1", "fd90:1::1"), ("b1", "fd90:2::1")):
        n, rtt = ping(NS[who], dst)
        ok(n > 0, f"client {who} pings its pod gateway {dst} through the tunnel: "
                  f"{n}/3 replies, avg rtt {rtt} ms")
    after = counters(c, POD_A)["accept"]
    ok(after > before, f"pod A accept counter rose with the echo requests: {before} -> {after}")
    hs = wg_show(POD_A, "latest-handshakes")
    ok(all(int(hs[cl[x].pub_text][0]) > 0 for x in ("a1", "a2")),
       "node side: pod A has a handshake with a1 and a2 (wg show latest-handshakes)")


def check_isolation(c, cl, spec_a):
    print("# isolation between pods")

    def dropped(c_ns, dst, pod_if, names, what):
        before = counters(c, pod_if)
        n, _ = ping(c_ns, dst, count=2)
        after = counters(c, pod_if)
        rise = {k: after[k] - before[k] for k in names}
        ok(n == 0, f"{what}: ping fails ({n}/2 replies)")
        ok(sum(rise.values()) >= 2, f"{what}: {pod_if} drop counter rose by "
           + ", ".join(f"{k} +{v}" for k, v in rise.items()))

    iso_or_node = ("drop-isolation", "drop-node")
    dropped(NS["a1"], "10.90.2.1", POD_A, iso_or_node, "a1 -> pod B's gateway")
    dropped(NS["a1"], "10.90.2.2", POD_A, ("drop-isolation",), "a1 -> pod B's client b1")
    dropped(NS["a1"], "fd90:2::2", POD_A, ("drop-isolation",), "a1 -> b1 over IPv6")
    dropped(NS["b1"], "10.90.1.2", POD_B, ("drop-isolation",), "b1 -> pod A's client a1")
    # The library's figures are the kernel's: nft reads the same objects.
    lib_a, lib_b = counters(c, POD_A), counters(c, POD_B)
    nft = nft_counters()
    same = all(nft.get(f"{p}-{k}") == v for p, d in ((POD_A, lib_a), (POD_B, lib_b))
               for k, v in d.items())
    ok(same, f"mr_fw_pod_counters matches `nft -j list counters`: pod A {lib_a}, "
             f"nft {{{', '.join(f'{k}: {v}' for k, v in sorted(nft.items()) if POD_A in k)}}}")
    # Control: without pod A's rules the same packets go through, so it is
    # the firewall that stopped them; the next reconcile puts the rules back.
    lib.mr_fw_remove_pod(c.handle, POD_A.encode())
    n1, _ = ping(NS["a1"], "10.90.2.2", count=2)
    n2, _ = ping(NS["a1"], "10.90.2.1", count=2)
    ok(n1 > 0 and n2 > 0, f"control, pod A's rules removed (mr_fw_remove_pod): a1 reaches b1 "
                          f"({n1}/2) and pod B's gateway ({n2}/2)")
    r = pod.apply(c, spec_a)
    ok(r.peers_unchanged == 2 and r.peers_added == r.peers_removed == r.peers_updated == 0
       and r.bytes_sent == 0 and r.link_created == 0,
       f"reconcile restores the missing rules and touches nothing else: {report_text(r)}")
    ok(POD_A in run(["nft", "list", "ruleset"], ns=NODE).stdout, "pod A's rules are back")
    dropped(NS["a1"], "10.90.2.2", POD_A, ("drop-isolation",), "after the reconcile: a1 -> b1")


def check_add_one(c, cl, key_a):
    print("# a reconcile that adds one peer leaves the others' sessions alone")
    hs_a = wg_show(POD_A, "latest-handshakes")
    tr_a = wg_show(POD_A, "transfer")
    hs_b = wg_show(POD_B, "latest-handshakes")
    old = [cl["a1"].pub_text, cl["a2"].pub_text]
    last = max(int(hs_a[k][0]) for k in old)
    ok(all(int(hs_a[k][0]) > 0 for k in old), f"a1 and a2 have handshakes: "
       f"{[int(hs_a[k][0]) for k in old]}")
    # wg shows seconds: wait until a new handshake would show another second.
    while time.time() < last + 1.5:
        time.sleep(0.1)
    spec = spec_of(POD_A, key_a, PORT["A"], ["10.90.1.1/24", "fd90:1::1/64"],
                   [cl["a1"], cl["a2"], cl["a3"]])
    t = time.monotonic()
    r = pod.apply(c, spec)
    dt = (time.monotonic() - t) * 1000
    ok(r.peers_added == 1 and r.peers_unchanged == 2 and r.peers_removed == 0
       and r.peers_updated == 0, f"report: {report_text(r)} ({dt:.1f} ms)")
    ok(0 < r.bytes_sent < 512, f"adding one peer sent {r.bytes_sent} bytes (one small message)")
    hs2 = wg_show(POD_A, "latest-handshakes")
    tr2 = wg_show(POD_A, "transfer")
    ok(all(hs2[k] == hs_a[k] for k in old), "a1 and a2 handshake times identical after the "
       f"reconcile: {[hs_a[k][0] for k in old]} -> {[hs2[k][0] for k in old]}")
    ok(all(int(tr2[k][i]) >= int(tr_a[k][i]) > 0 for k in old for i in (0, 1)),
       f"a1 and a2 transfer counters kept (not reset): rx/tx {[tr_a[k] for k in old]} -> "
       f"{[tr2[k] for k in old]}")
    ok(cl["a3"].pub_text in hs2 and hs2[cl["a3"].pub_text] == ["0"],
       "the new peer a3 is on the device, no handshake yet")
    ok(wg_show(POD_B, "latest-handshakes") == hs_b, "pod B untouched")
    cl["a3"].up()
    n, rtt = ping(NS["a3"], "10.90.1.1")
    ok(n > 0, f"the new client a3 (wg-quick) pings its gateway: {n}/3 replies, rtt {rtt} ms")
    hs3 = wg_show(POD_A, "latest-handshakes")
    ok(all(hs3[k] == hs_a[k] for k in old) and int(hs3[cl["a3"].pub_text][0]) > 0,
       "a3's handshake did not move a1's and a2's")
    return spec


def check_spoof(c, cl, spec_a):
    print("# a client using a source address outside its pod")
    run(["ip", "addr", "add", "10.99.0.2/32", "dev", CIF["a1"]], ns=NS["a1"])
    a1 = cl["a1"].pub_text
    before = counters(c, POD_A)["drop-spoof"]
    n, _ = ping(NS["a1"], "10.90.1.1", src="10.99.0.2", count=2)
    mid = counters(c, POD_A)["drop-spoof"]
    rx = wg_show(POD_A, "transfer")[a1][0]
    where = ("WireGuard's cryptokey routing dropped it before the firewall (the node's peer "
             "allows only a1's own addresses)" if mid == before else "the firewall took it")
    ok(n == 0, f"a1 from 10.99.0.2 to its gateway: ping fails ({n}/2); {where}: drop-spoof "
               f"{before} -> {mid}")
    # Widen the node-side peer so the packet passes WireGuard: now only the
    # anti-spoofing rule stands between it and the node.
    hs = wg_show(POD_A, "latest-handshakes")[a1]
    run(["wg", "set", POD_A, "peer", a1, "allowed-ips",
         "10.90.1.2/32,fd90:1::2/128,10.99.0.2/32"], ns=NODE)
    n1, _ = ping(NS["a1"], "10.90.1.1", src="10.99.0.2", count=2)
    n2, _ = ping(NS["a1"], "10.90.1.3", src="10.99.0.2", count=2)
    after = counters(c, POD_A)["drop-spoof"]
    rx2 = wg_show(POD_A, "transfer")[a1][0]
    ok(n1 == 0 and n2 == 0, f"with `wg set ... allowed-ips +10.99.0.2/32` on the node: a1 from "
       f"10.99.0.2 to the gateway ({n1}/2) and to a2 ({n2}/2) still fail")
    ok(after - mid >= 4, f"... stopped by the anti-spoofing rule: drop-spoof {mid} -> {after} "
       f"(WireGuard delivered them: peer rx {rx} -> {rx2} bytes)")
    nft = nft_counters()[f"{POD_A}-drop-spoof"]
    ok(nft == after, f"nft counter {POD_A}-drop-spoof = {nft}")
    r = pod.apply(c, spec_a)
    aips = wg_show(POD_A, "allowed-ips")[a1][0]
    ok(r.peers_updated == 1 and r.peers_unchanged == 2 and r.peers_added == r.peers_removed == 0,
       f"reconcile puts the peer back: {report_text(r)}; allowed ips now {aips!r}")
    ok(sorted(aips.split()) == ["10.90.1.2/32", "fd90:1::2/128"], "a1's allowed IPs restored")
    ok(wg_show(POD_A, "latest-handshakes")[a1] == hs,
       f"the updated peer kept its session (handshake {hs[0]} unchanged)")
    n, _ = ping(NS["a1"], "10.90.1.1")
    ok(n > 0, f"a1 still pings its gateway from its own address: {n}/3")


def expect_invalid(what, fn, word):
    """fn() must raise the library's MR_EINVAL with a detail containing word."""
    try:
        fn()
    except errors.InvalidInputError as e:
        return ok(e.code == -1 and word.lower() in str(e).lower(),
                  f"bad input, {what}: MR_EINVAL: {e}")
    except Exception as e:  # noqa: BLE001 - report what it was
        return ok(False, f"bad input, {what}: expected MR_EINVAL, got {type(e).__name__}: {e}")
    return ok(False, f"bad input, {what}: accepted")


def check_bad_input(c, cl, key_a, spec_a):
    print("# bad input: MR_EINVAL, and nothing changes in the kernel")
    before = snapshot()
    good = ["10.90.1.1/24"]
    pub = Key.generate().public_key()

    def spec(**kw):
        return pod.Spec(POD_A, private_key=key_a, listen_port=PORT["A"], **kw)

    # names
    for bad in ("wg-abcdefghijklm", "wg abc", "", "wg/abc", "..", "wg-a:b"):
        expect_invalid(f"interface name {bad!r}", lambda b=bad: pod.Spec(b), "")
    expect_invalid("teardown of 'no such!'", lambda: pod.teardown(c, "no such!"), "")
    expect_invalid("uplink named like the pod", lambda: spec(addresses=good, uplinks=[POD_A]),
                   "uplink")
    # keys
    expect_invalid("public key text", lambda: Key.public_from_base64("not-a-key"), "")
    expect_invalid("all-zero private key",
                   lambda: spec().set_private_key(Key(bytes(32))), "")
    expect_invalid("all-zero peer public key",
                   lambda: spec(addresses=good).add_peer(Key(bytes(32), PUBLIC),
                                                         ["10.90.1.9/32"]), "")
    # prefixes
    for bad, word in (("10.90.1.0/24", "network"), ("10.90.1.255/24", "broadcast"),
                      ("10.90.1.1/31", "length"), ("10.90.1.1/0", "length"),
                      ("10.90.1.300/24", "")):
        expect_invalid(f"pod address {bad}", lambda b=bad: spec().add_address(b), word)
    expect_invalid("overlapping pod addresses",
                   lambda: spec(addresses=["10.90.1.1/24", "10.90.1.129/25"]), "overlaps")
    expect_invalid("peer allowed IP with host bits",
                   lambda: spec(addresses=good).add_peer(pub, ["10.90.1.9/24"]), "")
    expect_invalid("peer without allowed IPs",
                   lambda: spec(addresses=good).add_peer(pub, []), "allowed")
    # ports and MTU
    for port in (0, 65536, 2 ** 32 - 1):
        expect_invalid(f"listen port {port}", lambda p=port: pod.Spec(POD_A, listen_port=p),
                       "port")
    expect_invalid("MTU 576", lambda: pod.Spec(POD_A, mtu=576), "MTU")
    expect_invalid("unknown option bits", lambda: pod.Spec(POD_A, options=0x80), "option")

    # complete specs refused at apply time, for the live pod A and for a new pod
    def applied(s):
        return lambda: pod.apply(c, s)

    s = spec_of(POD_A, key_a, PORT["A"], ["10.90.1.1/24", "fd90:1::1/64"],
                [cl["a1"], cl["a2"], cl["a3"]])
    s.add_peer(pub, ["10.90.2.9/32"])  # inside pod B's subnet
    expect_invalid("apply: a peer claiming an address of pod B", applied(s),
                   "10.90.2.9/32 is outside")
    s = spec_of(POD_A, key_a, PORT["A"], ["10.90.1.1/24", "fd90:1::1/64"], [cl["a1"]])
    s.add_peer(pub, ["0.0.0.0/0"])
    expect_invalid("apply: a peer claiming the whole internet", applied(s), "0.0.0.0/0 is outside")
    expect_invalid("apply: no private key",
                   applied(pod.Spec(POD_A, listen_port=PORT["A"], addresses=good)), "key")
    expect_invalid("apply: no listen port",
                   applied(pod.Spec(POD_A, private_key=key_a, addresses=good)), "port")
    expect_invalid("apply: no address", applied(spec()), "address")
    s = pod.Spec(POD_C, private_key=Key.generate(), listen_port=51829,
                 addresses=["10.90.3.1/24"], uplinks=[BRIDGE])
    s.add_peer(pub, ["10.90.3.2/32"])
    s.add_peer(Key.generate().public_key(), ["10.90.3.2/32"])
    expect_invalid(f"apply: a new pod {POD_C} whose two peers share an allowed IP",
                   applied(s), "given to two peers")
    # Not MR_EINVAL but refused all the same: a new pod whose subnet overlaps
    # pod B's. Had it been created, its /25 route would capture half of B.
    s = pod.Spec(POD_D, private_key=Key.generate(), listen_port=51830,
                 addresses=["10.90.2.129/25"], uplinks=[BRIDGE])
    try:
        pod.apply(c, s)
        ok(False, f"apply: a new pod {POD_D} overlapping pod B's subnet was accepted")
    except errors.ConflictError as e:
        ok(True, f"apply: a new pod {POD_D} overlapping pod B's subnet: MR_ECONFLICT: {e}")
    # oversize peer lists: the spec refuses them before anything is sent
    many = [f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}/32" for i in range(65537)]
    big = pod.Spec(POD_A, private_key=key_a, listen_port=PORT["A"], addresses=["10.0.0.1/8"])
    expect_invalid("a peer with 65,537 allowed IPs", lambda: big.add_peer(pub, many),
                   "more than 65536 allowed IPs")
    ok(len(big) == 0, f"... and the spec has {len(big)} peers")
    t = time.monotonic()
    h, k, ip = big._h(), MrKey(), (MrPrefix * 1)(_coerce("10.0.0.2/32")._raw)
    k.bytes[31] = 1
    n = 0
    while True:
        n += 1
        k.bytes[0], k.bytes[1], k.bytes[2] = n & 255, (n >> 8) & 255, n >> 16
        try:
            lib.mr_pod_spec_add_peer(h, ctypes.byref(k), None, ip, 1)
        except errors.MyRelayError as e:
            ok(isinstance(e, errors.InvalidInputError) and "more than 1000000 peers" in str(e)
               and n == 1000001 and len(big) == 1000000,
               f"bad input, peer {n:,} of a spec (MR_WG_MAX_PEERS is 1,000,000): "
               f"{type(e).__name__} ({e.code}): {e}; the spec keeps {len(big):,} peers "
               f"({time.monotonic() - t:.1f} s)")
            break
        if n > 1000001:
            ok(False, "oversize: more than MR_WG_MAX_PEERS peers accepted")
            break
    big.close()

    after = snapshot()
    for k2 in before:
        ok(before[k2] == after[k2], f"unchanged after the refusals: {k2} "
           f"({len(before[k2])} bytes before, {len(after[k2])} after)")
    for ifname in (POD_C, POD_D):
        ok(ifname not in links() and not os.path.exists(f"{SOCKDIR}/{ifname}.sock")
           and not wireguard_go_for(ifname), f"no link, socket or wireguard-go left for the "
           f"refused pod {ifname}")
    r = pod.apply(c, spec_a)
    ok(r.peers_unchanged == 3 and r.bytes_sent == 0 and r.link_created == 0
       and r.addresses_added == r.addresses_removed == 0,
       f"the valid spec applied after the refusals changes nothing: {report_text(r)}")


def check_teardown(c, pids):
    print("# teardown leaves nothing behind")
    for ifname, other in ((POD_A, POD_B), (POD_B, None)):
        t = time.monotonic()
        pod.teardown(c, ifname)
        dt = (time.monotonic() - t) * 1000
        pid = pids[ifname]
        deadline = time.monotonic() + 5
        status = None
        while time.monotonic() < deadline:  # the caller reaps its child
            got, st = os.waitpid(pid, os.WNOHANG)
            if got:
                status = st
                break
            time.sleep(0.05)
        ok(status is not None, f"teardown {ifname} ({dt:.1f} ms): its wireguard-go (pid {pid}) "
                               f"exited, wait status {status}")
        ok(ifname not in links(), f"no link {ifname} (ip -j link)")
        rs = run(["nft", "list", "ruleset"], ns=NODE).stdout
        if other:
            ok(ifname not in rs and other in rs,
               f"no rule mentions {ifname}; pod {other}'s rules remain ({len(rs)} bytes ruleset)")
        else:
            ok("myrelay" not in rs, f"the last pod gone: table inet myrelay removed "
                                    f"(ruleset now {len(rs)} bytes)")
        ok(not os.path.exists(f"{SOCKDIR}/{ifname}.sock"), f"no socket {SOCKDIR}/{ifname}.sock")
        ok(not wireguard_go_for(ifname), f"no wireguard-go process for {ifname} (/proc)")
        left = [n for n, _ in pod.list_pods(c) if n in (POD_A, POD_B)]
        ok(left == ([other] if other else []), f"mr_pod_list after teardown: {left}")
    try:
        pod.teardown(c, POD_A)
        ok(False, "teardown of a pod that is gone succeeded")
    except errors.NotFoundError as e:
        ok(True, f"teardown of a pod that is gone: MR_ENOTFOUND: {e}")


def main():
    host_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
    c = None
    try:
        # for pod-netns.sh's cleanup, should this process die
        with open(os.path.join(TMP, "pods"), "w") as f:
            f.write("\n".join((POD_A, POD_B, POD_C, POD_D)) + "\n")
        setup_topology()
        # The library works in the namespace the context first talks from,
        # and wireguard-go makes its TUN in ours: move into the node.
        setns(f"/run/netns/{NODE}")
        c = ctx.Context(backend=ctx.BACKEND_USERSPACE)
        print(f"# node {NODE}, pod A {POD_A}, pod B {POD_B}, setup "
              f"{time.monotonic() - T0:.1f} s")
        key_a, key_b = Key.generate(), Key.generate()
        cl = {
            "a1": Client("a1", key_a, PORT["A"], ["10.90.1.2/32", "fd90:1::2/128"],
                         ["10.90.0.0/16", "fd90::/16"]),  # both pods: for the isolation checks
            "a2": Client("a2", key_a, PORT["A"], ["10.90.1.3/32", "fd90:1::3/128"],
                         ["10.90.1.0/24", "fd90:1::/64"]),
            "a3": Client("a3", key_a, PORT["A"], ["10.90.1.4/32"], ["10.90.1.0/24"]),
            "b1": Client("b1", key_b, PORT["B"], ["10.90.2.2/32", "fd90:2::2/128"],
                         ["10.90.0.0/16", "fd90::/16"]),
        }
        spec_a = spec_of(POD_A, key_a, PORT["A"], ["10.90.1.1/24", "fd90:1::1/64"],
                         [cl["a1"], cl["a2"]])
        spec_b = spec_of(POD_B, key_b, PORT["B"], ["10.90.2.1/24", "fd90:2::1/64"], [cl["b1"]])
        pids = {}
        for ifname, s, n in ((POD_A, spec_a, 2), (POD_B, spec_b, 1)):
            t = time.monotonic()
            r = pod.apply(c, s)
            pids[ifname] = r.userspace_pid
            ok(r.link_created == 1 and r.userspace_pid > 0 and r.peers_added == n
               and r.addresses_added == 2, f"apply {ifname} on wireguard-go: {report_text(r)}, "
               f"pid {r.userspace_pid} ({(time.monotonic() - t) * 1000:.0f} ms)")
        ok(pod.list_pods(c) == sorted([(POD_A, 3), (POD_B, 3)]),
           f"mr_pod_list: {pod.list_pods(c)}")
        for c_name in ("a1", "a2", "b1"):
            cl[c_name].up()
        ok(True, f"wg-quick up for a1, a2, b1 (configs rendered by myrelay.conf) "
                 f"at {time.monotonic() - T0:.1f} s")
        check_tunnels(c, cl)
        check_isolation(c, cl, spec_a)
        spec_a = check_add_one(c, cl, key_a)
        check_spoof(c, cl, spec_a)
        check_bad_input(c, cl, key_a, spec_a)
        check_teardown(c, pids)
    except Exception as e:  # noqa: BLE001 - a crash is a failure, after cleanup
        import traceback
        traceback.print_exc()
        FAILED.append(f"exception: {e}")
    finally:
        cleanup(c)
        if c is not None:
            c.close()
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.setns(host_ns, CLONE_NEWNET)
        finally:
            os.close(host_ns)
    print(f"# {time.monotonic() - T0:.1f} s")
    if FAILED:
        print(f"{len(FAILED)} check(s) failed:")
        for f in FAILED:
            print(f"  {f}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
