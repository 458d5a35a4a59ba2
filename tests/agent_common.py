# SPDX-License-Identifier: MIT
"""Shared fixture of the agent tests (agent_standalone.py, agent_managed.py).

Everything runs in network namespaces made here. The agent and the pods'
wireguard-go processes run in a private mount namespace of their own where
two things are bind-mounted over the host's, so that the host is never
changed:

- /run/wireguard: an empty directory of this test (the agent hands it to
  its user, and wireguard-go makes its sockets there);
- /dev/net/tun: a node of mode 0666, as Debian's udev makes it (the test
  machines have it 0600, which an unprivileged wireguard-go cannot open).

Every command that talks to the pods' wireguard-go (wg show) goes through
the same wrapper, so it sees the same sockets.
"""
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time

FAILED = []
T0 = time.monotonic()


def ok(cond, what):
    print(("ok   - " if cond else "FAIL - ") + what, flush=True)
    if not cond:
        FAILED.append(what)
    return cond


def note(what):
    print("       " + what, flush=True)


def elapsed():
    return time.monotonic() - T0


# Programs get a clean environment: no ASan preload (set for the interpreter
# under sanitizer builds), and wireguard-go allowed to start.
ENV = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}
ENV["WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD"] = "1"
# Leak checking of the agent: it exits with _exit() in managed mode, where
# LeakSanitizer does not run; in standalone mode it frees everything.
ENV["ASAN_OPTIONS"] = "detect_leaks=1"

BUILD = os.environ["top_builddir"]
AGENT = os.path.join(BUILD, "frontends", "agent", "myrelay-agent")
SERVER = os.path.join(BUILD, "frontends", "server", "myrelay-server")
USER = "myrelay"


def run(cmd, ns=None, check=True, timeout=30, input=None):
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout,
                       input=input)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def ensure_user():
    """The agent's system user (created once on this machine if missing)."""
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER])
        note(f"created the system user {USER}")
        pw = pwd.getpwnam(USER)
    return pw.pw_uid, pw.pw_gid


def proc_status(pid):
    """{field: value} of /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def children(pid):
    """Direct children of a process."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def pids_of(prog_basename, ns):
    """Processes running prog in network namespace ns (ip netns pids)."""
    p = run(["ip", "netns", "pids", ns], check=False)
    found = []
    for pid in p.stdout.split():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0].decode(errors="replace")) == prog_basename:
            found.append((int(pid), [a.decode(errors="replace") for a in argv if a]))
    return found


def wait_for(fn, timeout, step=0.01):
    """Poll fn() until it returns a true value; (value, seconds) or (None, timeout)."""
    t = time.monotonic()
    while True:
        v = fn()
        if v:
            return v, time.monotonic() - t
        if time.monotonic() - t > timeout:
            return None, timeout
        time.sleep(step)


class Node:
    """A node namespace with the private mounts the agent needs."""

    def __init__(self, ns, tmp):
        self.ns = ns
        self.tmp = tmp
        self.wgrun = os.path.join(tmp, "wgrun")
        self.tun = os.path.join(tmp, "tun")
        os.makedirs(self.wgrun, exist_ok=True)
        if not os.path.exists(self.tun):
            os.mknod(self.tun, 0o666 | 0o020000, os.makedev(10, 200))
            os.chmod(self.tun, 0o666)
        run(["ip", "netns", "add", ns])
        run(["ip", "link", "set", "lo", "up"], ns=ns)
        self.agent = None
        self.agent_log = None

    def wrap(self, cmd):
        """cmd in the node's network namespace and our private mounts."""
        script = (f"mount --bind {self.tun} /dev/net/tun && "
                  f"mount --bind {self.wgrun} /run/wireguard && exec \"$@\"")
        return ["ip", "netns", "exec", self.ns, "unshare", "--mount", "--propagation", "private",
                "sh", "-c", script, "sh"] + cmd

    def run(self, cmd, check=True, timeout=30):
        return run(self.wrap(cmd), check=check, timeout=timeout)

    def wg(self, *args):
        return self.run(["wg"] + list(args), check=False).stdout

    def interfaces(self):
        return set(self.wg("show", "interfaces").split())

    def peers(self, ifname):
        return set(self.wg("show", ifname, "peers").split())

    def handshakes(self, ifname):
        out = {}
        for line in self.wg("show", ifname, "latest-handshakes").splitlines():
            k, v = line.split()
            out[k] = int(v)
        return out

    def public_key(self, ifname):
        return self.wg("show", ifname, "public-key").strip()

    def links(self):
        p = run(["ip", "-j", "link", "show"], ns=self.ns)
        return {l["ifname"]: l for l in json.loads(p.stdout)}

    # -- the agent -----------------------------------------------------------
    def start_agent(self, args, log_name="agent.log", prefix=()):
        """Start myrelay-agent run ARGS (behind the exec-ing command prefix,
        if any); returns the agent's pid (not the wrappers')."""
        path = os.path.join(self.tmp, log_name)
        self.agent_log = path
        self.agent_log_pos = 0
        logf = open(path, "a")
        # exec chain: ip netns exec -> unshare -> sh -> exec agent: one pid.
        self.agent = subprocess.Popen(self.wrap(list(prefix) + [AGENT, "run"] + args), stdout=logf,
                                      stderr=subprocess.STDOUT, env=ENV)
        logf.close()
        return self.agent.pid

    def log(self):
        with open(self.agent_log) as f:
            return f.read()

    def log_since_mark(self):
        with open(self.agent_log) as f:
            f.seek(self.agent_log_pos)
            return f.read()

    def mark_log(self):
        self.agent_log_pos = os.path.getsize(self.agent_log)

    def wait_log(self, pattern, timeout):
        rx = re.compile(pattern)
        v, t = wait_for(lambda: rx.search(self.log_since_mark()), timeout, 0.02)
        return v, t

    def stop_agent(self, sig=signal.SIGTERM, timeout=10):
        """Signal the agent; its exit status (None if it did not exit)."""
        if not self.agent or self.agent.poll() is not None:
            return self.agent.returncode if self.agent else None
        self.agent.send_signal(sig)
        try:
            return self.agent.wait(timeout)
        except subprocess.TimeoutExpired:
            self.agent.kill()
            self.agent.wait()
            return None

    def close(self):
        """Kill what runs in the namespace (the agent, wireguard-go), then
        the namespace."""
        if self.agent and self.agent.poll() is None:
            self.agent.kill()
            self.agent.wait()
        kill_namespace(self.ns)


def kill_namespace(ns):
    p = run(["ip", "netns", "pids", ns], check=False)
    # Not ourselves: a test may have entered the namespace.
    pids = [int(x) for x in p.stdout.split() if int(x) != os.getpid()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 3
    while pids and time.monotonic() < deadline:
        pids = [x for x in pids if os.path.exists(f"/proc/{x}")]
        time.sleep(0.05)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    run(["ip", "netns", "del", ns], check=False)


def check_privileges(pid, uid, what):
    """The process runs as uid with CAP_NET_ADMIN only."""
    st = proc_status(pid)
    uids = st.get("Uid", "").split()
    ok(uids == [str(uid)] * 4, f"{what}: Uid {st.get('Uid')} (all {uid}, the {USER} user)")
    ok(st.get("CapEff") == "0000000000001000",
       f"{what}: CapEff {st.get('CapEff')} == CAP_NET_ADMIN only (0x1000)")
    ok(st.get("CapPrm") == "0000000000001000", f"{what}: CapPrm {st.get('CapPrm')}")
    return st


def wg_pubkey(private_b64):
    return run(["wg", "pubkey"], input=private_b64 + "\n").stdout.strip()


def wg_genkey():
    priv = run(["wg", "genkey"]).stdout.strip()
    return priv, wg_pubkey(priv)


class Client:
    """A device: wg-quick in a namespace of its own, linked to the node by a
    veth pair (node side addr_node, client side addr_client, a /24)."""

    def __init__(self, ns, node_ns, veth, ifname, addr_node, addr_client, tmp):
        self.ns, self.ifname, self.tmp = ns, ifname, tmp
        self.conf = None
        run(["ip", "netns", "add", ns])
        run(["ip", "link", "set", "lo", "up"], ns=ns)
        run(["ip", "link", "add", veth, "netns", node_ns, "type", "veth", "peer", "name",
             "eth0", "netns", ns])
        run(["ip", "addr", "add", addr_node + "/24", "dev", veth], ns=node_ns)
        run(["ip", "link", "set", veth, "up"], ns=node_ns)
        run(["ip", "addr", "add", addr_client + "/24", "dev", "eth0"], ns=ns)
        run(["ip", "link", "set", "eth0", "up"], ns=ns)

    def up(self, private, address, pod_public, endpoint, allowed):
        self.conf = os.path.join(self.tmp, self.ifname + ".conf")
        with open(self.conf, "w") as f:
            f.write(f"[Interface]\nPrivateKey = {private}\nAddress = {address}\n\n"
                    f"[Peer]\nPublicKey = {pod_public}\nEndpoint = {endpoint}\n"
                    f"AllowedIPs = {allowed}\n")
        os.chmod(self.conf, 0o600)
        run(["wg-quick", "up", self.conf], ns=self.ns)

    def ping(self, dst, count=3, interval="0.2"):
        p = run(["ping", "-n", "-q", "-c", str(count), "-i", interval, "-W", "1", dst],
                ns=self.ns, check=False, timeout=60)
        m = re.search(r"(\d+) received", p.stdout)
        return int(m.group(1)) if m else 0

    def restart(self):
        """wg-quick down and up: a fresh handshake (a peer removed and added
        again on the node has lost the session the device still uses)."""
        run(["wg-quick", "down", self.conf], ns=self.ns)
        run(["wg-quick", "up", self.conf], ns=self.ns)

    def close(self):
        if self.conf:
            run(["wg-quick", "down", self.conf], ns=self.ns, check=False)
        kill_namespace(self.ns)
        sock = f"/var/run/wireguard/{self.ifname}.sock"
        if os.path.exists(sock):
            os.unlink(sock)


def finish():
    print(f"# {len(FAILED)} failure(s) in {elapsed():.1f} s", flush=True)
    for f in FAILED:
        print("#   FAILED: " + f)
    sys.exit(1 if FAILED else 0)
