# SPDX-License-Identifier: MIT
"""The control-plane store: nodes, customers, pods, peers, tokens, audit.

    >>> from myrelay.store import Store
    >>> with Store("/var/lib/myrelay/store.db", create=True) as st:
    ...     reg = st.node_register("fra-1", region="eu", endpoint="vpn.example.com")
    ...     node_token = reg["secret"]          # shown once
    ...     cu = st.customer_create("acme")["customer"]
    ...     pod = st.pod_create(cu["id"], reg["node"]["id"])
    ...     peer = st.peer_add(pod["pod"]["id"], "laptop", public_key)["peer"]
    ...     st.node_desired(reg["node"]["id"])["generation"]
    3

Every method sends one JSON request to libmyrelay and returns the parsed
JSON result as a dict (the shapes are documented in docs/api/store.md).
Each call is one database transaction. Bad input raises
:class:`myrelay.errors.InvalidInputError` (a ``ValueError``) whose message
names the member ("public_key: expected 44 characters, got 43"); a missing
object raises ``NotFoundError`` (a ``LookupError``), a duplicate
``ExistsError``, a refused state change ``ConflictError``, a used-up pool
``ExhaustedError``, a bad token ``AuthenticationError``.

Results of node registration, pod creation and token issue carry the
token's ``"secret"``, shown this once: the database keeps only its hash.
"""
import ctypes
import json
import weakref
from ctypes import POINTER, byref, c_void_p

from ._ffi import MrStore, MrStoreClock, encode, lib, take_string

__all__ = ["Store", "CREATE", "EXCLUSIVE", "SCHEMA_VERSION", "backup_key_create", "restore"]

CREATE = 0x1
EXCLUSIVE = 0x2
SCHEMA_VERSION = 3


def _request(**members):
    """JSON text of a request; members given as None are left out (use
    _NULL to send an explicit null)."""
    return json.dumps({k: (None if v is _NULL else v) for k, v in members.items()
                       if v is not None}).encode()


class _Null:
    def __repr__(self):
        return "null"


_NULL = _Null()


def backup_key_create(path):
    """Create a backup key file: 32 random bytes, mode 0600 (ExistsError if
    the file exists)."""
    lib.mr_store_backup_key_create(encode(str(path), "store: key path"))


def restore(backup_path, key_path, db_path):
    """Restore an encrypted backup into a new database file. A changed
    file or another key raises IntegrityError and writes nothing."""
    lib.mr_store_restore(encode(str(backup_path), "store: backup path"),
                         encode(str(key_path), "store: key path"),
                         encode(str(db_path), "store: database path"))


class Store:
    """An open store (one SQLite connection). Use it from one thread at a
    time; open one Store per thread to write from several."""

    def __init__(self, path, create=False, exclusive=False):
        """Open the database at path. create: make it (mode 0600) if
        missing; exclusive (with create): refuse an existing file
        (ExistsError). A missing file without create raises NotFoundError."""
        flags = (CREATE if create or exclusive else 0) | (EXCLUSIVE if exclusive else 0)
        handle = POINTER(MrStore)()
        lib.mr_store_open(byref(handle), encode(str(path), "store: path"), flags)
        self._handle = handle
        self._clock = None
        self._finalizer = weakref.finalize(self, lib.mr_store_close, handle)

    # -- lifetime -----------------------------------------------------------
    def close(self):
        """Close the database. Idempotent."""
        if getattr(self, "_finalizer", None) is not None:
            self._finalizer()
        self._handle = None
        self._clock = None

    @property
    def closed(self):
        return getattr(self, "_handle", None) is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _h(self):
        h = getattr(self, "_handle", None)
        if h is None:
            raise ValueError("store: the store is closed")
        return h

    # -- settings -----------------------------------------------------------
    def set_clock(self, now):
        """Replace the clock (a callable returning unix seconds), e.g. in
        tests; None restores the system clock."""
        h = self._h()
        if now is None:
            lib.mr_store_set_clock(h, MrStoreClock(), None)
            self._clock = None
            return

        def trampoline(_userdata):
            return int(now())

        cb = MrStoreClock(trampoline)
        lib.mr_store_set_clock(h, cb, None)
        self._clock = cb  # the C side holds a pointer: keep it alive

    def set_actor(self, token_id):
        """The token id recorded as actor of following changes (None:
        "system")."""
        lib.mr_store_set_actor(self._h(), None if token_id is None
                               else encode(token_id, "store: actor"))

    # -- generic call -------------------------------------------------------
    def call(self, operation, request):
        """Run an operation by name ("peer_add") with a request given as a
        dict or as JSON text; returns the result as a dict. The typed methods
        below are thin wrappers around this."""
        fn = getattr(lib, "mr_store_" + operation, None)
        if fn is None or operation in ("open", "close", "set_clock", "set_actor"):
            raise AttributeError(f"store: no operation {operation!r}")
        if isinstance(request, dict):
            text = json.dumps(request).encode()
        else:
            text = encode(request, "store: request")
        out = c_void_p()
        fn(self._h(), text, byref(out))
        return json.loads(take_string(out))

    def _op(self, operation, **members):
        out = c_void_p()
        getattr(lib, "mr_store_" + operation)(self._h(), _request(**members), byref(out))
        return json.loads(take_string(out))

    # -- nodes --------------------------------------------------------------
    def node_register(self, name, region, endpoint, **options):
        """Register a node. options: ipv4_pool, ipv6_pool, ipv4_prefix,
        ipv6_prefix, port_min, port_max, max_pods. Returns {"node", "token",
        "secret"}."""
        return self._op("node_register", name=name, region=region, endpoint=endpoint,
                        **options)

    def node_list(self, status=None, region=None):
        return self._op("node_list", status=status, region=region)["nodes"]

    def node_show(self, node_id):
        return self._op("node_show", id=node_id)["node"]

    def node_set_status(self, node_id, status):
        return self._op("node_set_status", id=node_id, status=status)["node"]

    def node_delete(self, node_id, force=False):
        return self._op("node_delete", id=node_id, force=force)

    def node_desired(self, node_id):
        """The node's desired state: {"generation", "pods": [...]}."""
        out = c_void_p()
        lib.mr_store_node_desired(self._h(), encode(node_id, "store: node"), byref(out))
        return json.loads(take_string(out))

    def node_report(self, node_id, report):
        """Ingest a node agent's report (a dict or JSON text): pod keys and
        errors, per-peer counters. Returns {"node", "generation", "pods",
        "peers", "ignored"}."""
        text = json.dumps(report).encode() if isinstance(report, dict) \
            else encode(report, "store: report")
        out = c_void_p()
        lib.mr_store_node_report(self._h(), encode(node_id, "store: node"), text, byref(out))
        return json.loads(take_string(out))

    def node_generation(self, node_id):
        gen = ctypes.c_int64()
        lib.mr_store_node_generation(self._h(), encode(node_id, "store: node"), byref(gen))
        return gen.value

    # -- customers ----------------------------------------------------------
    def customer_create(self, name, transfer_limit=None):
        return self._op("customer_create", name=name, transfer_limit=transfer_limit)

    def customer_list(self):
        return self._op("customer_list")["customers"]

    def customer_show(self, customer_id):
        return self._op("customer_show", id=customer_id)["customer"]

    def customer_set_plan(self, customer_id, transfer_limit):
        return self._op("customer_set_plan", id=customer_id,
                        transfer_limit=transfer_limit)["customer"]

    def customer_delete(self, customer_id, force=False):
        return self._op("customer_delete", id=customer_id, force=force)

    def usage(self, customer=None, month=None):
        """Transfer use of a calendar month ("YYYY-MM", default the current
        one): {"month", "customers": [...], "peers": [...] (with customer)}."""
        return self._op("usage", customer=customer, month=month)

    # -- pods ---------------------------------------------------------------
    def pod_create(self, customer_id, node_id):
        """Returns {"pod", "token", "secret"}."""
        return self._op("pod_create", customer=customer_id, node=node_id)

    def pod_list(self, customer=None, node=None, status=None):
        return self._op("pod_list", customer=customer, node=node, status=status)["pods"]

    def pod_show(self, pod_id):
        return self._op("pod_show", id=pod_id)["pod"]

    def pod_delete(self, pod_id):
        return self._op("pod_delete", id=pod_id)

    # -- peers --------------------------------------------------------------
    def peer_add(self, pod_id, name, public_key, preshared_key=None, expires=None):
        """Returns {"peer", "pod"}. Keys are base64 text (or objects with
        to_base64())."""
        if hasattr(public_key, "to_base64"):
            public_key = public_key.to_base64()
        if hasattr(preshared_key, "to_base64"):
            preshared_key = preshared_key.to_base64()
        return self._op("peer_add", pod=pod_id, name=name, public_key=public_key,
                        preshared_key=preshared_key, expires=expires)

    def peer_list(self, pod_id, enabled=None):
        return self._op("peer_list", pod=pod_id, enabled=enabled)["peers"]

    def peer_show(self, peer_id, pod=None):
        return self._op("peer_show", id=peer_id, pod=pod)["peer"]

    def peer_enable(self, peer_id, pod=None):
        return self._op("peer_enable", id=peer_id, pod=pod)["peer"]

    def peer_disable(self, peer_id, reason=None, pod=None):
        return self._op("peer_disable", id=peer_id, reason=reason, pod=pod)["peer"]

    def peer_rename(self, peer_id, name, pod=None):
        return self._op("peer_rename", id=peer_id, name=name, pod=pod)["peer"]

    def peer_set_expiry(self, peer_id, expires, pod=None):
        """expires: unix time, or None to clear."""
        return self._op("peer_set_expiry", id=peer_id, pod=pod,
                        expires=_NULL if expires is None else expires)["peer"]

    def peer_remove(self, peer_id, pod=None):
        return self._op("peer_remove", id=peer_id, pod=pod)

    # -- tokens -------------------------------------------------------------
    def token_issue(self, kind, subject=None, label=None, expires=None):
        """Returns {"token", "secret"}."""
        return self._op("token_issue", kind=kind, subject=subject, label=label,
                        expires=expires)

    def token_list(self, kind=None, subject=None, revoked=None):
        return self._op("token_list", kind=kind, subject=subject, revoked=revoked)["tokens"]

    def token_revoke(self, token_id):
        return self._op("token_revoke", id=token_id)["token"]

    def token_set_expiry(self, token_id, expires):
        return self._op("token_set_expiry", id=token_id,
                        expires=_NULL if expires is None else expires)["token"]

    def token_verify(self, token):
        """{"token_id", "kind", "subject"} of a presented token; raises
        AuthenticationError (a PermissionError) otherwise."""
        out = c_void_p()
        lib.mr_store_token_verify(self._h(), encode(token, "store: token"), byref(out))
        return json.loads(take_string(out))

    # -- audit, overview, expiry clock -------------------------------------
    def audit_list(self, **filters):
        """filters: subject, actor, action, since, until, before, limit."""
        return self._op("audit_list", **filters)["events"]

    def overview(self):
        out = c_void_p()
        lib.mr_store_overview(self._h(), byref(out))
        return json.loads(take_string(out))

    def backup(self, path, key_path):
        """Write an encrypted (AES-256-GCM) consistent snapshot to a new file
        (mode 0600) under the key in key_path."""
        lib.mr_store_backup(self._h(), encode(str(path), "store: backup path"),
                            encode(str(key_path), "store: key path"))

    def tick(self):
        """Raise the generations of nodes whose peers expired since the last
        tick."""
        lib.mr_store_tick(self._h())

    def next_expiry(self):
        """Unix time at which tick() next has work, or None."""
        t = ctypes.c_int64()
        lib.mr_store_next_expiry(self._h(), byref(t))
        return t.value or None
