#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The MyRelay demo, on this machine, in network namespaces.

One node serves two customers, each with a pod (a WireGuard interface with
its own keypair, subnet and port). Each customer adds a device whose key is
generated on the device. Alice's device brings its tunnel up with the real
wg-quick and pings through it; a device that is not one of the pod's peers
is refused. Everything made here is removed at the end, even on failure.

Run it through contrib/demo.sh (which installs packages and builds).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import myrelay
from myrelay import cidr, conf, name, token
from myrelay.key import Key

TAG = f"{os.getpid() % 10000:04d}"
NS_NODE, NS_ALICE, NS_BOB = f"mrdemo-node-{TAG}", f"mrdemo-alice-{TAG}", f"mrdemo-bob-{TAG}"
ENV = dict(os.environ, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD="1")
made_ns, procs = [], []


def say(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def run(*cmd, ns=None, check=True, quiet=False, **kw):
    full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
    r = subprocess.run(full, env=ENV, text=True, capture_output=True, **kw)
    if check and r.returncode != 0:
        raise SystemExit(f"demo: {' '.join(full)} failed:\n{r.stdout}{r.stderr}")
    if not quiet and r.stdout.strip():
        print(r.stdout.rstrip())
    return r


def cleanup():
    for p in procs:
        p.terminate()
    for ns in reversed(made_ns):
        # wg-quick starts wireguard-go inside the namespace: it would outlive
        # the namespace's name, so end every process still in there first.
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), 15)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()


def netns(ns):
    run("ip", "netns", "add", ns)
    made_ns.append(ns)
    run("ip", "link", "set", "lo", "up", ns=ns)


def veth(ns_a, if_a, addr_a, ns_b, if_b, addr_b):
    run("ip", "link", "add", if_a, "netns", ns_a, "type", "veth", "peer", if_b, "netns", ns_b)
    run("ip", "addr", "add", addr_a, "dev", if_a, ns=ns_a)
    run("ip", "addr", "add", addr_b, "dev", if_b, ns=ns_b)
    run("ip", "link", "set", if_a, "up", ns=ns_a)
    run("ip", "link", "set", if_b, "up", ns=ns_b)


def start_pod(tmp, ifname, pod_key, port, gateway):
    """The node side of a pod (until myrelay-agent exists: wireguard-go + wg)."""
    p = subprocess.Popen(["ip", "netns", "exec", NS_NODE, "wireguard-go", "-f", ifname],
                         env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    sock = f"/var/run/wireguard/{ifname}.sock"
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    keyfile = os.path.join(tmp, f"{ifname}.key")
    fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, (pod_key.to_base64() + "\n").encode())
    os.close(fd)
    run("wg", "set", ifname, "private-key", keyfile, "listen-port", str(port), ns=NS_NODE)
    run("ip", "addr", "add", str(gateway), "dev", ifname, ns=NS_NODE)
    run("ip", "link", "set", ifname, "mtu", "1420", "up", ns=NS_NODE)


def main():
    if os.geteuid() != 0:
        sys.exit("demo: needs root (network namespaces)")
    print(f"MyRelay demo, libmyrelay {myrelay.version()}")
    tmp = tempfile.mkdtemp(prefix="mrdemo-")
    try:
        demo(tmp)
    finally:
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
        print("\ndemo: cleaned up (namespaces, wireguard-go processes, files)")


def demo(tmp):
    say("A node with an address pool; two customers get a pod each")
    pool = cidr.SubnetPool("10.64.0.0/16", 24)
    pods = {}
    for i, customer in enumerate(("alice", "bob")):
        pod_id = f"pod-{customer}-{TAG}"
        subnet = pool.alloc()
        hosts = cidr.HostAllocator(subnet)
        pod = dict(id=pod_id, subnet=subnet, hosts=hosts, gateway=hosts.gateway,
                   ifname=name.pod_interface(pod_id), port=51820 + i,
                   key=Key.generate(), token=token.generate("pod"))
        pods[customer] = pod
        print(f"  {customer}: pod {pod['ifname']}, subnet {subnet}, gateway {pod['gateway']}, "
              f"port {pod['port']}")
        print(f"    pod token (shown once): {pod['token'].token[:24]}...")
        print(f"    stored on the server: only its SHA-256 {pod['token'].hash_hex[:16]}...")

    say("Namespaces: the node, Alice's laptop, Bob's laptop")
    for ns in (NS_NODE, NS_ALICE, NS_BOB):
        netns(ns)
    veth(NS_NODE, "up-alice", "198.18.1.1/30", NS_ALICE, "eth0", "198.18.1.2/30")
    veth(NS_NODE, "up-bob", "198.18.2.1/30", NS_BOB, "eth0", "198.18.2.2/30")
    for customer in ("alice", "bob"):
        pod = pods[customer]
        start_pod(tmp, pod["ifname"], pod["key"], pod["port"], pod["gateway"])
    print(f"  node {NS_NODE}: pods {pods['alice']['ifname']} and {pods['bob']['ifname']} up "
          "(wireguard-go)")

    say("Alice adds her laptop: the key is generated on the laptop")
    alice = pods["alice"]
    device_key = Key.generate()
    address = alice["hosts"].alloc()
    print(f"  laptop public key (the only thing sent): {device_key.public_key().to_base64()}")
    print(f"  address assigned: {address}")
    run("wg", "set", alice["ifname"], "peer", device_key.public_key().to_base64(),
        "allowed-ips", str(address), ns=NS_NODE)
    split = cidr.subtract(["0.0.0.0/0"], ["192.168.0.0/16"])
    print(f"  (split tunnelling, e.g. --exclude 192.168.0.0/16, would give AllowedIPs of "
          f"{len(split)} prefixes: {', '.join(map(str, split[:4]))}, ...)")
    cfg = conf.Config(private_key=device_key.to_base64(), addresses=[str(address)],
                      mtu=1420, public_key=alice["key"].public_key().to_base64(),
                      endpoint=f"198.18.1.1:{alice['port']}",
                      allowed_ips=[str(alice["subnet"])], keepalive=25)
    text = cfg.render()
    path = os.path.join(tmp, f"mra{TAG}.conf")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, text.encode())
    os.close(fd)
    print(f"  wrote {path} (mode {oct(os.stat(path).st_mode & 0o777)}):\n")
    print("    " + text.replace("\n", "\n    ").replace(device_key.to_base64(),
                                                       "<private key, stays on the laptop>"))
    if shutil.which("qrencode"):
        print("  the same config as a QR code, for a phone:")
        subprocess.run(["qrencode", "-t", "ansiutf8", "-r", path])

    say("Alice brings the tunnel up with the real wg-quick, and pings her pod's gateway")
    run("wg-quick", "up", path, ns=NS_ALICE, quiet=True)
    r = run("ping", "-c", "3", "-i", "0.2", "-W", "2", str(alice["gateway"].address),
            ns=NS_ALICE, check=False, quiet=True)
    print(r.stdout.rstrip())
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        raise SystemExit("demo: FAILED: no traffic through Alice's tunnel")
    print("  node view:")
    run("wg", "show", alice["ifname"], ns=NS_NODE)

    say("Bob's laptop tries Alice's pod with its own key: refused")
    bob_key = Key.generate()
    bad = conf.Config(private_key=bob_key.to_base64(), addresses=["10.64.0.66/32"],
                      public_key=alice["key"].public_key().to_base64(),
                      endpoint=f"198.18.2.1:{alice['port']}",
                      allowed_ips=[str(alice["subnet"])])
    path_b = os.path.join(tmp, f"mrb{TAG}.conf")
    fd = os.open(path_b, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, bad.render().encode())
    os.close(fd)
    run("wg-quick", "up", path_b, ns=NS_BOB, quiet=True)
    r = run("ping", "-c", "2", "-i", "0.3", "-W", "1", str(alice["gateway"].address),
            ns=NS_BOB, check=False, quiet=True)
    if r.returncode == 0:
        raise SystemExit("demo: FAILED: a foreign key got through Alice's pod")
    print("  no handshake, no traffic: WireGuard drops packets from keys that are not "
          "peers of the pod")
    print("  (firewall isolation between pods arrives with the node agent)")

    say("Injection attempts are refused, never stripped")
    try:
        conf.Config(addresses=["10.64.1.2/32\nPostUp = rm -rf /"])
    except myrelay.errors.InvalidInputError as e:
        print(f"  refused: {e}")
    print("\ndemo: OK")


if __name__ == "__main__":
    main()
