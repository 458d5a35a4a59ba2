# SPDX-License-Identifier: MIT
"""myrelay-agent in standalone mode, for real (run by agent-standalone.sh).

A node namespace runs the agent, as root at first, on a desired-state file
of this test; a client namespace is a device with the real wg-quick. The
test edits the file the way editors do (write elsewhere, rename over) and
checks with wg, ip, nft, ping and /proc:

- the pods appear (wireguard-go started by the agent), a real tunnel works;
- the agent and its wireguard-go run as the myrelay user with CAP_NET_ADMIN
  only; the state directory and key files are 0700/0600 and the pod's
  public key is the one of its key file;
- adding a peer reaches the interface fast, and the device's session is
  not disturbed (same handshake, no lost ping);
- an invalid file is refused and changes nothing;
- a killed wireguard-go is replaced (the pod is re-created);
- a pod removed from the file is torn down (interface, firewall rules,
  record), its key kept; links and nftables tables the agent did not make
  are untouched, even a pod-shaped one named in the file;
- SIGTERM leaves the tunnels up, and a restart converges without touching
  them (same key, same session); so does an agent started as the myrelay
  user with an ambient CAP_NET_ADMIN (setpriv), as the systemd unit does;
- `myrelay-agent check` accepts and refuses files with exit codes 0 and 2.
"""
import json
import os
import signal
import subprocess
import sys
import time

from agent_common import (AGENT, ENV, FAILED, USER, Client, Node, check_privileges, children, elapsed,
                          ensure_user, finish, kill_namespace, note, ok, proc_status, run,
                          wait_for, wg_genkey, wg_pubkey)

SFX = os.environ["MR_AGENT_TEST_SUFFIX"]
TMP = os.environ["MR_AGENT_TEST_TMP"]
NODE_NS = f"mras-n-{SFX}"
CLIENT_NS = f"mras-c-{SFX}"
POD_A = "wg-a0" + SFX  # six hex digits after "wg-"
POD_B = "wg-b0" + SFX
FOREIGN = "wg-f0" + SFX
METRICS = "127.0.0.1:9109"
FILE = os.path.join(TMP, "etc", "desired.json")
STATE = os.path.join(TMP, "state")


def write_desired(doc):
    """Write elsewhere, then rename over the file, as editors do."""
    tmp = os.path.join(os.path.dirname(FILE), ".desired.json.swp")
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.chmod(tmp, 0o640)
    os.chown(tmp, 0, GID)
    os.rename(tmp, FILE)


def pod(pid, ifname, port, net, peers=()):
    return {"id": pid, "interface": ifname, "listen_port": port,
            "addresses": [f"10.{net}.1/24", f"fd77:{net.replace('.', ':')}::1/64"],
            "peers": list(peers)}


def metrics(node):
    p = run(["curl", "-s", "-S", "-m", "5", "-w", "\n%{http_code}",
             f"http://{METRICS}/metrics"], ns=node.ns, check=False)
    text, _, code = p.stdout.rpartition("\n")
    return code, text


def healthz(node):
    p = run(["curl", "-s", "-m", "5", "-w", "\n%{http_code}", f"http://{METRICS}/healthz"],
            ns=node.ns, check=False)
    text, _, code = p.stdout.rpartition("\n")
    return code, text


def nft(node):
    return run(["nft", "list", "ruleset"], ns=node.ns, check=False).stdout


def main():
    global GID
    uid, GID = ensure_user()
    # The agent user must reach the file and the state directory.
    os.chmod(TMP, 0o755)
    os.makedirs(os.path.dirname(FILE), mode=0o750)
    os.chown(os.path.dirname(FILE), 0, GID)
    node = Node(NODE_NS, TMP)
    client = None
    try:
        client = Client(CLIENT_NS, NODE_NS, "veth" + SFX, "mrs" + SFX, "198.18.77.1",
                        "198.18.77.2", TMP)
        # Things the agent did not make: a pod-shaped link, an ordinary one,
        # a table of someone else.
        run(["ip", "link", "add", FOREIGN, "type", "veth", "peer", "name", "keep" + SFX],
            ns=NODE_NS)
        run(["nft", "add table inet other; add chain inet other c; "
             "add rule inet other c counter accept"], ns=NODE_NS)
        before_links = set(node.links())
        other_table = run(["nft", "list", "table", "inet", "other"], ns=NODE_NS).stdout

        dev1_priv, dev1_pub = wg_genkey()
        _, dev2_pub = wg_genkey()
        peer1 = {"public_key": dev1_pub, "allowed_ips": ["10.77.1.2/32", "fd77:77:1::2/128"]}
        doc = {"generation": 1, "pods": [pod("alpha", POD_A, 51900, "77.1", [peer1]),
                                          pod("beta", POD_B, 51901, "77.2")]}
        write_desired(doc)

        # -- check -------------------------------------------------------------
        p = run([AGENT, "check", "--desired-file", FILE], check=False)
        ok(p.returncode == 0 and "ok: generation 1, 2 pods, 1 peers" in p.stdout,
           f"check accepts the file (exit {p.returncode}): {p.stdout.strip().splitlines()[-1:]}")
        bad = os.path.join(TMP, "bad.json")
        with open(bad, "w") as f:
            json.dump({"generation": 1, "pods": [pod("x", POD_A, 0, "77.1")]}, f)
        p = run([AGENT, "check", "--desired-file", bad], check=False)
        ok(p.returncode == 2 and "pods[0].listen_port" in p.stderr,
           f"check refuses a bad file with exit 2: {p.stderr.strip()}")

        # -- start -------------------------------------------------------------
        t = time.monotonic()
        agent = node.start_agent(["--desired-file", FILE, "--state-dir", STATE,
                                  "--listen-metrics", METRICS, "--reconcile-interval", "1"])
        v, took = wait_for(lambda: {POD_A, POD_B} <= node.interfaces(), 15)
        ok(v is not None, f"both pods up {took * 1000:.0f} ms after the agent started")
        if v is None:
            print(node.log())
            return
        st = check_privileges(agent, uid, "agent")
        ok(st.get("CapBnd") == "0000000000000000" and st.get("NoNewPrivs") == "1",
           f"agent: bounding set empty ({st.get('CapBnd')}), no_new_privs {st.get('NoNewPrivs')}")
        ok(st.get("CapAmb") == "0000000000001000", f"agent: CapAmb {st.get('CapAmb')}")
        wgos = [c for c in children(agent)
                if os.path.basename(os.readlink(f"/proc/{c}/exe")) == "wireguard-go"]
        ok(len(wgos) == 2, f"the agent started 2 wireguard-go children: {wgos}")
        for c in wgos:
            check_privileges(c, uid, f"wireguard-go {c}")

        # -- the state directory ------------------------------------------------
        s = os.stat(STATE)
        ok(s.st_uid == uid and (s.st_mode & 0o777) == 0o700,
           f"state dir owned by {uid}, mode {s.st_mode & 0o777:o}")
        keyfile = os.path.join(STATE, "pods", "alpha.key")
        s = os.stat(keyfile)
        ok(s.st_uid == uid and (s.st_mode & 0o777) == 0o600,
           f"alpha.key owned by {uid}, mode {s.st_mode & 0o777:o}")
        with open(keyfile) as f:
            pub_a = wg_pubkey(f.read().strip())
        ok(node.public_key(POD_A) == pub_a, "pod alpha's public key is its key file's")
        s = os.stat(os.path.join(TMP, "wgrun"))
        ok(s.st_uid == uid, "the agent made /run/wireguard (ours, bind-mounted) its user's")

        # -- a real tunnel -------------------------------------------------------
        client.up(dev1_priv, "10.77.1.2/32", pub_a, "198.18.77.1:51900", "10.77.1.0/24")
        n = client.ping("10.77.1.1", count=3)
        ok(n == 3, f"device 1 pings pod alpha's gateway through the tunnel ({n}/3)")
        hs1 = node.handshakes(POD_A).get(dev1_pub, 0)
        ok(hs1 > 0, "device 1 has a handshake")

        # -- a peer added while device 1 pings ---------------------------------
        pinger = subprocess.Popen(["ip", "netns", "exec", CLIENT_NS, "ping", "-n", "-q", "-i",
                                   "0.02", "-c", "100", "-W", "1", "10.77.1.1"],
                                  stdout=subprocess.PIPE, text=True, env=ENV)
        time.sleep(0.3)
        node.mark_log()
        doc["generation"] = 2
        doc["pods"][0]["peers"].append({"public_key": dev2_pub,
                                        "allowed_ips": ["10.77.1.3/32", "fd77:77:1::3/128"]})
        t = time.monotonic()
        write_desired(doc)
        v, took = wait_for(lambda: dev2_pub in node.peers(POD_A), 5)
        ok(v is not None, f"the new peer is on {POD_A} {took * 1000:.0f} ms after the file "
           "was renamed into place")
        out = pinger.communicate(timeout=20)[0]
        lost = "0% packet loss" in out
        ok(lost, "device 1 lost no ping while the peer was added: " +
           (out.strip().splitlines()[-2] if out.strip() else "?"))
        ok(node.handshakes(POD_A).get(dev1_pub) == hs1,
           "device 1's session was not disturbed (same handshake time)")
        v, _ = node.wait_log(r"pod alpha \(" + POD_A + r"\): peers \+1 -0 ~0 \(=1\)", 3)
        ok(v is not None, "the agent changed one peer and nothing else (log: peers +1 -0 ~0 (=1))")

        code, text = metrics(node)
        ok(code == "200" and f'myrelay_agent_pod_peers{{pod="alpha",interface="{POD_A}"}} 2'
           in text and "myrelay_agent_generation_applied 2" in text,
           f"/metrics: {code}, alpha has 2 peers, generation 2 applied")
        ok(f'myrelay_agent_pod_peers_connected{{pod="alpha",interface="{POD_A}"}} 1' in text and
           "myrelay_agent_pod_last_handshake_age_seconds{pod=\"alpha\"" in text,
           "/metrics: one connected peer, a handshake age")
        code, text = healthz(node)
        ok(code == "200" and json.loads(text).get("status") == "ok", f"/healthz: {code} {text}")

        # -- an invalid file changes nothing --------------------------------------
        node.mark_log()
        tmp = FILE + ".new"
        with open(tmp, "w") as f:
            f.write('{"generation": 3, "pods": [')
        os.chmod(tmp, 0o644)
        os.rename(tmp, FILE)
        v, _ = node.wait_log(r"is refused, keeping the state applied before", 3)
        ok(v is not None, "a broken file is refused (logged)")
        time.sleep(0.3)
        ok({POD_A, POD_B} <= node.interfaces() and len(node.peers(POD_A)) == 2,
           "and nothing changed")
        write_desired(doc)

        # -- wireguard-go dies ---------------------------------------------------
        victim = [c for c in children(agent)
                  if os.path.basename(os.readlink(f"/proc/{c}/exe")) == "wireguard-go" and
                  POD_B in open(f"/proc/{c}/cmdline").read()]
        node.mark_log()
        if ok(len(victim) == 1, f"found pod beta's wireguard-go ({victim})"):
            os.kill(victim[0], signal.SIGKILL)
            v, took = node.wait_log(r"pod beta \(" + POD_B + r"\): interface created", 5)
            ok(v is not None, f"killed wireguard-go replaced, pod re-created in "
               f"{took * 1000:.0f} ms")
            ok(POD_B in node.interfaces(), f"{POD_B} is back")

        # -- a pod-shaped link the agent did not make ------------------------------
        node.mark_log()
        doc["generation"] = 4
        doc["pods"].append(pod("intruder", FOREIGN, 51902, "77.3"))
        write_desired(doc)
        v, _ = node.wait_log(r"pod intruder .*exists and was not made by myrelay-agent", 3)
        ok(v is not None, "a pod naming an existing foreign link is refused (logged)")
        ok(node.links()[FOREIGN].get("link_type") == "ether", f"{FOREIGN} is still a veth")

        # -- a pod removed --------------------------------------------------------
        node.mark_log()
        doc["generation"] = 5
        doc["pods"] = [doc["pods"][0]]
        t = time.monotonic()
        write_desired(doc)
        record = os.path.join(STATE, "pods", "beta.iface")
        v, took = wait_for(lambda: POD_B not in node.links() and not os.path.exists(record), 5)
        ok(v is not None, f"pod beta torn down {took * 1000:.0f} ms after the file changed")
        rules = nft(node)
        ok(POD_B not in rules and POD_A in rules, "its firewall rules are gone, alpha's are not")
        ok(not os.path.exists(os.path.join(STATE, "pods", "beta.iface")) and
           os.path.exists(os.path.join(STATE, "pods", "beta.key")),
           "its ownership record is gone, its key kept")
        links = set(node.links())
        ok(FOREIGN in links and "keep" + SFX in links,
           f"links the agent did not make are untouched ({FOREIGN}, keep{SFX})")
        ok(before_links - {POD_A, POD_B} <= links, "every link from before is still there")
        ok(run(["nft", "list", "table", "inet", "other"], ns=NODE_NS).stdout == other_table,
           "the table inet other is untouched")

        # -- SIGTERM and restart ---------------------------------------------------
        rc = node.stop_agent(signal.SIGTERM, timeout=10)
        ok(rc == 0, f"SIGTERM: the agent exits with 0 ({rc})")
        ok(POD_A in node.interfaces() and client.ping("10.77.1.1", count=2) == 2,
           "the tunnel stays up without the agent")
        hs1 = node.handshakes(POD_A).get(dev1_pub)
        node.mark_log()
        agent = node.start_agent(["--desired-file", FILE, "--state-dir", STATE,
                                  "--listen-metrics", METRICS], "agent2.log")
        v, took = node.wait_log(r"pod alpha \(" + POD_A + r"\) is up", 10)
        ok(v is not None, f"restarted agent: pod alpha is up after {took * 1000:.0f} ms")
        log2 = node.log_since_mark()
        ok("interface created" not in log2 and "peers +" not in log2 and
           "loaded its keypair" in log2, "the restart changed nothing (no interface made, no "
           "peer changed, the key loaded)")
        ok(node.public_key(POD_A) == pub_a, "same public key after the restart")
        ok(node.handshakes(POD_A).get(dev1_pub) == hs1 and
           client.ping("10.77.1.1", count=2) == 2, "device 1's session survived the restart")
        check_privileges(agent, uid, "restarted agent")
        rc = node.stop_agent(signal.SIGTERM, timeout=10)
        ok(rc == 0, f"second agent exits with 0 on SIGTERM ({rc})")

        # -- started unprivileged with the capability, as systemd's unit does --
        setpriv = ["setpriv", f"--reuid={uid}", f"--regid={GID}", "--clear-groups"]
        probe = run(setpriv + [AGENT, "--version"], check=False)
        if probe.returncode != 0:
            note("#####################################################################")
            note(f"NOT TESTED: the {USER} user cannot run {AGENT} (build directory not")
            note(f"readable by it): the agent started as non-root is not checked here.")
            note("#####################################################################")
        else:
            agent = node.start_agent(["--desired-file", FILE, "--state-dir", STATE,
                                      "--listen-metrics", "none"], "agent3.log",
                                     prefix=setpriv + ["--inh-caps=+net_admin",
                                                       "--ambient-caps=+net_admin",
                                                       "--bounding-set=-all,+net_admin"])
            v, took = node.wait_log(r"pod alpha \(" + POD_A + r"\) is up", 10)
            ok(v is not None, f"started as {USER} with an ambient CAP_NET_ADMIN (systemd's "
               f"way): pod alpha is up after {took * 1000:.0f} ms")
            log3 = node.log_since_mark()
            ok("interface created" not in log3 and "peers +" not in log3,
               "and nothing changed")
            check_privileges(agent, uid, "agent started unprivileged")
            rc = node.stop_agent(signal.SIGTERM, timeout=10)
            ok(rc == 0, f"it exits with 0 on SIGTERM ({rc})")
        if FAILED:
            print("----- agent log -----")
            print(node.log())
    finally:
        if client:
            client.close()
        node.close()


if __name__ == "__main__":
    main()
    finish()
