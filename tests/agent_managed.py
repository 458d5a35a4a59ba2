# SPDX-License-Identifier: MIT
"""myrelay-agent in managed mode against a real myrelay-server (run by
agent-managed.sh).

The server and the agent run in one node namespace (the server on its
loopback, TLS with its own CA); the test drives the server's API with the
Python binding from inside that namespace, and a device namespace runs the
real wg-quick. Checked:

- the agent verifies the server against the CA (a wrong CA: nothing
  applied, the failure logged), runs as the myrelay user with
  CAP_NET_ADMIN only, creates the pod, generates its key on the node and
  reports the public key: the pod becomes active with exactly that key;
- a pod whose interface name another program holds is reported failed with
  the reason (the interface untouched), and made once the name is free;
- a peer added through the API reaches the interface within 1 s (the time
  is printed), and the device's tunnel works; counters reach the server;
- the server stopped: tunnels keep working; two changes made meanwhile
  (straight in the store) arrive in one step when it is back;
- SIGTERM leaves the tunnels up; a restarted agent converges without
  changing anything, with the same pod public key, and the device's
  session survives.
"""
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

from agent_common import (AGENT, ENV, FAILED, SERVER, Client, Node, check_privileges, elapsed,
                          ensure_user, finish, note, ok, run, wait_for, wg_genkey, wg_pubkey)

SFX = os.environ["MR_AGENT_TEST_SUFFIX"]
TMP = os.environ["MR_AGENT_TEST_TMP"]
NODE_NS = f"mram-n-{SFX}"
CLIENT_NS = f"mram-c-{SFX}"
DATA = os.path.join(TMP, "server")
STATE = os.path.join(TMP, "state")
TOKEN = os.path.join(TMP, "node.token")
CLONE_NEWNET = 0x40000000


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns {path}: {os.strerror(e)}")
    finally:
        os.close(fd)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, port):
        self.port = port
        self.proc = None
        self.log = open(os.path.join(TMP, "server.log"), "a")

    def start(self):
        # In this process's namespace: the node's (setns above).
        self.proc = subprocess.Popen([SERVER, "run", "--data-dir", DATA, "--listen",
                                      f"127.0.0.1:{self.port}", "--rate", "0"],
                                     stdout=subprocess.DEVNULL, stderr=self.log, env=ENV)
        v, _ = wait_for(self._listening, 10, 0.02)
        if not v:
            raise RuntimeError("myrelay-server did not start: " +
                               open(os.path.join(TMP, "server.log")).read())

    def _listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return self.proc.poll() is not None and None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def main():
    uid, gid = ensure_user()
    os.chmod(TMP, 0o755)
    node = Node(NODE_NS, TMP)
    client = server = other = None
    try:
        client = Client(CLIENT_NS, NODE_NS, "veth" + SFX, "mrm" + SFX, "198.18.88.1",
                        "198.18.88.2", TMP)
        setns(f"/run/netns/{NODE_NS}")
        from myrelay.api import Client as Api

        p = run([SERVER, "init", "--data-dir", DATA, "--name", "localhost"])
        admin_token = p.stdout.strip()
        server = Server(free_port())
        server.start()
        url = f"https://localhost:{server.port}"
        ca = os.path.join(DATA, "ca.crt")
        api = Api(url, admin_token, ca=ca)
        st, ans = api.post("/v1/nodes", {"name": "node1", "region": "lab",
                                         "endpoint": "198.18.88.1"})
        node_id = ans["node"]["id"]
        with open(os.open(TOKEN, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(ans["secret"] + "\n")
        _, ans = api.post("/v1/customers", {"name": "acme"})
        customer = ans["customer"]["id"]
        _, ans = api.post("/v1/pods", {"customer": customer, "node": node_id})
        pod = ans["pod"]
        pod_id, ifname, port = pod["id"], pod["interface"], pod["listen_port"]
        note(f"server on {url}, node {node_id}, pod {pod_id} ({ifname}, port {port}, "
             f"{', '.join(pod['addresses'])})")
        ok(pod["status"] == "pending" and pod["public_key"] is None,
           "the new pod is pending, without a public key")
        # A second customer's pod, whose interface name someone else holds.
        _, ans = api.post("/v1/customers", {"name": "blocked"})
        _, ans = api.post("/v1/pods", {"customer": ans["customer"]["id"], "node": node_id})
        pod2_id, pod2_if = ans["pod"]["id"], ans["pod"]["interface"]
        run(["ip", "link", "add", pod2_if, "type", "veth", "peer", "name", "x" + SFX],
            ns=NODE_NS)

        # -- a wrong CA: the agent refuses to talk ------------------------------
        bad_ca = os.path.join(TMP, "other-ca.crt")
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", os.path.join(TMP, "other-ca.key"), "-out", bad_ca, "-days",
             "1", "-subj", "/CN=not-our-ca"])
        os.chmod(bad_ca, 0o644)
        other = Node.__new__(Node)
        other.__dict__.update(node.__dict__)
        other.start_agent(["--server", url, "--ca", bad_ca, "--token-file", TOKEN,
                           "--state-dir", os.path.join(TMP, "state-badca"),
                           "--listen-metrics", "none"], "agent-badca.log")
        v, _ = other.wait_log(r"does not verify against", 10)
        ok(v is not None, "with another CA the agent refuses the server: " +
           (v.group(0) if v else "no such log line"))
        ok(ifname not in node.interfaces(), "and applies nothing")
        ok(other.stop_agent(signal.SIGTERM, 10) == 0, "and stops on SIGTERM with 0")

        # -- the agent -----------------------------------------------------------
        t0 = time.monotonic()
        agent = node.start_agent(["--server", url, "--ca", ca, "--token-file", TOKEN,
                                  "--state-dir", STATE, "--report-interval", "2",
                                  "--reconcile-interval", "1", "--listen-metrics",
                                  "127.0.0.1:9108"])

        def active():
            _, a = api.get(f"/v1/pods/{pod_id}")
            return a["pod"] if a["pod"]["status"] == "active" else None

        v, took = wait_for(active, 15, 0.05)
        ok(v is not None, f"the pod is active on the server {took * 1000:.0f} ms after the "
           "agent started")
        if v is None:
            print(node.log())
            return
        with open(os.path.join(STATE, "pods", pod_id + ".key")) as f:
            pod_pub = wg_pubkey(f.read().strip())
        ok(v["public_key"] == pod_pub and node.public_key(ifname) == pod_pub,
           "the server has the pod key the agent generated on the node (and the interface "
           "uses it)")
        s = os.stat(os.path.join(STATE, "pods", pod_id + ".key"))
        ok((s.st_mode & 0o777) == 0o600 and s.st_uid == uid, "the key file is 0600, the agent's")
        check_privileges(agent, uid, "agent")
        def pod2_state(status):
            _, a = api.get(f"/v1/pods/{pod2_id}")
            return a["pod"] if a["pod"]["status"] == status else None

        v, _ = wait_for(lambda: pod2_state("failed"), 5, 0.05)
        ok(v is not None and "not made by myrelay-agent" in (v["error"] or ""),
           f"the pod whose interface is someone else's is failed on the server: "
           f"{v['error'] if v else '?'}")
        ok(node.links()[pod2_if].get("link_type") == "ether", "and that interface is untouched")
        run(["ip", "link", "del", pod2_if], ns=NODE_NS)
        v, took = wait_for(lambda: pod2_state("active"), 10, 0.05)
        ok(v is not None and v["error"] is None and pod2_if in node.interfaces(),
           f"once the name is free, the periodic check makes the pod: active, error cleared "
           f"({took:.1f} s)")
        _, a = api.get(f"/v1/nodes/{node_id}")
        ok(a["node"]["status"] == "active" and a["node"]["applied_generation"] ==
           a["node"]["generation"], f"the node is active and reports generation "
           f"{a['node']['applied_generation']} applied (server: {a['node']['generation']})")

        # -- a peer through the API ---------------------------------------------
        dev_priv, dev_pub = wg_genkey()
        t = time.monotonic()
        _, ans = api.post(f"/v1/pods/{pod_id}/peers", {"name": "laptop", "public_key": dev_pub})
        posted = time.monotonic()
        v, _ = wait_for(lambda: dev_pub in node.peers(ifname), 5, 0.002)
        seen = time.monotonic()
        ok(v is not None and seen - posted < 1.0,
           f"the peer reached the node {(seen - posted) * 1000:.0f} ms after the API answered "
           f"({(seen - t) * 1000:.0f} ms after the request was sent; must be < 1 s)")
        laptop = ans["peer"]
        addr4 = next(a for a in laptop["addresses"] if ":" not in a)
        gw4 = next(a for a in pod["addresses"] if ":" not in a).split("/")[0]
        client.up(dev_priv, addr4, pod_pub, f"198.18.88.1:{port}", gw4 + "/32")
        n = client.ping(gw4, count=3)
        ok(n == 3, f"the device pings the pod's gateway {gw4} through the tunnel ({n}/3)")
        hs = node.handshakes(ifname).get(dev_pub, 0)

        def counted():
            _, a = api.get(f"/v1/pods/{pod_id}/peers")
            p = next(x for x in a["peers"] if x["public_key"] == dev_pub)
            return p if p["rx_bytes"] > 0 and p["last_handshake"] else None

        v, took = wait_for(counted, 10, 0.1)
        ok(v is not None, "the agent's report brought the device's counters to the server "
           f"(rx {v['rx_bytes'] if v else '?'} bytes)")

        # -- the server goes away ------------------------------------------------
        node.mark_log()
        gen_before = api.get(f"/v1/nodes/{node_id}")[1]["node"]["generation"]
        api.close()
        server.stop()
        time.sleep(1.0)
        n = client.ping(gw4, count=3)
        ok(n == 3, f"server stopped: the tunnel still works ({n}/3)")
        v, _ = node.wait_log(r"retrying in .* the data plane stays as last applied", 5)
        ok(v is not None, "the agent says it retries and keeps the data plane")
        # Two changes while it is away, straight in the store.
        from myrelay.store import Store
        _, new_pub = wg_genkey()
        with Store(os.path.join(DATA, "store.db")) as s:
            s.peer_add(pod_id, "phone", new_pub)
            s.peer_disable(laptop["id"], reason="stolen")
            gen_pending = s.node_generation(node_id)
        ok(gen_pending == gen_before + 2, f"two changes pending: generation {gen_before} -> "
           f"{gen_pending}")
        time.sleep(0.5)
        ok(node.peers(ifname) == {dev_pub}, "nothing changed on the node meanwhile")
        t = time.monotonic()
        server.start()
        api = Api(url, admin_token, ca=ca)
        v, took = wait_for(lambda: node.peers(ifname) == {new_pub}, 70, 0.01)
        ok(v is not None, f"server back: both changes applied {took:.1f} s later (the "
           "agent's backoff)")
        log = node.log_since_mark()
        steps = re.findall(r"generation (\d+) -> (\d+)", log)
        ok(steps == [(str(gen_before), str(gen_pending))],
           f"in one step: {steps} (expected [{gen_before} -> {gen_pending}])")
        ok(client.ping(gw4, count=1) == 0, "the disabled device is cut off")

        # Back to a working device for the rest.
        api.post(f"/v1/pods/{pod_id}/peers/{laptop['id']}/enable")
        v, _ = wait_for(lambda: dev_pub in node.peers(ifname), 5, 0.01)
        # The node dropped the device's session with the peer; the device
        # would only notice after WireGuard's timeouts (15 s and more).
        client.restart()
        ok(v is not None and client.ping(gw4, count=3) == 3, "re-enabled: the device is back")
        hs = node.handshakes(ifname).get(dev_pub, 0)

        # -- SIGTERM, restart ------------------------------------------------------
        rc = node.stop_agent(signal.SIGTERM, 10)
        ok(rc == 0, f"SIGTERM: the agent exits with 0 ({rc}) while its poller waits")
        ok(node.peers(ifname) == {dev_pub, new_pub} and client.ping(gw4, count=2) == 2,
           "the tunnel stays up without the agent")
        agent = node.start_agent(["--server", url, "--ca", ca, "--token-file", TOKEN,
                                  "--state-dir", STATE, "--report-interval", "2",
                                  "--reconcile-interval", "1", "--listen-metrics",
                                  "127.0.0.1:9108"], "agent2.log")
        v, took = node.wait_log(r"is up \(listen port", 10)
        ok(v is not None, f"restarted agent: the pod is up after {took * 1000:.0f} ms")
        time.sleep(0.5)
        log = node.log_since_mark()
        ok("interface created" not in log and "peers +" not in log and
           "loaded its keypair" in log, "the restart changed nothing (no interface made, no "
           "peer changed, the key loaded)")
        ok(node.public_key(ifname) == pod_pub and
           api.get(f"/v1/pods/{pod_id}")[1]["pod"]["public_key"] == pod_pub,
           "same pod public key on the node and on the server")
        ok(node.handshakes(ifname).get(dev_pub) == hs and client.ping(gw4, count=2) == 2,
           "the device's session survived the restart")
        p = run(["curl", "-s", "-m", "5", "http://127.0.0.1:9108/metrics"], check=False)
        ok("myrelay_agent_server_up 1" in p.stdout and
           f'myrelay_agent_pod_peers{{pod="{pod_id}",interface="{ifname}"}} 2' in p.stdout,
           "/metrics: server up, 2 peers on the pod")
        check_privileges(agent, uid, "restarted agent")

        # -- the pod deleted on the server -------------------------------------------
        api.delete(f"/v1/pods/{pod_id}")
        v, took = wait_for(lambda: ifname not in node.links(), 5, 0.01)
        ok(v is not None, f"pod deleted on the server: torn down on the node "
           f"{took * 1000:.0f} ms later")
        ok(node.stop_agent(signal.SIGTERM, 10) == 0, "the agent exits with 0")
        if FAILED:
            print("----- agent log -----")
            print(node.log())
            print("----- server log -----")
            print(open(os.path.join(TMP, "server.log")).read()[-4000:])
    finally:
        if server:
            server.stop()
        if client:
            client.close()
        node.close()


if __name__ == "__main__":
    main()
    finish()
