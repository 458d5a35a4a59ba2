#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The MyRelay demo with the real service, on this machine, in network namespaces.

myrelay-server runs in a node namespace (TLS, its own CA, on 127.0.0.1);
myrelay-agent runs there too, as the myrelay user with CAP_NET_ADMIN only,
and makes the pods (wireguard-go). The operator registers the node and two
customers, Alice and Bob, with the myrelay CLI; each customer logs in with
their pod token, adds a laptop (the key is made by the CLI, only the public
key is sent), and the laptop, in a namespace of its own, brings the tunnel
up with the real wg-quick. Alice's laptop then tries Bob's pod and Bob's
laptop through her own tunnel: the node's firewall drops it.

The agent runs in a private mount namespace where /dev/net/tun (a 0666
node) and /run/wireguard (an empty directory of this run) are bind-mounted,
as tests/agent_common.py does, so the host is never changed. Everything
made here is removed at the end, also on failure.

Run it through contrib/demo.sh (which installs packages, builds, and puts
the built programs first in PATH).
"""
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TAG = f"{os.getpid() % 0x10000:04x}"
NS_NODE, NS_ALICE, NS_BOB = f"mrsvc-node-{TAG}", f"mrsvc-alice-{TAG}", f"mrsvc-bob-{TAG}"
NODE_ADDR = "198.18.0.1"  # the node's public endpoint (on its loopback)
ENV = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}
ENV["WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD"] = "1"
USER = "myrelay"
made_ns, procs, sockets = [], [], []


class Failed(Exception):
    pass


def say(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def run(*cmd, ns=None, check=True, quiet=True, env=None, timeout=30, wrap=None, cwd=None):
    full = list(cmd)
    if wrap:
        full = wrap(full)
    elif ns:
        full = ["ip", "netns", "exec", ns] + full
    r = subprocess.run(full, env=env or ENV, text=True, capture_output=True, timeout=timeout,
                       cwd=cwd)
    if check and r.returncode != 0:
        raise Failed(f"{' '.join(full)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    if not quiet and r.stdout.strip():
        print(r.stdout.rstrip(), flush=True)
    return r


def need(prog):
    path = shutil.which(prog, path=ENV.get("PATH"))
    if not path:
        raise Failed(f"{prog} is not in PATH (run the demo through contrib/demo.sh)")
    return path


def kill_namespace(ns):
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                          text=True).stdout.split()
    pids = [int(p) for p in pids if p.isdigit() and int(p) != os.getpid()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if os.path.exists(f"/proc/{p}")]
            time.sleep(0.05)
        if not pids:
            break
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def cleanup():
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    for ns in reversed(made_ns):
        kill_namespace(ns)
    for s in sockets:
        if os.path.exists(s):
            os.unlink(s)


def netns(ns):
    run("ip", "netns", "add", ns)
    made_ns.append(ns)
    run("ip", "link", "set", "lo", "up", ns=ns)


def wait_for(fn, timeout, step=0.1):
    t = time.monotonic()
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() - t > timeout:
            return None
        time.sleep(step)


def ensure_user():
    try:
        pwd.getpwnam(USER)
    except KeyError:
        run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER)
        print(f"  created the system user {USER} (the agent runs as it)")


def free_port(ns):
    r = run("python3", "-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
            "print(s.getsockname()[1])", ns=ns)
    return int(r.stdout)


class Demo:
    def __init__(self, tmp):
        self.tmp = tmp
        self.server_bin = need("myrelay-server")
        self.agent_bin = need("myrelay-agent")
        self.cli_bin = need("myrelay")
        self.tun = os.path.join(tmp, "tun")
        self.wgrun = os.path.join(tmp, "wgrun")
        self.data = os.path.join(tmp, "server")
        self.url = self.ca = None

    def node_wrap(self, cmd):
        """cmd in the node's namespace, behind the private mounts the agent needs."""
        script = (f"mount --bind {self.tun} /dev/net/tun && "
                  f"mount --bind {self.wgrun} /run/wireguard && exec \"$@\"")
        return ["ip", "netns", "exec", NS_NODE, "unshare", "--mount", "--propagation",
                "private", "sh", "-c", script, "sh"] + cmd

    def cli(self, who, *args, show=False, check=True, cwd=None):
        """The myrelay CLI as WHO (its own config directory), in the node's namespace
        (where the server listens on 127.0.0.1)."""
        env = dict(ENV, XDG_CONFIG_HOME=os.path.join(self.tmp, "cfg-" + who))
        os.makedirs(env["XDG_CONFIG_HOME"], mode=0o700, exist_ok=True)
        r = run(self.cli_bin, *args, ns=NS_NODE, env=env, check=check, cwd=cwd)
        if show:
            print(f"  $ myrelay {' '.join(args)}    # as {who}")
            for line in r.stdout.rstrip().splitlines():
                print("    " + line)
            sys.stdout.flush()
        return r

    def cli_json(self, who, *args):
        return json.loads(self.cli(who, *args, "--json").stdout)

    # ----------------------------------------------------------------------
    def namespaces(self):
        say("Namespaces: the node (server + agent), Alice's laptop, Bob's laptop")
        for ns in (NS_NODE, NS_ALICE, NS_BOB):
            netns(ns)
        run("ip", "addr", "add", NODE_ADDR + "/32", "dev", "lo", ns=NS_NODE)
        # A node routes its pods' traffic (to the internet, through --uplink):
        # forwarding is on, so what stops one customer reaching another below
        # is the agent's firewall, not a kernel that routes nothing.
        run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1", ns=NS_NODE)
        for i, (ns, who) in enumerate(((NS_ALICE, "alice"), (NS_BOB, "bob")), 1):
            near, far = f"198.18.{i}.1", f"198.18.{i}.2"
            run("ip", "link", "add", f"up-{who}", "netns", NS_NODE, "type", "veth", "peer",
                "name", "eth0", "netns", ns)
            run("ip", "addr", "add", near + "/30", "dev", f"up-{who}", ns=NS_NODE)
            run("ip", "link", "set", f"up-{who}", "up", ns=NS_NODE)
            run("ip", "addr", "add", far + "/30", "dev", "eth0", ns=ns)
            run("ip", "link", "set", "eth0", "up", ns=ns)
            run("ip", "route", "add", NODE_ADDR + "/32", "via", near, ns=ns)
            print(f"  {ns}: eth0 {far}/30, the node's endpoint {NODE_ADDR} via {near}")
        print(f"  {NS_NODE}: endpoint {NODE_ADDR} on lo, up-alice 198.18.1.1, "
              "up-bob 198.18.2.1, IPv4 forwarding on")
        # The agent and its wireguard-go see these instead of the host's.
        os.makedirs(self.wgrun)
        os.mknod(self.tun, 0o666 | 0o020000, os.makedev(10, 200))
        os.chmod(self.tun, 0o666)

    def server(self):
        say("myrelay-server: init (CA, certificate, admin token) and run, with TLS")
        r = run(self.server_bin, "init", "--data-dir", self.data, "--name", "localhost")
        admin = r.stdout.strip()
        print(f"  myrelay-server init --data-dir {self.data} --name localhost")
        print(f"    admin token (shown once): {admin[:20]}...")
        port = free_port(NS_NODE)
        log = open(os.path.join(self.tmp, "server.log"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", NS_NODE, self.server_bin, "run",
                              "--data-dir", self.data, "--listen", f"127.0.0.1:{port}"],
                             stdout=log, stderr=subprocess.STDOUT, env=ENV)
        log.close()
        procs.append(p)
        self.url = f"https://localhost:{port}"
        self.ca = os.path.join(self.data, "ca.crt")

        def listening():
            if p.poll() is not None:
                raise Failed("myrelay-server exited:\n" + self.log("server.log"))
            return run("python3", "-c", f"import socket; socket.create_connection("
                       f"('127.0.0.1', {port}), 0.5)", ns=NS_NODE, check=False).returncode == 0

        if not wait_for(listening, 10, 0.1):
            raise Failed("myrelay-server does not listen:\n" + self.log("server.log"))
        print(f"  myrelay-server run: listening on {self.url} (pid {p.pid})")
        tokfile = os.path.join(self.tmp, "admin.token")
        with open(os.open(tokfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(admin + "\n")
        self.cli("admin", "login", self.url, "--token-file", tokfile, "--ca", self.ca, show=True)

    def log(self, name):
        try:
            with open(os.path.join(self.tmp, name)) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def node(self):
        say("The operator registers the node; myrelay-agent runs on it")
        tok = os.path.join(self.tmp, "node.token")
        self.cli("admin", "node", "add", "node1", "--region", "lab", "--endpoint", NODE_ADDR,
                 "--token-out", tok, show=True)
        # The agent reads its files before dropping to the myrelay user; its
        # state directory it then keeps as that user.
        os.chmod(self.tmp, 0o755)
        log = open(os.path.join(self.tmp, "agent.log"), "w")
        p = subprocess.Popen(self.node_wrap([
            self.agent_bin, "run", "--server", self.url, "--ca", self.ca, "--token-file", tok,
            "--state-dir", os.path.join(self.tmp, "agent-state"), "--reconcile-interval", "1",
            "--report-interval", "2", "--uplink", "none", "--listen-metrics",
            "127.0.0.1:9101"]), stdout=log, stderr=subprocess.STDOUT, env=ENV)
        log.close()
        procs.append(p)
        self.agent = p
        time.sleep(0.3)
        if p.poll() is not None:
            raise Failed("myrelay-agent exited:\n" + self.log("agent.log"))
        st = {}
        with open(f"/proc/{p.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                st[k] = v.strip()
        print(f"  myrelay-agent run --server {self.url} ... (pid {p.pid}, uid "
              f"{st['Uid'].split()[0]} = {USER}, CapEff {st['CapEff']} = CAP_NET_ADMIN)")

    def customers(self):
        say("Two customers, Alice and Bob, get a pod each on the node")
        self.pods = {}
        for who in ("alice", "bob"):
            self.cli("admin", "customer", "add", who, show=True)
            tok = os.path.join(self.tmp, f"{who}.token")
            self.cli("admin", "pod", "create", who, "node1", "--token-out", tok, show=True)
            self.cli(who, "login", self.url, "--token-file", tok, "--ca", self.ca)
            print(f"  {who} logs in with the pod token (config in {self.tmp}/cfg-{who})")

        def active(who):
            pod = self.cli_json(who, "pod", "show")
            pod = pod.get("pod", pod)
            return pod if pod.get("status") == "active" else None

        t = time.monotonic()
        for who in ("alice", "bob"):
            pod = wait_for(lambda: active(who), 20, 0.2)
            if not pod:
                raise Failed(f"{who}'s pod did not become active:\n" +
                             self.cli(who, "pod", "show").stdout + self.log("agent.log"))
            gw = next(a for a in pod["addresses"] if ":" not in a)
            pod["gw4"] = gw.split("/")[0]
            pod["net4"] = str(gw)
            self.pods[who] = pod
        print(f"  both pods active {time.monotonic() - t:.1f} s later (the agent made them):")
        for who in ("alice", "bob"):
            self.cli(who, "pod", "show", show=True)

    def device(self, who, ns, qr):
        say(f"{who.capitalize()} adds a laptop: key made here, only the public key sent")
        path = os.path.join(self.tmp, f"mr{who[0]}{TAG}.conf")
        args = ["peer", "add", "laptop", "--out", os.path.basename(path)] + \
            (["--qr"] if qr else [])
        r = self.cli(who, *args, cwd=self.tmp)
        out = r.stdout
        with open(path) as f:
            text = f.read()
        m = re.search(r"^PrivateKey\s*=\s*(\S+)", text, re.M)
        if not m:
            raise Failed(f"no PrivateKey in {path}")
        print(f"  $ myrelay {' '.join(args)}    # as {who}")
        print(f"  wrote {path} (mode {os.stat(path).st_mode & 0o777:04o}):\n")
        mask = "<private key, stays on the laptop>"
        print("    " + text.rstrip().replace(m.group(1), mask).replace("\n", "\n    "))
        if qr:
            print("\n  the CLI's output: the same config as a QR code, for a phone app:")
            print(out.replace(m.group(1), mask).rstrip())
        sys.stdout.flush()
        run("wg-quick", "up", path, ns=ns)
        ifname = os.path.basename(path)[:-5]
        sockets.append(f"/var/run/wireguard/{ifname}.sock")
        print(f"\n  wg-quick up {path}: {ifname} is up in {ns}")
        return path

    def ping(self, ns, dst, count=3):
        r = run("ping", "-n", "-c", str(count), "-i", "0.2", "-W", "1", dst, ns=ns, check=False,
                timeout=30)
        m = re.search(r"(\d+) received", r.stdout)
        return int(m.group(1)) if m else 0, r.stdout

    def traffic(self, who, ns):
        gw = self.pods[who]["gw4"]
        n, out = self.ping(ns, gw)
        print(f"  $ ping -c 3 {gw}    # in {ns}, through the tunnel")
        for line in out.strip().splitlines()[-2:]:
            print("    " + line)
        if n != 3:
            raise Failed(f"{who}'s device: {n}/3 pings to its pod's gateway {gw}")

        def counted():
            peers = self.cli_json(who, "peer", "list")
            peers = peers.get("peers", peers)
            return any(p.get("rx_bytes") for p in peers)

        wait_for(counted, 6, 0.3)  # the agent reports every 2 s
        self.cli(who, "peer", "list", show=True)

    def drop_counters(self):
        """{name: packets} of the firewall's drop counters on the node."""
        r = run("nft", "-j", "list", "counters", "table", "inet", "myrelay", ns=NS_NODE)
        out = {}
        for item in json.loads(r.stdout).get("nftables", []):
            c = item.get("counter")
            if c and "drop" in c["name"]:
                out[c["name"]] = c["packets"]
        return out

    def isolation(self):
        say("Isolation: Alice's laptop tries Bob's pod and Bob's laptop through her tunnel")
        a, b = self.pods["alice"], self.pods["bob"]
        bob_dev = self.cli_json("bob", "peer", "list")
        bob_dev = bob_dev.get("peers", bob_dev)
        bob_addr = next(x for x in bob_dev[0]["addresses"] if ":" not in x).split("/")[0]
        before = self.drop_counters()
        # Alice's AllowedIPs are 0.0.0.0/0: the packets do go into her tunnel.
        route = run("ip", "route", "get", b["gw4"], ns=NS_ALICE).stdout.split("\n")[0]
        print(f"  in {NS_ALICE}: ip route get {b['gw4']} -> {route.strip()}")
        for what, dst in (("Bob's pod gateway", b["gw4"]), ("Bob's laptop", bob_addr)):
            n, _ = self.ping(NS_ALICE, dst, count=2)
            print(f"  $ ping -c 2 {dst}    # {what}, from Alice's laptop: {n}/2 answered")
            if n:
                raise Failed(f"Alice's device reached {what} {dst}")
        n, _ = self.ping(NS_ALICE, a["gw4"], count=1)
        if n != 1:
            raise Failed("Alice's own pod stopped answering")
        print(f"  (her own gateway {a['gw4']} still answers: the tunnel is fine)")
        after = self.drop_counters()
        rose = {k: v - before.get(k, 0) for k, v in after.items() if v > before.get(k, 0)}
        print("  the node's firewall (nft table inet myrelay) counted the drops:")
        for k in sorted(after):
            print(f"    {k:28} {before.get(k, 0):3} -> {after[k]:3} packets")
        iso = f"{a['interface']}-drop-isolation"
        if rose.get(iso, 0) < 4:
            raise Failed(f"{iso} did not count the 4 pings: {rose}")

    def main(self):
        ensure_user()
        self.namespaces()
        self.server()
        self.node()
        self.customers()
        self.device("alice", NS_ALICE, qr=True)
        say("Alice's laptop pings her pod's gateway; the server shows the device")
        self.traffic("alice", NS_ALICE)
        self.device("bob", NS_BOB, qr=False)
        say("Bob's laptop pings his pod's gateway")
        self.traffic("bob", NS_BOB)
        self.isolation()


def main():
    if os.geteuid() != 0:
        sys.exit("demo: needs root (network namespaces, TUN devices)")
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="mrsvc-")
    demo = None
    good = False
    try:
        demo = Demo(tmp)
        print(f"MyRelay service demo ({run(demo.cli_bin, 'version').stdout.strip()})")
        demo.main()
        good = True
    except Exception as e:  # every failure: say what, show the logs, clean up
        print(f"\ndemo: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        if demo:
            for name in ("agent.log", "server.log"):
                text = demo.log(name)
                if text:
                    print(f"----- {name} (end) -----\n{text}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\ndemo: interrupted", file=sys.stderr)
    finally:
        cleanup()
        left = [ns for ns in made_ns if os.path.exists(f"/run/netns/{ns}")]
        shutil.rmtree(tmp, ignore_errors=True)
        if left:
            good = False
            print(f"demo: could not remove namespaces {left}", file=sys.stderr)
        else:
            print("\ndemo: cleaned up (server, agent, wireguard-go processes, namespaces, "
                  "files)")
    if not good:
        sys.exit(1)
    print(f"demo: OK ({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
