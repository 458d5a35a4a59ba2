/* SPDX-License-Identifier: MIT */
/*
 * A node's desired state and its report, as JSON (jansson for reading; the
 * writers are hand-made because every value they print is already a
 * validated key, prefix or label that needs no escaping, and because text
 * holding preshared keys must be wiped, which jansson's buffers never are).
 *
 * Validation reuses the pod module for the pod addresses (each pod's are
 * added to a scratch pod spec, by the very rules mr_pod_apply() applies);
 * peers are checked here with the key and cidr modules, and duplicates
 * and overlaps by sorting, so a pod of 65535 peers costs n log n. A state
 * that parses is a state whose pod specs can be built (the test suite
 * builds one for every pod it parses).
 */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <myrelay/cidr.h>
#include <myrelay/key.h>
#include <myrelay/name.h>
#include <myrelay/pod.h>
#include <myrelay/state.h>
#include <myrelay/wg.h>

#define PATH_SIZE 128
#define DETAIL_SIZE 400

struct mr_state_peer {
	mr_key public_key;
	mr_key preshared_key;
	bool has_psk;
	bool enabled;
	mr_prefix *ips;
	size_t n_ips;
};

struct mr_state_pod {
	char id[MR_STATE_ID_MAX + 1];
	char ifname[MR_NAME_IFNAMSIZ];
	uint32_t port;
	mr_prefix addrs[MR_POD_ADDRESSES_MAX];
	size_t n_addrs;
	mr_state_peer *peers;
	size_t n_peers;
};

struct mr_state {
	int64_t generation;
	mr_state_pod *pods;
	size_t n_pods;
};

/* --- small helpers -------------------------------------------------------- */

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "something else";
}

/* Re-raise the error another module just recorded, as invalid input at a
 * path ("pods[1].peers[3].public_key: <their detail>"). */
static int at_path(const char *path, int rc)
{
	char detail[DETAIL_SIZE];

	if (rc == MR_ENOMEM)
		return rc;
	snprintf(detail, sizeof(detail), "%s", mr_error_message());
	return mr__error_set(MR_EINVAL, "%s: %s", path, detail[0] ? detail : mr_strerror(rc));
}

static int wrong_type(const char *path, const char *want, const json_t *v)
{
	return mr__error_set(MR_EINVAL, "%s: expected %s, got %s", path, want, type_name(v));
}

/* A member name is quoted in errors only when it is short printable ASCII
 * without quotes: it is the sender's text. */
static bool quotable(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e || s[i] == '"' ||
		    s[i] == '\\' || i >= 40)
			return false;
	return i > 0;
}

/* Refuse (strict) or ignore members not in the list; check required ones. */
static int check_members(const json_t *obj, const char *path, const char *const *known,
			 size_t n_known, const char *const *required, size_t n_required,
			 bool strict)
{
	const char *key;
	json_t *v;

	if (strict) {
		json_object_foreach((json_t *)obj, key, v)
		{
			bool found = false;

			for (size_t i = 0; i < n_known && !found; i++)
				found = strcmp(key, known[i]) == 0;
			if (!found) {
				if (quotable(key))
					return mr__error_set(MR_EINVAL, "%s: unknown member \"%s\"",
							     path[0] ? path : "desired state", key);
				return mr__error_set(MR_EINVAL,
						     "%s: unknown member (name not printable)",
						     path[0] ? path : "desired state");
			}
		}
	}
	for (size_t i = 0; i < n_required; i++)
		if (!json_object_get(obj, required[i]))
			return mr__error_set(MR_EINVAL, "%s%s%s: missing", path, path[0] ? "." : "",
					     required[i]);
	return 0;
}

static int get_int(const json_t *v, const char *path, json_int_t min, json_int_t max,
		   json_int_t *out)
{
	json_int_t n;

	if (!json_is_integer(v))
		return mr__error_set(MR_EINVAL, "%s: expected an integer from %lld to %lld, got %s",
				     path, (long long)min, (long long)max, type_name(v));
	n = json_integer_value(v);
	if (n < min || n > max)
		return mr__error_set(MR_EINVAL, "%s: %lld is out of range (%lld to %lld)", path,
				     (long long)n, (long long)min, (long long)max);
	*out = n;
	return 0;
}

/* Network order bytes of the first and last address of a prefix, over 16
 * bytes for both families. */
static void prefix_range(const mr_prefix *p, uint8_t lo[16], uint8_t hi[16])
{
	unsigned bits = p->family == MR_CIDR_INET ? 32 : 128;

	memset(lo, 0, 16);
	memset(hi, 0, 16);
	for (unsigned i = 0; i < bits / 8; i++) {
		unsigned first = i * 8;
		uint8_t mask;

		if (p->len >= first + 8)
			mask = 0xff;
		else if (p->len <= first)
			mask = 0;
		else
			mask = (uint8_t)(0xff << (8 - (p->len - first)));
		lo[i] = p->addr[i] & mask;
		hi[i] = (uint8_t)(lo[i] | (uint8_t)~mask);
	}
}

/* An interval of addresses and where it came from, for overlap sweeps. */
struct span {
	uint8_t family;
	uint8_t lo[16];
	uint8_t hi[16];
	size_t a, b, c; /* path indices */
	mr_prefix prefix;
};

static int cmp_span(const void *x, const void *y)
{
	const struct span *a = x, *b = y;
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->lo, b->lo, 16);
	if (c)
		return c;
	/* Wider first, so that a container comes before what it contains. */
	return -memcmp(a->hi, b->hi, 16);
}

/* Sort spans and find the first overlap: *first and *second get the two
 * spans (second overlapping first); returns false when none overlap. */
static bool find_overlap(struct span *s, size_t n, const struct span **first,
			 const struct span **second)
{
	size_t widest = 0;

	qsort(s, n, sizeof(*s), cmp_span);
	for (size_t i = 1; i < n; i++) {
		if (s[i].family != s[widest].family) {
			widest = i;
			continue;
		}
		if (memcmp(s[i].lo, s[widest].hi, 16) <= 0) {
			*first = &s[widest];
			*second = &s[i];
			return true;
		}
		if (memcmp(s[i].hi, s[widest].hi, 16) > 0)
			widest = i;
	}
	return false;
}

/* --- desired state: parsing ------------------------------------------------ */

static void peer_clear(mr_state_peer *peer)
{
	mr_key_wipe(&peer->preshared_key);
	free(peer->ips);
	peer->ips = NULL;
}

static void pod_clear(mr_state_pod *pod)
{
	for (size_t j = 0; j < pod->n_peers; j++)
		peer_clear(&pod->peers[j]);
	free(pod->peers);
	pod->peers = NULL;
}

MR_API void mr_state_free(mr_state *state)
{
	if (!state)
		return;
	for (size_t i = 0; i < state->n_pods; i++)
		pod_clear(&state->pods[i]);
	free(state->pods);
	free(state);
}

/* The jansson tree holds the preshared keys as strings: overwrite them
 * before the tree is freed (jansson frees without wiping). */
static void wipe_tree_secrets(json_t *root)
{
	json_t *pods = json_object_get(root, "pods"), *pod, *peer, *psk;
	size_t i, j;

	if (!json_is_array(pods))
		return;
	json_array_foreach(pods, i, pod)
	{
		json_array_foreach(json_object_get(pod, "peers"), j, peer)
		{
			psk = json_object_get(peer, "preshared_key");
			if (json_is_string(psk))
				mr__wipe((char *)json_string_value(psk), json_string_length(psk));
		}
	}
}

static const char *const pod_known[] = {"id", "interface", "listen_port", "addresses", "peers"};
static const char *const pod_required[] = {"id", "interface", "listen_port", "addresses"};
static const char *const peer_known[] = {"public_key", "allowed_ips", "preshared_key", "enabled"};
static const char *const peer_required[] = {"public_key", "allowed_ips"};
static const char *const top_known[] = {"generation", "pods"};

/* The path of a peer's member, made only when an error needs it: a node
 * with many thousand peers would otherwise format as many strings. */
static const char *peer_path(char *buf, size_t size, size_t i, size_t j, const char *member)
{
	snprintf(buf, size, "pods[%zu].peers[%zu]%s%s", i, j, member[0] ? "." : "", member);
	return buf;
}

static int parse_peer(const json_t *v, size_t i, size_t j, bool strict, mr_state_pod *pod,
		      mr_state_peer *peer)
{
	char path[PATH_SIZE];
	const json_t *ips, *psk, *enabled, *key;
	json_t *item;
	size_t k;
	int rc;

	if (!json_is_object(v))
		return wrong_type(peer_path(path, sizeof(path), i, j, ""), "an object", v);
	if (strict || !json_object_get(v, "public_key") || !json_object_get(v, "allowed_ips")) {
		rc = check_members(v, peer_path(path, sizeof(path), i, j, ""), peer_known,
				   MR_ARRAY_SIZE(peer_known), peer_required,
				   MR_ARRAY_SIZE(peer_required), strict);
		if (rc < 0)
			return rc;
	}

	key = json_object_get(v, "public_key");
	if (!json_is_string(key))
		return wrong_type(peer_path(path, sizeof(path), i, j, "public_key"), "a string",
				  key);
	rc = mr_key_public_from_base64(&peer->public_key, json_string_value(key));
	if (rc < 0)
		return at_path(peer_path(path, sizeof(path), i, j, "public_key"), rc);

	psk = json_object_get(v, "preshared_key");
	if (psk && !json_is_null(psk)) {
		if (!json_is_string(psk))
			return wrong_type(peer_path(path, sizeof(path), i, j, "preshared_key"),
					  "a string or null", psk);
		rc = mr_key_from_base64(&peer->preshared_key, json_string_value(psk));
		if (rc < 0)
			return at_path(peer_path(path, sizeof(path), i, j, "preshared_key"), rc);
		if (mr_key_is_zero(&peer->preshared_key))
			return mr__error_set(MR_EINVAL,
					     "%s: the all-zero key means no key: leave "
					     "the member out",
					     peer_path(path, sizeof(path), i, j, "preshared_key"));
		peer->has_psk = true;
	}

	enabled = json_object_get(v, "enabled");
	peer->enabled = true;
	if (enabled) {
		if (!json_is_boolean(enabled))
			return wrong_type(peer_path(path, sizeof(path), i, j, "enabled"),
					  "a boolean", enabled);
		peer->enabled = json_is_true(enabled);
	}

	ips = json_object_get(v, "allowed_ips");
	if (!json_is_array(ips))
		return wrong_type(peer_path(path, sizeof(path), i, j, "allowed_ips"), "an array",
				  ips);
	if (json_array_size(ips) == 0)
		return mr__error_set(MR_EINVAL, "%s: a peer needs at least one allowed IP",
				     peer_path(path, sizeof(path), i, j, "allowed_ips"));
	if (json_array_size(ips) > MR_STATE_ALLOWED_IPS_MAX)
		return mr__error_set(MR_EINVAL, "%s: %zu allowed IPs, at most %d",
				     peer_path(path, sizeof(path), i, j, "allowed_ips"),
				     json_array_size(ips), MR_STATE_ALLOWED_IPS_MAX);
	peer->ips = calloc(json_array_size(ips), sizeof(*peer->ips));
	if (!peer->ips)
		return mr__error_set(MR_ENOMEM, "desired state: out of memory");
	json_array_foreach(ips, k, item)
	{
		char member[48];
		mr_prefix *p = &peer->ips[k];
		bool inside = false;

		if (!json_is_string(item) || mr_cidr_parse(p, json_string_value(item)) < 0) {
			snprintf(member, sizeof(member), "allowed_ips[%zu]", k);
			peer_path(path, sizeof(path), i, j, member);
			if (!json_is_string(item))
				return wrong_type(path, "a string", item);
			return at_path(path, MR_EINVAL);
		}
		peer->n_ips++;
		for (size_t a = 0; a < pod->n_addrs && !inside; a++) {
			mr_prefix net;

			mr_cidr_network(&net, &pod->addrs[a]);
			inside = mr_cidr_contains(&net, p);
		}
		if (!inside) {
			char text[MR_CIDR_STRLEN];

			snprintf(member, sizeof(member), "allowed_ips[%zu]", k);
			mr_cidr_format(text, sizeof(text), p);
			return mr__error_set(MR_EINVAL, "%s: %s is outside the pod's subnets",
					     peer_path(path, sizeof(path), i, j, member), text);
		}
	}
	return 0;
}

static int cmp_peer_key(const void *a, const void *b)
{
	return memcmp((*(const mr_state_peer *const *)a)->public_key.bytes,
		      (*(const mr_state_peer *const *)b)->public_key.bytes, MR_KEY_LEN);
}

/* Two peers of a pod with one key would be one WireGuard peer. */
static int check_peer_keys(const mr_state_pod *pod, size_t pod_index)
{
	const mr_state_peer **v;
	int rc = 0;

	if (pod->n_peers < 2)
		return 0;
	v = malloc(pod->n_peers * sizeof(*v));
	if (!v)
		return mr__error_set(MR_ENOMEM, "desired state: out of memory");
	for (size_t j = 0; j < pod->n_peers; j++)
		v[j] = &pod->peers[j];
	qsort(v, pod->n_peers, sizeof(*v), cmp_peer_key);
	for (size_t j = 1; j < pod->n_peers && rc == 0; j++)
		if (memcmp(v[j]->public_key.bytes, v[j - 1]->public_key.bytes, MR_KEY_LEN) == 0) {
			size_t x = (size_t)(v[j - 1] - pod->peers), y = (size_t)(v[j] - pod->peers);

			rc = mr__error_set(MR_EINVAL,
					   "pods[%zu].peers[%zu].public_key: the same as "
					   "pods[%zu].peers[%zu]'s",
					   pod_index, x > y ? x : y, pod_index, x > y ? y : x);
		}
	free(v);
	return rc;
}

/* Allowed IPs of two peers of one pod must not overlap: WireGuard would
 * silently route the shared addresses to whichever peer came last. */
static int check_peer_overlaps(const mr_state_pod *pod, size_t pod_index)
{
	const struct span *a, *b;
	struct span *spans;
	size_t n = 0, total = 0;
	int rc = 0;

	for (size_t j = 0; j < pod->n_peers; j++)
		total += pod->peers[j].n_ips;
	if (total < 2)
		return 0;
	spans = malloc(total * sizeof(*spans));
	if (!spans)
		return mr__error_set(MR_ENOMEM, "desired state: out of memory");
	for (size_t j = 0; j < pod->n_peers; j++)
		for (size_t k = 0; k < pod->peers[j].n_ips; k++) {
			struct span *s = &spans[n++];

			s->prefix = pod->peers[j].ips[k];
			s->family = s->prefix.family;
			prefix_range(&s->prefix, s->lo, s->hi);
			s->a = pod_index;
			s->b = j;
			s->c = k;
		}
	if (find_overlap(spans, n, &a, &b)) {
		const struct span *later = a->b > b->b || (a->b == b->b && a->c > b->c) ? a : b;
		const struct span *earlier = later == a ? b : a;
		char t1[MR_CIDR_STRLEN], t2[MR_CIDR_STRLEN];

		mr_cidr_format(t1, sizeof(t1), &later->prefix);
		mr_cidr_format(t2, sizeof(t2), &earlier->prefix);
		rc = mr__error_set(MR_EINVAL,
				   "pods[%zu].peers[%zu].allowed_ips[%zu]: %s overlaps %s of "
				   "pods[%zu].peers[%zu]",
				   pod_index, later->b, later->c, t1, t2, pod_index, earlier->b);
	}
	free(spans);
	return rc;
}

static int parse_pod(const json_t *v, size_t i, bool strict, mr_state_pod *pod)
{
	char path[PATH_SIZE], sub[PATH_SIZE + 32];
	const json_t *id, *ifname, *port, *addrs, *peers;
	mr_pod_spec *scratch = NULL;
	json_int_t n;
	json_t *item;
	size_t k;
	int rc;

	snprintf(path, sizeof(path), "pods[%zu]", i);
	if (!json_is_object(v))
		return wrong_type(path, "an object", v);
	rc = check_members(v, path, pod_known, MR_ARRAY_SIZE(pod_known), pod_required,
			   MR_ARRAY_SIZE(pod_required), strict);
	if (rc < 0)
		return rc;

	id = json_object_get(v, "id");
	snprintf(sub, sizeof(sub), "%s.id", path);
	if (!json_is_string(id))
		return wrong_type(sub, "a string", id);
	rc = mr_name_validate_label(json_string_value(id));
	if (rc < 0)
		return at_path(sub, rc);
	snprintf(pod->id, sizeof(pod->id), "%s", json_string_value(id));

	ifname = json_object_get(v, "interface");
	snprintf(sub, sizeof(sub), "%s.interface", path);
	if (!json_is_string(ifname))
		return wrong_type(sub, "a string", ifname);
	rc = mr_name_validate_interface(json_string_value(ifname));
	if (rc < 0)
		return at_path(sub, rc);
	/* Only names of the pod form: the agent owns "wg-" links only, and a
	 * state must never be able to name eth0. */
	if (!mr_name_is_pod_interface(json_string_value(ifname)))
		return mr__error_set(MR_EINVAL,
				     "%s: not a pod interface name (\"wg-\" and 6 "
				     "lowercase hex digits)",
				     sub);
	snprintf(pod->ifname, sizeof(pod->ifname), "%s", json_string_value(ifname));

	port = json_object_get(v, "listen_port");
	snprintf(sub, sizeof(sub), "%s.listen_port", path);
	rc = get_int(port, sub, 1, 65535, &n);
	if (rc < 0)
		return rc;
	pod->port = (uint32_t)n;

	rc = mr_pod_spec_new(&scratch, pod->ifname);
	if (rc < 0)
		return at_path(path, rc);

	addrs = json_object_get(v, "addresses");
	snprintf(sub, sizeof(sub), "%s.addresses", path);
	if (!json_is_array(addrs)) {
		rc = wrong_type(sub, "an array", addrs);
		goto out;
	}
	if (json_array_size(addrs) == 0 || json_array_size(addrs) > MR_POD_ADDRESSES_MAX) {
		rc = mr__error_set(MR_EINVAL, "%s: %zu addresses, expected 1 to %d", sub,
				   json_array_size(addrs), MR_POD_ADDRESSES_MAX);
		goto out;
	}
	json_array_foreach(addrs, k, item)
	{
		snprintf(sub, sizeof(sub), "%s.addresses[%zu]", path, k);
		if (!json_is_string(item)) {
			rc = wrong_type(sub, "a string", item);
			goto out;
		}
		rc = mr_cidr_parse_interface(&pod->addrs[k], json_string_value(item));
		if (rc == 0)
			rc = mr_pod_spec_add_address(scratch, &pod->addrs[k]);
		if (rc < 0) {
			rc = at_path(sub, rc);
			goto out;
		}
		pod->n_addrs++;
	}

	peers = json_object_get(v, "peers");
	if (peers && !json_is_array(peers)) {
		snprintf(sub, sizeof(sub), "%s.peers", path);
		rc = wrong_type(sub, "an array", peers);
		goto out;
	}
	if (peers && json_array_size(peers) > MR_STATE_PEERS_MAX) {
		rc = mr__error_set(MR_ETOOBIG, "%s.peers: %zu peers, at most %d", path,
				   json_array_size(peers), MR_STATE_PEERS_MAX);
		goto out;
	}
	if (peers && json_array_size(peers)) {
		pod->peers = calloc(json_array_size(peers), sizeof(*pod->peers));
		if (!pod->peers) {
			rc = mr__error_set(MR_ENOMEM, "desired state: out of memory");
			goto out;
		}
	}
	json_array_foreach(peers, k, item)
	{
		/* Counted first so that a half-parsed peer is freed too. */
		pod->n_peers++;
		rc = parse_peer(item, i, k, strict, pod, &pod->peers[k]);
		if (rc < 0)
			goto out;
	}
	rc = check_peer_keys(pod, i);
	if (rc == 0)
		rc = check_peer_overlaps(pod, i);
out:
	mr_pod_spec_free(scratch);
	return rc;
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Two pods with the same id or interface: sort pointers to the names (they
 * point into the pods, so the pod indices can be recovered). */
static int check_unique_names(const mr_state *st, bool interfaces)
{
	size_t n = st->n_pods;
	const char **v = malloc(n * sizeof(*v));
	int rc = 0;

	if (!v)
		return mr__error_set(MR_ENOMEM, "desired state: out of memory");
	for (size_t i = 0; i < n; i++)
		v[i] = interfaces ? st->pods[i].ifname : st->pods[i].id;
	qsort(v, n, sizeof(*v), cmp_str_ptr);
	for (size_t i = 1; i < n && rc == 0; i++) {
		size_t x, y;

		if (strcmp(v[i], v[i - 1]) != 0)
			continue;
		/* Recover the pod indices from the pointers. */
		x = (size_t)((const char *)v[i - 1] - (const char *)st->pods) / sizeof(*st->pods);
		y = (size_t)((const char *)v[i] - (const char *)st->pods) / sizeof(*st->pods);
		if (x > y) {
			size_t t = x;

			x = y;
			y = t;
		}
		rc = mr__error_set(MR_EINVAL, "pods[%zu].%s: the same as pods[%zu]'s", y,
				   interfaces ? "interface" : "id", x);
	}
	free(v);
	return rc;
}

/* Pods must differ in id, interface and listen port, and their subnets must
 * not overlap (the firewall would refuse the second pod anyway, but later
 * and with a less useful message). */
static int check_pods(const mr_state *st)
{
	size_t n = st->n_pods, n_spans = 0;
	const struct span *a, *b;
	struct span *spans;
	uint8_t *seen;
	int rc;

	if (n < 2)
		return 0;
	rc = check_unique_names(st, false);
	if (rc == 0)
		rc = check_unique_names(st, true);
	if (rc < 0)
		return rc;

	seen = calloc(65536 / 8, 1);
	if (!seen)
		return mr__error_set(MR_ENOMEM, "desired state: out of memory");
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint32_t p = st->pods[i].port;

		if (seen[p / 8] & (1u << (p % 8))) {
			size_t first = 0;

			while (st->pods[first].port != p)
				first++;
			rc = mr__error_set(MR_EINVAL,
					   "pods[%zu].listen_port: %u is also pods[%zu]'s", i, p,
					   first);
		}
		seen[p / 8] |= (uint8_t)(1u << (p % 8));
	}
	free(seen);
	if (rc < 0)
		return rc;

	for (size_t i = 0; i < n; i++)
		n_spans += st->pods[i].n_addrs;
	spans = malloc(n_spans * sizeof(*spans));
	if (!spans)
		return mr__error_set(MR_ENOMEM, "desired state: out of memory");
	n_spans = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < st->pods[i].n_addrs; k++) {
			struct span *s = &spans[n_spans++];

			mr_cidr_network(&s->prefix, &st->pods[i].addrs[k]);
			s->family = s->prefix.family;
			prefix_range(&s->prefix, s->lo, s->hi);
			s->a = i;
			s->b = k;
		}
	if (find_overlap(spans, n_spans, &a, &b)) {
		const struct span *later = a->a > b->a ? a : b, *earlier = later == a ? b : a;
		char t1[MR_CIDR_STRLEN], t2[MR_CIDR_STRLEN];

		mr_cidr_format(t1, sizeof(t1), &later->prefix);
		mr_cidr_format(t2, sizeof(t2), &earlier->prefix);
		rc = mr__error_set(MR_EINVAL,
				   "pods[%zu].addresses[%zu]: subnet %s overlaps %s of "
				   "pods[%zu]",
				   later->a, later->b, t1, t2, earlier->a);
	}
	free(spans);
	return rc;
}

static int parse_root(const json_t *root, bool strict, mr_state *st)
{
	const json_t *gen, *pods;
	json_int_t n;
	json_t *item;
	size_t i;
	int rc;

	if (!json_is_object(root))
		return wrong_type("desired state", "a JSON object", root);
	rc = check_members(root, "", top_known, MR_ARRAY_SIZE(top_known), top_known,
			   MR_ARRAY_SIZE(top_known), strict);
	if (rc < 0)
		return rc;
	gen = json_object_get(root, "generation");
	rc = get_int(gen, "generation", 0, INT64_MAX, &n);
	if (rc < 0)
		return rc;
	st->generation = (int64_t)n;
	pods = json_object_get(root, "pods");
	if (!json_is_array(pods))
		return wrong_type("pods", "an array", pods);
	if (json_array_size(pods) > MR_STATE_PODS_MAX)
		return mr__error_set(MR_ETOOBIG, "pods: %zu pods, at most %d",
				     json_array_size(pods), MR_STATE_PODS_MAX);
	if (json_array_size(pods)) {
		st->pods = calloc(json_array_size(pods), sizeof(*st->pods));
		if (!st->pods)
			return mr__error_set(MR_ENOMEM, "desired state: out of memory");
	}
	json_array_foreach(pods, i, item)
	{
		st->n_pods++;
		rc = parse_pod(item, i, strict, &st->pods[i]);
		if (rc < 0)
			return rc;
	}
	return check_pods(st);
}

MR_API int mr_state_parse(mr_state **out, const char *text, size_t len, uint32_t flags)
{
	json_error_t jerr;
	mr_state *st;
	json_t *root;
	int rc;

	if (!out || !text)
		return mr__error_set(MR_EINVAL, "desired state: %s is NULL",
				     out ? "text" : "output");
	if (flags & ~MR_STATE_STRICT)
		return mr__error_set(MR_EINVAL, "desired state: unknown flags 0x%x",
				     flags & ~MR_STATE_STRICT);
	if (len > MR_STATE_TEXT_MAX)
		return mr__error_set(MR_ETOOBIG, "desired state: %zu bytes, at most %u", len,
				     MR_STATE_TEXT_MAX);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		/* jansson ends its message with the offending token ("near
		 * '...'"), which may be part of a key: never repeat it. */
		char *near = strstr(jerr.text, " near ");

		if (near)
			*near = '\0';
		return mr__error_set(MR_EINVAL,
				     "desired state: invalid JSON at line %d, column %d: %s",
				     jerr.line, jerr.column, jerr.text);
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		rc = mr__error_set(MR_ENOMEM, "desired state: out of memory");
		goto out;
	}
	rc = parse_root(root, flags & MR_STATE_STRICT, st);
	if (rc < 0) {
		mr_state_free(st);
		goto out;
	}
	*out = st;
out:
	wipe_tree_secrets(root);
	json_decref(root);
	return rc;
}

/* --- desired state: getters ----------------------------------------------- */

MR_API int64_t mr_state_get_generation(const mr_state *state)
{
	return state ? state->generation : -1;
}

MR_API size_t mr_state_pod_count(const mr_state *state)
{
	return state ? state->n_pods : 0;
}

MR_API const mr_state_pod *mr_state_pod_at(const mr_state *state, size_t i)
{
	return state && i < state->n_pods ? &state->pods[i] : NULL;
}

MR_API const mr_state_pod *mr_state_find_pod(const mr_state *state, const char *id)
{
	if (!state || !id)
		return NULL;
	for (size_t i = 0; i < state->n_pods; i++)
		if (strcmp(state->pods[i].id, id) == 0)
			return &state->pods[i];
	return NULL;
}

MR_API const char *mr_state_pod_get_id(const mr_state_pod *pod)
{
	return pod ? pod->id : NULL;
}

MR_API const char *mr_state_pod_get_interface(const mr_state_pod *pod)
{
	return pod ? pod->ifname : NULL;
}

MR_API uint32_t mr_state_pod_get_listen_port(const mr_state_pod *pod)
{
	return pod ? pod->port : 0;
}

MR_API size_t mr_state_pod_address_count(const mr_state_pod *pod)
{
	return pod ? pod->n_addrs : 0;
}

MR_API int mr_state_pod_get_address(const mr_state_pod *pod, size_t i, mr_prefix *out)
{
	if (!pod || !out)
		return mr__error_set(MR_EINVAL, "pod address: NULL argument");
	if (i >= pod->n_addrs)
		return mr__error_set(MR_EINVAL, "pod address %zu: the pod has %zu", i,
				     pod->n_addrs);
	*out = pod->addrs[i];
	return 0;
}

MR_API size_t mr_state_pod_peer_count(const mr_state_pod *pod)
{
	return pod ? pod->n_peers : 0;
}

MR_API const mr_state_peer *mr_state_pod_peer_at(const mr_state_pod *pod, size_t i)
{
	return pod && i < pod->n_peers ? &pod->peers[i] : NULL;
}

MR_API int mr_state_peer_get_public_key(const mr_state_peer *peer, mr_key *out)
{
	if (!peer || !out)
		return mr__error_set(MR_EINVAL, "peer public key: NULL argument");
	*out = peer->public_key;
	return 0;
}

MR_API bool mr_state_peer_has_preshared_key(const mr_state_peer *peer)
{
	return peer && peer->has_psk;
}

MR_API int mr_state_peer_get_preshared_key(const mr_state_peer *peer, mr_key *out)
{
	if (!peer || !out)
		return mr__error_set(MR_EINVAL, "peer preshared key: NULL argument");
	if (!peer->has_psk)
		return mr__error_set(MR_ENOTFOUND, "peer preshared key: the peer has none");
	*out = peer->preshared_key;
	return 0;
}

MR_API bool mr_state_peer_get_enabled(const mr_state_peer *peer)
{
	return peer && peer->enabled;
}

MR_API size_t mr_state_peer_allowed_ip_count(const mr_state_peer *peer)
{
	return peer ? peer->n_ips : 0;
}

MR_API int mr_state_peer_get_allowed_ip(const mr_state_peer *peer, size_t i, mr_prefix *out)
{
	if (!peer || !out)
		return mr__error_set(MR_EINVAL, "peer allowed IP: NULL argument");
	if (i >= peer->n_ips)
		return mr__error_set(MR_EINVAL, "peer allowed IP %zu: the peer has %zu", i,
				     peer->n_ips);
	*out = peer->ips[i];
	return 0;
}

static bool peer_equal(const mr_state_peer *a, const mr_state_peer *b)
{
	if (!mr_key_equal(&a->public_key, &b->public_key) || a->enabled != b->enabled ||
	    a->has_psk != b->has_psk || a->n_ips != b->n_ips)
		return false;
	if (a->has_psk && !mr_key_equal(&a->preshared_key, &b->preshared_key))
		return false;
	for (size_t k = 0; k < a->n_ips; k++)
		if (a->ips[k].family != b->ips[k].family || a->ips[k].len != b->ips[k].len ||
		    memcmp(a->ips[k].addr, b->ips[k].addr, sizeof(a->ips[k].addr)) != 0)
			return false;
	return true;
}

MR_API bool mr_state_pod_equal(const mr_state_pod *a, const mr_state_pod *b)
{
	if (!a || !b)
		return false;
	if (strcmp(a->id, b->id) != 0 || strcmp(a->ifname, b->ifname) != 0 || a->port != b->port ||
	    a->n_addrs != b->n_addrs || a->n_peers != b->n_peers)
		return false;
	/* Parsed prefixes have their pad and unused bytes zero. */
	for (size_t k = 0; k < a->n_addrs; k++)
		if (memcmp(&a->addrs[k], &b->addrs[k], sizeof(a->addrs[k])) != 0)
			return false;
	for (size_t j = 0; j < a->n_peers; j++)
		if (!peer_equal(&a->peers[j], &b->peers[j]))
			return false;
	return true;
}

MR_API int mr_state_pod_spec(const mr_state_pod *pod, const mr_key *private_key, mr_pod_spec **out)
{
	mr_pod_spec *spec = NULL;
	int rc;

	if (!pod || !private_key || !out)
		return mr__error_set(MR_EINVAL, "pod spec from state: NULL argument");
	rc = mr_pod_spec_new(&spec, pod->ifname);
	if (rc == 0)
		rc = mr_pod_spec_set_private_key(spec, private_key);
	if (rc == 0)
		rc = mr_pod_spec_set_listen_port(spec, pod->port);
	for (size_t i = 0; rc == 0 && i < pod->n_addrs; i++)
		rc = mr_pod_spec_add_address(spec, &pod->addrs[i]);
	for (size_t j = 0; rc == 0 && j < pod->n_peers; j++) {
		const mr_state_peer *p = &pod->peers[j];

		if (!p->enabled)
			continue;
		rc = mr_pod_spec_add_peer(spec, &p->public_key,
					  p->has_psk ? &p->preshared_key : NULL, p->ips, p->n_ips);
	}
	if (rc < 0) {
		mr_pod_spec_free(spec);
		return rc;
	}
	*out = spec;
	return 0;
}

/* --- text building ---------------------------------------------------------- */

/* A growable buffer that never leaves a copy of its contents behind: it may
 * hold preshared keys. Allocation failure is sticky. */
struct buf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = malloc(cap);
		if (!p) {
			b->failed = true;
			return;
		}
		if (b->p) {
			memcpy(p, b->p, b->len);
			mr__wipe(b->p, b->cap);
			free(b->p);
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_fmt(struct buf *b, const char *fmt, ...) MR_PRINTF(2, 3);

static void buf_fmt(struct buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->failed = true;
		return;
	}
	buf_add(b, tmp, (size_t)n);
}

static void buf_key(struct buf *b, const mr_key *key)
{
	char text[MR_KEY_BASE64_SIZE];

	mr_key_to_base64(text, sizeof(text), key);
	buf_add(b, "\"", 1);
	buf_add(b, text, MR_KEY_BASE64_LEN);
	buf_add(b, "\"", 1);
	mr__wipe(text, sizeof(text));
}

static void buf_prefix(struct buf *b, const mr_prefix *p)
{
	char text[MR_CIDR_STRLEN];

	if (mr_cidr_format(text, sizeof(text), p) < 0) {
		b->failed = true;
		return;
	}
	buf_add(b, "\"", 1);
	buf_str(b, text);
	buf_add(b, "\"", 1);
}

static void buf_wipe_free(struct buf *b)
{
	if (b->p) {
		mr__wipe(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

MR_API int mr_state_format(const mr_state *state, char **out)
{
	struct buf b = {0};

	if (!state || !out)
		return mr__error_set(MR_EINVAL, "desired state format: NULL argument");
	buf_fmt(&b, "{\"generation\":%" PRId64 ",\"pods\":[", state->generation);
	for (size_t i = 0; i < state->n_pods; i++) {
		const mr_state_pod *pod = &state->pods[i];

		/* Ids and names are labels and interface names: nothing to escape. */
		buf_str(&b, i ? ",{\"id\":\"" : "{\"id\":\"");
		buf_str(&b, pod->id);
		buf_str(&b, "\",\"interface\":\"");
		buf_str(&b, pod->ifname);
		buf_fmt(&b, "\",\"listen_port\":%u,\"addresses\":[", pod->port);
		for (size_t k = 0; k < pod->n_addrs; k++) {
			if (k)
				buf_add(&b, ",", 1);
			buf_prefix(&b, &pod->addrs[k]);
		}
		buf_str(&b, "],\"peers\":[");
		for (size_t j = 0; j < pod->n_peers; j++) {
			const mr_state_peer *peer = &pod->peers[j];

			buf_str(&b, j ? ",{\"public_key\":" : "{\"public_key\":");
			buf_key(&b, &peer->public_key);
			buf_str(&b, ",\"allowed_ips\":[");
			for (size_t k = 0; k < peer->n_ips; k++) {
				if (k)
					buf_add(&b, ",", 1);
				buf_prefix(&b, &peer->ips[k]);
			}
			buf_str(&b, "]");
			if (peer->has_psk) {
				buf_str(&b, ",\"preshared_key\":");
				buf_key(&b, &peer->preshared_key);
			}
			buf_str(&b, peer->enabled ? ",\"enabled\":true}" : ",\"enabled\":false}");
		}
		buf_str(&b, "]}");
	}
	buf_str(&b, "]}");
	if (b.failed) {
		buf_wipe_free(&b);
		return mr__error_set(MR_ENOMEM, "desired state format: out of memory");
	}
	*out = b.p;
	return 0;
}

MR_API void mr_state_free_text(char *text)
{
	if (!text)
		return;
	mr__wipe(text, strlen(text));
	free(text);
}

/* --- reports ---------------------------------------------------------------- */

struct rpeer {
	mr_key key;
	uint64_t rx, tx;
	int64_t handshake;
};

struct rpod {
	char id[MR_STATE_ID_MAX + 1];
	bool has_key;
	mr_key key;
	char *error; /* NULL: "error": null */
	struct rpeer *peers;
	size_t n, cap;
};

struct mr_state_report {
	int64_t generation;
	struct rpod *pods;
	size_t n, cap;
};

MR_API int mr_state_report_new(mr_state_report **out, int64_t generation)
{
	mr_state_report *r;

	if (!out)
		return mr__error_set(MR_EINVAL, "report: output is NULL");
	if (generation < -1)
		return mr__error_set(
		    MR_EINVAL, "report: generation %" PRId64 " (expected -1 or more)", generation);
	r = calloc(1, sizeof(*r));
	if (!r)
		return mr__error_set(MR_ENOMEM, "report: out of memory");
	r->generation = generation;
	*out = r;
	return 0;
}

MR_API void mr_state_report_free(mr_state_report *report)
{
	if (!report)
		return;
	for (size_t i = 0; i < report->n; i++) {
		free(report->pods[i].error);
		free(report->pods[i].peers);
	}
	free(report->pods);
	free(report);
}

MR_API int mr_state_report_add_pod(mr_state_report *report, const char *pod_id,
				   const mr_key *public_key, const char *error)
{
	struct rpod *pod;
	int rc;

	if (!report || !pod_id)
		return mr__error_set(MR_EINVAL, "report: %s is NULL", report ? "pod id" : "report");
	rc = mr_name_validate_label(pod_id);
	if (rc < 0)
		return at_path("report pod id", rc);
	if (public_key && mr_key_is_zero(public_key))
		return mr__error_set(MR_EINVAL, "report pod %s: the public key is all zeros",
				     pod_id);
	if (error && !error[0])
		return mr__error_set(MR_EINVAL,
				     "report pod %s: empty error text (NULL means no "
				     "error)",
				     pod_id);
	if (report->n >= MR_STATE_PODS_MAX)
		return mr__error_set(MR_ETOOBIG, "report: more than %d pods", MR_STATE_PODS_MAX);
	if (report->n == report->cap) {
		size_t cap = report->cap ? report->cap * 2 : 8;
		struct rpod *p = realloc(report->pods, cap * sizeof(*p));

		if (!p)
			return mr__error_set(MR_ENOMEM, "report: out of memory");
		report->pods = p;
		report->cap = cap;
	}
	pod = &report->pods[report->n];
	memset(pod, 0, sizeof(*pod));
	snprintf(pod->id, sizeof(pod->id), "%s", pod_id);
	if (public_key) {
		pod->has_key = true;
		pod->key = *public_key;
	}
	if (error) {
		size_t n = strnlen(error, MR_STATE_ERROR_MAX);

		pod->error = malloc(n + 1);
		if (!pod->error)
			return mr__error_set(MR_ENOMEM, "report: out of memory");
		/* The server accepts printable ASCII only, and refuses the whole
		 * report otherwise: one odd byte must not cost every counter. */
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)error[i];

			pod->error[i] = c < 0x20 || c > 0x7e ? '?' : (char)c;
		}
		pod->error[n] = '\0';
	}
	report->n++;
	return 0;
}

MR_API int mr_state_report_add_peer(mr_state_report *report, const mr_key *public_key,
				    uint64_t rx_bytes, uint64_t tx_bytes, int64_t last_handshake)
{
	struct rpod *pod;

	if (!report || !public_key)
		return mr__error_set(MR_EINVAL, "report peer: NULL argument");
	if (report->n == 0)
		return mr__error_set(MR_EINVAL, "report peer: add a pod first");
	if (last_handshake < 0)
		return mr__error_set(MR_EINVAL, "report peer: negative last handshake %" PRId64,
				     last_handshake);
	if (mr_key_is_zero(public_key))
		return mr__error_set(MR_EINVAL, "report peer: the public key is all zeros");
	pod = &report->pods[report->n - 1];
	if (pod->n >= MR_STATE_PEERS_MAX)
		return mr__error_set(MR_ETOOBIG, "report pod %s: more than %d peers", pod->id,
				     MR_STATE_PEERS_MAX);
	if (pod->n == pod->cap) {
		size_t cap = pod->cap ? pod->cap * 2 : 16;
		struct rpeer *p = realloc(pod->peers, cap * sizeof(*p));

		if (!p)
			return mr__error_set(MR_ENOMEM, "report: out of memory");
		pod->peers = p;
		pod->cap = cap;
	}
	pod->peers[pod->n].key = *public_key;
	/* The server stores signed 64-bit counters. */
	pod->peers[pod->n].rx = rx_bytes > INT64_MAX ? INT64_MAX : rx_bytes;
	pod->peers[pod->n].tx = tx_bytes > INT64_MAX ? INT64_MAX : tx_bytes;
	pod->peers[pod->n].handshake = last_handshake;
	pod->n++;
	return 0;
}

MR_API int mr_state_report_add_device(mr_state_report *report, const mr_wg_device *device)
{
	size_t n;

	if (!report || !device)
		return mr__error_set(MR_EINVAL, "report device: NULL argument");
	n = mr_wg_device_peer_count(device);
	for (size_t i = 0; i < n; i++) {
		const mr_wg_peer *peer = mr_wg_device_peer(device, i);
		int64_t sec = 0;
		mr_key key;
		int rc;

		if (mr_wg_peer_get_public_key(peer, &key) < 0)
			continue;
		mr_wg_peer_get_last_handshake(peer, &sec, NULL);
		rc = mr_state_report_add_peer(report, &key, mr_wg_peer_get_rx_bytes(peer),
					      mr_wg_peer_get_tx_bytes(peer), sec > 0 ? sec : 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

MR_API size_t mr_state_report_pod_count(const mr_state_report *report)
{
	return report ? report->n : 0;
}

static int cmp_id_ptr(const void *a, const void *b)
{
	return strcmp((*(const struct rpod *const *)a)->id, (*(const struct rpod *const *)b)->id);
}

static int cmp_rpeer(const void *a, const void *b)
{
	return memcmp(((const struct rpeer *)a)->key.bytes, ((const struct rpeer *)b)->key.bytes,
		      MR_KEY_LEN);
}

/* A pod or a peer given twice would be counted twice by the server. */
static int check_report_duplicates(const mr_state_report *r)
{
	const struct rpod **byid;
	struct rpeer *tmp = NULL;
	size_t tmp_cap = 0;
	int rc = 0;

	if (r->n == 0)
		return 0;
	byid = malloc(r->n * sizeof(*byid));
	if (!byid)
		return mr__error_set(MR_ENOMEM, "report: out of memory");
	for (size_t i = 0; i < r->n; i++)
		byid[i] = &r->pods[i];
	qsort(byid, r->n, sizeof(*byid), cmp_id_ptr);
	for (size_t i = 1; i < r->n && rc == 0; i++)
		if (strcmp(byid[i]->id, byid[i - 1]->id) == 0)
			rc = mr__error_set(MR_EEXIST, "report: pod %s given twice", byid[i]->id);
	free(byid);
	for (size_t i = 0; i < r->n && rc == 0; i++) {
		const struct rpod *pod = &r->pods[i];

		if (pod->n < 2)
			continue;
		if (pod->n > tmp_cap) {
			struct rpeer *t = realloc(tmp, pod->n * sizeof(*t));

			if (!t) {
				rc = mr__error_set(MR_ENOMEM, "report: out of memory");
				break;
			}
			tmp = t;
			tmp_cap = pod->n;
		}
		memcpy(tmp, pod->peers, pod->n * sizeof(*tmp));
		qsort(tmp, pod->n, sizeof(*tmp), cmp_rpeer);
		for (size_t j = 1; j < pod->n && rc == 0; j++)
			if (memcmp(tmp[j].key.bytes, tmp[j - 1].key.bytes, MR_KEY_LEN) == 0)
				rc = mr__error_set(MR_EEXIST, "report pod %s: a peer given twice",
						   pod->id);
	}
	free(tmp);
	return rc;
}

/* Text of one pod's head ("{"id":...,"peers":[") in b; full adds the key
 * and the error, which only the first part of a pod carries. */
static void pod_head(struct buf *b, const struct rpod *pod, bool full)
{
	buf_str(b, "{\"id\":\"");
	buf_str(b, pod->id);
	buf_str(b, "\"");
	if (full) {
		if (pod->has_key) {
			buf_str(b, ",\"public_key\":");
			buf_key(b, &pod->key);
		}
		if (pod->error) {
			buf_str(b, ",\"error\":\"");
			/* Printable ASCII already: only quote and backslash need
			 * escaping. */
			for (const char *s = pod->error; *s; s++) {
				if (*s == '"' || *s == '\\')
					buf_add(b, "\\", 1);
				buf_add(b, s, 1);
			}
			buf_str(b, "\"");
		} else {
			buf_str(b, ",\"error\":null");
		}
	}
	buf_str(b, ",\"peers\":[");
}

static void peer_text(struct buf *b, const struct rpeer *p)
{
	buf_str(b, "{\"public_key\":");
	buf_key(b, &p->key);
	buf_fmt(b, ",\"rx_bytes\":%" PRIu64 ",\"tx_bytes\":%" PRIu64, p->rx, p->tx);
	if (p->handshake > 0)
		buf_fmt(b, ",\"last_handshake\":%" PRId64, p->handshake);
	buf_str(b, "}");
}

/* Parts are collected in one buffer, separated by NULs, then copied into
 * one allocation with the pointer array in front. */
struct parts {
	struct buf all;
	size_t count;
};

static void part_end(struct parts *ps, struct buf *cur)
{
	buf_str(cur, "]}");
	if (cur->failed) {
		ps->all.failed = true;
		return;
	}
	buf_add(&ps->all, cur->p, cur->len + 1); /* with its NUL */
	ps->count++;
	cur->len = 0;
	if (cur->p)
		cur->p[0] = '\0';
}

static void part_start(const mr_state_report *r, struct buf *cur)
{
	if (r->generation >= 0)
		buf_fmt(cur, "{\"generation\":%" PRId64 ",\"pods\":[", r->generation);
	else
		buf_str(cur, "{\"pods\":[");
}

MR_API int mr_state_report_encode(const mr_state_report *report, size_t max_bytes, char ***out,
				  size_t *count)
{
	struct parts ps = {{0}, 0};
	struct buf cur = {0}, head = {0}, one = {0};
	size_t pods_in_part = 0;
	char **result, *p;
	int rc;

	if (!report || !out || !count)
		return mr__error_set(MR_EINVAL, "report encode: NULL argument");
	if (max_bytes == 0)
		max_bytes = MR_STATE_REPORT_MAX;
	if (max_bytes < MR_STATE_REPORT_MIN)
		return mr__error_set(MR_EINVAL, "report encode: max_bytes %zu (at least %u)",
				     max_bytes, MR_STATE_REPORT_MIN);
	rc = check_report_duplicates(report);
	if (rc < 0)
		return rc;

	part_start(report, &cur);
	for (size_t i = 0; i < report->n && !cur.failed; i++) {
		const struct rpod *pod = &report->pods[i];
		bool first_of_pod = true;
		size_t j = 0;

		do {
			size_t sep = pods_in_part ? 1 : 0, peers_in_pod = 0;

			head.len = 0;
			pod_head(&head, pod, first_of_pod);
			one.len = 0;
			if (j < pod->n)
				peer_text(&one, &pod->peers[j]);
			/* The head, one peer (if any) and the closings must fit;
			 * otherwise this part is done. A fresh part always has
			 * room: MR_STATE_REPORT_MIN covers the largest head
			 * and peer. */
			if (pods_in_part &&
			    cur.len + sep + head.len + one.len + 2 + 2 > max_bytes) {
				part_end(&ps, &cur);
				part_start(report, &cur);
				pods_in_part = 0;
				sep = 0;
			}
			if (sep)
				buf_add(&cur, ",", 1);
			buf_add(&cur, head.p, head.len);
			pods_in_part++;
			first_of_pod = false;
			while (j < pod->n && !cur.failed) {
				one.len = 0;
				peer_text(&one, &pod->peers[j]);
				if (cur.len + (peers_in_pod ? 1 : 0) + one.len + 2 + 2 > max_bytes)
					break;
				if (peers_in_pod)
					buf_add(&cur, ",", 1);
				buf_add(&cur, one.p, one.len);
				peers_in_pod++;
				j++;
			}
			buf_str(&cur, "]}");
			if (j < pod->n) {
				/* More peers than fit: close this part, go on
				 * with the pod in the next. */
				part_end(&ps, &cur);
				part_start(report, &cur);
				pods_in_part = 0;
			}
		} while (j < pod->n && !cur.failed);
	}
	part_end(&ps, &cur);
	buf_wipe_free(&cur);
	buf_wipe_free(&head);
	buf_wipe_free(&one);
	if (ps.all.failed) {
		buf_wipe_free(&ps.all);
		return mr__error_set(MR_ENOMEM, "report encode: out of memory");
	}
	result = malloc((ps.count + 1) * sizeof(*result) + ps.all.len);
	if (!result) {
		buf_wipe_free(&ps.all);
		return mr__error_set(MR_ENOMEM, "report encode: out of memory");
	}
	p = (char *)(result + ps.count + 1);
	memcpy(p, ps.all.p, ps.all.len);
	for (size_t k = 0; k < ps.count; k++) {
		result[k] = p;
		p += strlen(p) + 1;
	}
	result[ps.count] = NULL;
	buf_wipe_free(&ps.all);
	*out = result;
	*count = ps.count;
	return 0;
}
