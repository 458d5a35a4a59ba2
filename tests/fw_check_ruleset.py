# SPDX-License-Identifier: MIT
"""Check `nft -j list table inet myrelay` (on stdin) against the pods we
expect (a JSON object in argv[1]):

    {"wg-aaa": {"gateways": ["10.64.1.1/24", "fd00::1/64"], "port": 51820,
                "intra": true, "dns": false, "uplinks": ["up0"]}, ...}

Everything of the table is checked: the base chains and their dispatch
rules, the shared sets and maps (exact elements), and for each pod its
chains (every rule, in order), sets and counters. Nothing else may be there.
Exit 0 when all matches, 1 with the differences listed otherwise.
"""
import ipaddress
import json
import sys

TABLE = "myrelay"
errors = []


def expect(what, want, got):
    if want != got:
        errors.append(f"{what}: expected {want!r}, got {got!r}")


def element_text(e):
    """A set element of nft's JSON as comparable text."""
    if isinstance(e, dict) and "elem" in e:
        inner = e["elem"]
        text = element_text(inner["val"])
        if "comment" in inner:
            text += f" comment={inner['comment']}"
        return text
    if isinstance(e, dict) and "prefix" in e:
        return f"{e['prefix']['addr']}/{e['prefix']['len']}"
    return str(e)


def map_text(e):
    key, verdict = e
    kind = next(iter(verdict))
    return f"{element_text(key)}:{kind} {verdict[kind]['target']}"


def net_text(gw):
    return str(ipaddress.ip_interface(gw).network)


def v4(gw):
    return ipaddress.ip_interface(gw).version == 4


# Rules as (match, statements) summaries: compact and exact enough to tell
# every rule of ours apart.
def summarize(rule):
    parts = []
    for stmt in rule["expr"]:
        if "match" in stmt:
            m = stmt["match"]
            left, right, op = m["left"], m["right"], m["op"]
            if "meta" in left:
                lhs = left["meta"]["key"]
            elif "payload" in left:
                lhs = f"{left['payload']['protocol']} {left['payload']['field']}"
            elif "ct" in left:
                lhs = f"ct {left['ct']['key']}"
            else:
                lhs = json.dumps(left, sort_keys=True)
            if isinstance(right, list):
                rhs = ",".join(sorted(map(str, right)))
            elif isinstance(right, dict) and "set" in right:
                rhs = ",".join(sorted(map(str, right["set"])))
            else:
                rhs = str(right)
            parts.append(f"{lhs} {op} {rhs}")
        elif "vmap" in stmt:
            key = stmt["vmap"]["key"]
            lhs = key["meta"]["key"] if "meta" in key else \
                f"{key['payload']['protocol']} {key['payload']['field']}"
            parts.append(f"{lhs} vmap {stmt['vmap']['data']}")
        elif "counter" in stmt:
            parts.append(f"counter {stmt['counter']}")
        elif "masquerade" in stmt:
            parts.append("masquerade")
        elif "accept" in stmt or "drop" in stmt:
            parts.append(next(iter(stmt)))
        else:
            parts.append(json.dumps(stmt, sort_keys=True))
    return " | ".join(parts)


def pod_rules(pod, spec):
    """The rules we expect in the pod's chains, summarized."""
    fams = [("ip", "@pod-%s-nets4" % pod, "@pod_nets4"), ("ip6", "@pod-%s-nets6" % pod,
                                                          "@pod_nets6")]
    spoof = [f"{p} saddr != {own} | counter {pod}-drop-spoof | drop" for p, own, _ in fams]
    fwd = list(spoof)
    if spec.get("intra", True):
        fwd.append(f"oifname == {pod} | counter {pod}-accept | accept")
    else:
        fwd.append(f"oifname == {pod} | counter {pod}-drop-isolation | drop")
    fwd.append(f"oifname == @pod_ifaces | counter {pod}-drop-isolation | drop")
    for p, _, allnets in fams:
        fwd.append(f"{p} daddr == {allnets} | counter {pod}-drop-isolation | drop")
    fwd.append(f"counter {pod}-accept | accept")

    inp = list(spoof)
    inp.append(f"ct state in established,related | counter {pod}-accept | accept")
    for gw in spec["gateways"]:
        addr = str(ipaddress.ip_interface(gw).ip)
        if v4(gw):
            inp.append(f"ip daddr == {addr} | icmp type == echo-request | "
                       f"counter {pod}-accept | accept")
        else:
            inp.append(f"ip6 daddr == {addr} | icmpv6 type == echo-request | "
                       f"counter {pod}-accept | accept")
        if spec.get("dns"):
            for proto in ("udp", "tcp"):
                inp.append(f"{'ip' if v4(gw) else 'ip6'} daddr == {addr} | "
                           f"{proto} dport == 53 | counter {pod}-accept | accept")
    for p, own, allnets in fams:
        inp.append(f"{p} daddr != {own} | {p} daddr == {allnets} | "
                   f"counter {pod}-drop-isolation | drop")
    inp.append(f"counter {pod}-drop-node | drop")

    post = [f"oifname == {u} | masquerade" for u in spec.get("uplinks", [])]
    return {f"pod-{pod}-fwd": fwd, f"pod-{pod}-in": inp, f"pod-{pod}-post": post}


def main():
    pods = json.loads(sys.argv[1])
    doc = json.load(sys.stdin)["nftables"]
    chains, rules, sets, maps, counters = {}, {}, {}, {}, {}
    for item in doc:
        kind, obj = next(iter(item.items()))
        if kind == "metainfo":
            continue
        if kind != "table":
            expect(f"table of {kind} {obj.get('name')}", ("inet", TABLE),
                   (obj.get("family"), obj.get("table")))
        if kind == "chain":
            chains[obj["name"]] = obj
        elif kind == "rule":
            rules.setdefault(obj["chain"], []).append(summarize(obj))
        elif kind == "set":
            sets[obj["name"]] = sorted(element_text(e) for e in obj.get("elem", []))
        elif kind == "map":
            maps[obj["name"]] = sorted(map_text(e) for e in obj.get("elem", []))
        elif kind == "counter":
            counters[obj["name"]] = obj

    # Base chains.
    base = {"forward": ("filter", "forward", 0), "input": ("filter", "input", 0),
            "postrouting": ("nat", "postrouting", 100)}
    for name, (ctype, hook, prio) in base.items():
        c = chains.get(name)
        if not c:
            errors.append(f"base chain {name} missing")
            continue
        expect(f"chain {name}", (ctype, hook, prio, "accept"),
               (c.get("type"), c.get("hook"), c.get("prio"), c.get("policy")))
    expect("rules of forward", ["iifname vmap @pod_fwd"], rules.get("forward", []))
    expect("rules of input", ["iifname vmap @pod_in", "udp dport == @pod_ports | accept"],
           rules.get("input", []))
    expect("rules of postrouting", ["ip saddr vmap @pod_post4", "ip6 saddr vmap @pod_post6"],
           rules.get("postrouting", []))

    # Shared sets and maps.
    want_sets = {
        "pod_ifaces": sorted(pods),
        "pod_nets4": sorted(net_text(g) for s in pods.values() for g in s["gateways"]
                            if v4(g)),
        "pod_nets6": sorted(net_text(g) for s in pods.values() for g in s["gateways"]
                            if not v4(g)),
        "pod_ports": sorted(f"{s['port']} comment={p}" for p, s in pods.items()
                            if s.get("port")),
    }
    want_maps = {
        "pod_fwd": sorted(f"{p}:jump pod-{p}-fwd" for p in pods),
        "pod_in": sorted(f"{p}:jump pod-{p}-in" for p in pods),
        "pod_post4": sorted(f"{net_text(g)}:jump pod-{p}-post" for p, s in pods.items()
                            for g in s["gateways"] if v4(g)),
        "pod_post6": sorted(f"{net_text(g)}:jump pod-{p}-post" for p, s in pods.items()
                            for g in s["gateways"] if not v4(g)),
    }
    want_chains = set(base)
    want_counters = set()
    for p, s in pods.items():
        want_sets[f"pod-{p}-nets4"] = sorted(net_text(g) for g in s["gateways"] if v4(g))
        want_sets[f"pod-{p}-nets6"] = sorted(net_text(g) for g in s["gateways"] if not v4(g))
        for chain, want in pod_rules(p, s).items():
            want_chains.add(chain)
            expect(f"rules of {chain}", want, rules.get(chain, []))
        for c in ("accept", "drop-isolation", "drop-spoof", "drop-node"):
            want_counters.add(f"{p}-{c}")
    expect("sets", want_sets, sets)
    expect("maps", want_maps, maps)
    expect("chains", sorted(want_chains), sorted(chains))
    expect("counters", sorted(want_counters), sorted(counters))

    for e in errors:
        print("FAIL:", e)
    if not errors:
        print(f"ok: table inet {TABLE} holds exactly pods {sorted(pods)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
