/* SPDX-License-Identifier: MIT */
/*
 * Pod reconcile: one spec, applied through the link, wg and fw modules, each
 * of which changes only what differs. The order matters: the interface must
 * exist before WireGuard can be configured, and the firewall comes last so a
 * pod whose interface could not be made leaves no half-installed rules.
 */
#include "nl.h" /* mr__log */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <myrelay/fw.h>
#include <myrelay/link.h>
#include <myrelay/name.h>
#include <myrelay/pod.h>

struct mr_pod_spec {
	char ifname[MR_NAME_IFNAMSIZ];
	mr_wg_device *wg;
	mr_prefix addrs[MR_POD_ADDRESSES_MAX];
	size_t n_addrs;
	uint32_t mtu;
	uint32_t options;
	bool uplinks_set;
	char uplinks[MR_POD_UPLINKS_MAX][MR_NAME_IFNAMSIZ];
	size_t n_uplinks;
};

/* The pod options are the firewall's options: keep them in step. */
_Static_assert(MR_POD_OPT_INTRA_POD == MR_FW_OPT_INTRA_POD, "pod/fw option bits differ");
_Static_assert(MR_POD_OPT_DNS == MR_FW_OPT_DNS, "pod/fw option bits differ");

/* Re-raise the error of a step with the pod and the step named in front. */
static int step_error(int rc, const char *ifname, const char *step)
{
	char detail[400];

	snprintf(detail, sizeof(detail), "%s", mr_error_message());
	return mr__error_set(rc, "pod %s: %s: %s", ifname, step, detail);
}

MR_API int mr_pod_spec_new(mr_pod_spec **out, const char *ifname)
{
	mr_pod_spec *spec;
	int rc;

	if (!out)
		return mr__error_set(MR_EINVAL, "pod spec: output is NULL");
	rc = mr_name_validate_interface(ifname);
	if (rc < 0)
		return rc;
	spec = calloc(1, sizeof(*spec));
	if (!spec)
		return mr__error_set(MR_ENOMEM, "pod spec: out of memory");
	rc = mr_wg_device_new(&spec->wg);
	if (rc < 0) {
		free(spec);
		return rc;
	}
	snprintf(spec->ifname, sizeof(spec->ifname), "%s", ifname);
	spec->mtu = MR_POD_MTU_DEFAULT;
	spec->options = MR_POD_OPT_DEFAULT;
	*out = spec;
	return 0;
}

MR_API void mr_pod_spec_free(mr_pod_spec *spec)
{
	if (!spec)
		return;
	mr_wg_device_free(spec->wg); /* wipes the private and preshared keys */
	free(spec);
}

MR_API const char *mr_pod_spec_get_ifname(const mr_pod_spec *spec)
{
	return spec ? spec->ifname : NULL;
}

MR_API int mr_pod_spec_set_private_key(mr_pod_spec *spec, const mr_key *key)
{
	if (!spec || !key)
		return mr__error_set(MR_EINVAL, "pod spec: NULL argument");
	return mr_wg_device_set_private_key(spec->wg, key);
}

MR_API int mr_pod_spec_set_listen_port(mr_pod_spec *spec, uint32_t port)
{
	if (!spec)
		return mr__error_set(MR_EINVAL, "pod spec: NULL argument");
	if (port == 0 || port > 65535)
		return mr__error_set(MR_EINVAL, "pod %s: listen port %u: expected 1-65535",
				     spec->ifname, port);
	return mr_wg_device_set_listen_port(spec->wg, port);
}

MR_API int mr_pod_spec_set_mtu(mr_pod_spec *spec, uint32_t mtu)
{
	if (!spec)
		return mr__error_set(MR_EINVAL, "pod spec: NULL argument");
	if (mtu < 1280 || mtu > 65535)
		return mr__error_set(MR_EINVAL, "pod %s: MTU %u: expected 1280-65535", spec->ifname,
				     mtu);
	spec->mtu = mtu;
	return 0;
}

MR_API int mr_pod_spec_add_address(mr_pod_spec *spec, const mr_prefix *address)
{
	char text[MR_CIDR_STRLEN], other[MR_CIDR_STRLEN];
	mr_prefix net;
	unsigned max;

	if (!spec || !address)
		return mr__error_set(MR_EINVAL, "pod spec: NULL argument");
	if (address->family != MR_CIDR_INET && address->family != MR_CIDR_INET6)
		return mr__error_set(MR_EINVAL, "pod %s: address: unknown family %u", spec->ifname,
				     address->family);
	max = address->family == MR_CIDR_INET ? 32 : 128;
	if (mr_cidr_format(text, sizeof(text), address) < 0)
		return mr__error_set(MR_EINVAL, "pod %s: address: malformed", spec->ifname);
	/* A subnet needs room for the gateway and at least one device. */
	if (address->len < 1 || address->len > max - 2)
		return mr__error_set(MR_EINVAL, "pod %s: address %s: prefix length must be 1-%u",
				     spec->ifname, text, max - 2);
	mr_cidr_network(&net, address);
	net.len = max;
	if (!memcmp(net.addr, address->addr, sizeof(net.addr)))
		return mr__error_set(MR_EINVAL, "pod %s: address %s is the subnet's network "
				     "address, not a gateway", spec->ifname, text);
	if (address->family == MR_CIDR_INET) {
		uint32_t a = (uint32_t)address->addr[0] << 24 | (uint32_t)address->addr[1] << 16 |
			     (uint32_t)address->addr[2] << 8 | address->addr[3];
		uint32_t hostmask = address->len ? (1u << (32 - address->len)) - 1 : 0xffffffffu;

		if ((a & hostmask) == hostmask)
			return mr__error_set(MR_EINVAL, "pod %s: address %s is the subnet's broadcast "
					     "address", spec->ifname, text);
	}
	if (spec->n_addrs >= MR_POD_ADDRESSES_MAX)
		return mr__error_set(MR_EINVAL, "pod %s: more than %d addresses", spec->ifname,
				     MR_POD_ADDRESSES_MAX);
	mr_cidr_network(&net, address);
	for (size_t i = 0; i < spec->n_addrs; i++) {
		mr_prefix onet;

		mr_cidr_network(&onet, &spec->addrs[i]);
		if (mr_cidr_overlaps(&net, &onet)) {
			mr_cidr_format(other, sizeof(other), &spec->addrs[i]);
			return mr__error_set(MR_EINVAL, "pod %s: address %s overlaps %s", spec->ifname,
					     text, other);
		}
	}
	spec->addrs[spec->n_addrs++] = *address;
	return 0;
}

MR_API int mr_pod_spec_set_options(mr_pod_spec *spec, uint32_t options)
{
	if (!spec)
		return mr__error_set(MR_EINVAL, "pod spec: NULL argument");
	if (options & ~(MR_POD_OPT_INTRA_POD | MR_POD_OPT_DNS))
		return mr__error_set(MR_EINVAL, "pod %s: unknown option bits 0x%x", spec->ifname,
				     options & ~(MR_POD_OPT_INTRA_POD | MR_POD_OPT_DNS));
	spec->options = options;
	return 0;
}

MR_API int mr_pod_spec_set_uplinks(mr_pod_spec *spec, const char *const *names, size_t count)
{
	if (!spec || (count && !names))
		return mr__error_set(MR_EINVAL, "pod spec: NULL argument");
	if (count > MR_POD_UPLINKS_MAX)
		return mr__error_set(MR_EINVAL, "pod %s: %zu uplinks, at most %d", spec->ifname,
				     count, MR_POD_UPLINKS_MAX);
	for (size_t i = 0; i < count; i++) {
		int rc = mr_name_validate_interface(names[i]);

		if (rc < 0)
			return step_error(rc, spec->ifname, "uplink");
		if (!strcmp(names[i], spec->ifname))
			return mr__error_set(MR_EINVAL, "pod %s: its own interface cannot be an "
					     "uplink", spec->ifname);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(names[i], names[j]))
				return mr__error_set(MR_EINVAL, "pod %s: uplink %s given twice",
						     spec->ifname, names[i]);
	}
	for (size_t i = 0; i < count; i++)
		snprintf(spec->uplinks[i], sizeof(spec->uplinks[i]), "%s", names[i]);
	spec->n_uplinks = count;
	spec->uplinks_set = true;
	return 0;
}

MR_API int mr_pod_spec_add_peer(mr_pod_spec *spec, const mr_key *public_key,
				const mr_key *preshared_key, const mr_prefix *allowed_ips,
				size_t count)
{
	mr_wg_peer *peer;
	mr_wg_device *trial = NULL;
	int rc;

	if (!spec || !public_key || (count && !allowed_ips))
		return mr__error_set(MR_EINVAL, "pod spec: NULL argument");
	if (count == 0)
		return mr__error_set(MR_EINVAL, "pod %s: a peer needs at least one allowed IP",
				     spec->ifname);
	/* Validate every field on a scratch device first, so a refused peer
	 * leaves the spec exactly as it was. */
	rc = mr_wg_device_new(&trial);
	if (rc < 0)
		return rc;
	rc = mr_wg_device_add_peer(trial, public_key, &peer);
	if (rc == 0 && preshared_key)
		rc = mr_wg_peer_set_preshared_key(peer, preshared_key);
	for (size_t i = 0; rc == 0 && i < count; i++)
		rc = mr_wg_peer_add_allowed_ip(peer, &allowed_ips[i]);
	mr_wg_device_free(trial);
	if (rc < 0)
		return step_error(rc, spec->ifname, "peer");
	if (mr_wg_device_find_peer(spec->wg, public_key))
		return mr__error_set(MR_EEXIST, "pod %s: a peer with this public key is already in "
				     "the spec", spec->ifname);

	rc = mr_wg_device_add_peer(spec->wg, public_key, &peer);
	if (rc < 0)
		return step_error(rc, spec->ifname, "peer");
	if (preshared_key)
		rc = mr_wg_peer_set_preshared_key(peer, preshared_key);
	for (size_t i = 0; rc == 0 && i < count; i++)
		rc = mr_wg_peer_add_allowed_ip(peer, &allowed_ips[i]);
	if (rc < 0) {
		/* Cannot happen after the trial run, short of memory: drop the
		 * half-built peer so the spec stays consistent. */
		mr_wg_peer_set_remove(peer, true);
		return step_error(rc, spec->ifname, "peer");
	}
	return 0;
}

MR_API size_t mr_pod_spec_peer_count(const mr_pod_spec *spec)
{
	return spec ? mr_wg_device_peer_count(spec->wg) : 0;
}

/* Every allowed IP of every peer must lie in one of the pod's subnets: a
 * device of this pod must not be able to claim another pod's addresses or
 * the whole internet as its source. */
static int check_peers_inside(const mr_pod_spec *spec)
{
	size_t n = mr_wg_device_peer_count(spec->wg);

	for (size_t i = 0; i < n; i++) {
		mr_wg_peer *peer = mr_wg_device_peer(spec->wg, i);
		size_t m = mr_wg_peer_allowed_ip_count(peer);

		if (mr_wg_peer_get_remove(peer))
			continue;
		for (size_t j = 0; j < m; j++) {
			mr_prefix ip;
			bool inside = false;

			mr_wg_peer_get_allowed_ip(peer, j, &ip);
			for (size_t k = 0; k < spec->n_addrs && !inside; k++) {
				mr_prefix net;

				mr_cidr_network(&net, &spec->addrs[k]);
				inside = mr_cidr_contains(&net, &ip);
			}
			if (!inside) {
				char text[MR_CIDR_STRLEN];

				mr_cidr_format(text, sizeof(text), &ip);
				return mr__error_set(MR_EINVAL, "pod %s: peer %zu: allowed IP %s is "
						     "outside the pod's subnets", spec->ifname, i,
						     text);
			}
		}
	}
	return 0;
}

static int build_fw(const mr_pod_spec *spec, mr_fw_pod **out)
{
	mr_fw_pod *fw;
	int rc = mr_fw_pod_new(&fw, spec->ifname);

	if (rc < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < spec->n_addrs; i++)
		rc = mr_fw_pod_add_subnet(fw, &spec->addrs[i]);
	if (rc == 0)
		rc = mr_fw_pod_set_listen_port(fw, mr_wg_device_get_listen_port(spec->wg));
	if (rc == 0)
		rc = mr_fw_pod_set_options(fw, spec->options);
	if (rc < 0) {
		mr_fw_pod_free(fw);
		return rc;
	}
	*out = fw;
	return 0;
}

static int use_kernel(mr_ctx *ctx, bool *out)
{
	int backend = mr_ctx_get_backend(ctx);

	if (backend == MR_BACKEND_KERNEL) {
		*out = true;
		return 0;
	}
	if (backend == MR_BACKEND_USERSPACE) {
		*out = false;
		return 0;
	}
	return mr_ctx_has_kernel_wireguard(ctx, out);
}

static int ensure_link(mr_ctx *ctx, const mr_pod_spec *spec, mr_pod_report *rep)
{
	bool exists = false, kernel = false;
	pid_t pid = 0;
	int rc;

	rc = mr_link_exists(ctx, spec->ifname, &exists);
	if (rc < 0 || exists)
		return rc;
	rc = use_kernel(ctx, &kernel);
	if (rc < 0)
		return rc;
	if (kernel) {
		rc = mr_link_create_wireguard(ctx, spec->ifname);
	} else {
		rc = mr_wg_start_userspace(ctx, spec->ifname, &pid);
		rep->userspace_pid = (int32_t)pid;
	}
	if (rc < 0)
		return rc;
	rep->link_created = 1;
	mr__log(ctx, MR_LOG_INFO, "pod %s: created the interface (%s)", spec->ifname,
		kernel ? "kernel" : "wireguard-go");
	return 0;
}

static int apply_link_state(mr_ctx *ctx, const mr_pod_spec *spec, mr_pod_report *rep)
{
	mr_link_list *list = NULL;
	uint32_t mtu = 0;
	bool up = false;
	size_t added = 0, removed = 0;
	int rc;

	rc = mr_link_get(ctx, spec->ifname, &list);
	if (rc < 0)
		return rc;
	rc = mr_link_list_info(list, 0, NULL, &mtu, &up, NULL);
	mr_link_list_free(list);
	if (rc < 0)
		return rc;
	if (mtu != spec->mtu) {
		rc = mr_link_set_mtu(ctx, spec->ifname, spec->mtu);
		if (rc < 0)
			return rc;
		rep->mtu_changed = 1;
	}
	rc = mr_link_set_addresses(ctx, spec->ifname, spec->addrs, spec->n_addrs, &added, &removed);
	if (rc < 0)
		return rc;
	rep->addresses_added = (uint32_t)added;
	rep->addresses_removed = (uint32_t)removed;
	if (!up) {
		rc = mr_link_set_up(ctx, spec->ifname, true);
		if (rc < 0)
			return rc;
		rep->up_changed = 1;
	}
	return 0;
}

MR_API int mr_pod_apply(mr_ctx *ctx, const mr_pod_spec *spec, mr_pod_report *out)
{
	mr_pod_report rep;
	mr_fw_pod *fw = NULL;
	const char *uplinks[MR_POD_UPLINKS_MAX];
	int rc;

	if (!ctx || !spec)
		return mr__error_set(MR_EINVAL, "pod apply: NULL argument");
	memset(&rep, 0, sizeof(rep));
	if (!mr_wg_device_has_private_key(spec->wg))
		return mr__error_set(MR_EINVAL, "pod %s: no private key", spec->ifname);
	if (!mr_wg_device_has_listen_port(spec->wg))
		return mr__error_set(MR_EINVAL, "pod %s: no listen port", spec->ifname);
	if (spec->n_addrs == 0)
		return mr__error_set(MR_EINVAL, "pod %s: no address", spec->ifname);
	rc = check_peers_inside(spec);
	if (rc < 0)
		return rc;
	/* The firewall spec is built (and validated) before anything changes. */
	rc = build_fw(spec, &fw);
	if (rc < 0)
		return step_error(rc, spec->ifname, "firewall");

	rc = ensure_link(ctx, spec, &rep);
	if (rc < 0) {
		rc = step_error(rc, spec->ifname, "interface");
		goto out;
	}
	rc = mr_wg_sync(ctx, spec->ifname, spec->wg, 0, &rep.peers);
	if (rc < 0) {
		rc = step_error(rc, spec->ifname, "wireguard");
		goto out;
	}
	rc = apply_link_state(ctx, spec, &rep);
	if (rc < 0) {
		rc = step_error(rc, spec->ifname, "interface");
		goto out;
	}
	if (spec->uplinks_set) {
		for (size_t i = 0; i < spec->n_uplinks; i++)
			uplinks[i] = spec->uplinks[i];
		rc = mr_fw_apply_pod(ctx, fw, uplinks, spec->n_uplinks);
	} else {
		rc = mr_fw_apply_pod_auto(ctx, fw);
	}
	if (rc < 0) {
		rc = step_error(rc, spec->ifname, "firewall");
		goto out;
	}
	mr__log(ctx, MR_LOG_DEBUG, "pod %s: peers +%u -%u ~%u =%u, addresses +%u -%u%s%s%s",
		spec->ifname, rep.peers.added, rep.peers.removed, rep.peers.updated,
		rep.peers.unchanged, rep.addresses_added, rep.addresses_removed,
		rep.link_created ? ", created" : "", rep.mtu_changed ? ", mtu" : "",
		rep.up_changed ? ", up" : "");
	if (out)
		*out = rep;
out:
	if (rc < 0 && rep.link_created) {
		/* A pod this call created must not outlive its failed apply. */
		char detail[512];

		snprintf(detail, sizeof(detail), "%s", mr_error_message());
		if (rep.userspace_pid > 0)
			mr_wg_stop_userspace(ctx, spec->ifname, rep.userspace_pid);
		else
			mr_link_delete(ctx, spec->ifname);
		mr__error_set(rc, "%s", detail);
	}
	mr_fw_pod_free(fw);
	return rc;
}

/* Drop every peer in one message before the interface goes: the kernel
 * frees the peers of a deleted link one by one, which took 18 s for 1,000
 * peers in the test VM, against 0.06 s for one replace-peers message. Best
 * effort: the interface may already be gone or not be WireGuard. */
static void flush_peers(mr_ctx *ctx, const char *ifname)
{
	mr_wg_device *empty;

	if (mr_wg_device_new(&empty) < 0)
		return;
	if (mr_wg_device_set_replace_peers(empty, true) == 0)
		(void)mr_wg_set(ctx, ifname, empty);
	mr_wg_device_free(empty);
	mr_error_clear();
}

MR_API int mr_pod_teardown(mr_ctx *ctx, const char *ifname)
{
	int rc_fw, rc_link;

	if (!ctx)
		return mr__error_set(MR_EINVAL, "pod teardown: context is NULL");
	rc_fw = mr_name_validate_interface(ifname);
	if (rc_fw < 0)
		return rc_fw;
	rc_fw = mr_fw_remove_pod(ctx, ifname);
	if (rc_fw < 0 && rc_fw != MR_ENOTFOUND)
		return step_error(rc_fw, ifname, "firewall");
	flush_peers(ctx, ifname);
	/* Deleting the interface also ends a wireguard-go serving it: it exits
	 * when its TUN device disappears. */
	rc_link = mr_link_delete(ctx, ifname);
	if (rc_link < 0 && rc_link != MR_ENOTFOUND)
		return step_error(rc_link, ifname, "interface");
	if (rc_fw == MR_ENOTFOUND && rc_link == MR_ENOTFOUND)
		return mr__error_set(MR_ENOTFOUND, "pod %s: no interface and no firewall rules",
				     ifname);
	mr_error_clear();
	mr__log(ctx, MR_LOG_INFO, "pod %s: removed", ifname);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

MR_API int mr_pod_list(mr_ctx *ctx, char ***out, uint32_t **state, size_t *count)
{
	mr_link_list *links = NULL;
	char **fw = NULL, **names = NULL, **result = NULL;
	uint32_t *flags = NULL;
	size_t n_fw = 0, n_links, n = 0, bytes = 0;
	char *p;
	int rc;

	if (!ctx || !out || !count)
		return mr__error_set(MR_EINVAL, "pod list: NULL argument");
	rc = mr_link_dump(ctx, "wg-", &links);
	if (rc < 0)
		return rc;
	rc = mr_fw_list_pods(ctx, &fw, &n_fw);
	if (rc < 0)
		goto out;
	n_links = mr_link_list_count(links);
	names = calloc(n_links + n_fw + 1, sizeof(*names));
	if (!names) {
		rc = mr__error_set(MR_ENOMEM, "pod list: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_links; i++)
		if (mr_name_is_pod_interface(mr_link_list_name(links, i)))
			names[n++] = (char *)mr_link_list_name(links, i);
	for (size_t i = 0; i < n_fw; i++) {
		bool seen = false;

		for (size_t j = 0; j < n && !seen; j++)
			seen = !strcmp(names[j], fw[i]);
		if (!seen)
			names[n++] = fw[i];
	}
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++)
		bytes += strlen(names[i]) + 1;
	/* One allocation holds the array and its strings, like mr_fw_list_pods. */
	result = n ? malloc((n + 1) * sizeof(*result) + bytes) : NULL;
	flags = n && state ? calloc(n, sizeof(*flags)) : NULL;
	if (n && (!result || (state && !flags))) {
		free(result);
		free(flags);
		result = NULL;
		flags = NULL;
		rc = mr__error_set(MR_ENOMEM, "pod list: out of memory");
		goto out;
	}
	p = result ? (char *)(result + n + 1) : NULL;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]) + 1;

		memcpy(p, names[i], len);
		result[i] = p;
		p += len;
		if (flags) {
			for (size_t j = 0; j < n_links; j++)
				if (!strcmp(mr_link_list_name(links, j), names[i]))
					flags[i] |= MR_POD_HAS_LINK;
			for (size_t j = 0; j < n_fw; j++)
				if (!strcmp(fw[j], names[i]))
					flags[i] |= MR_POD_HAS_FIREWALL;
		}
	}
	if (result)
		result[n] = NULL;
	*out = result;
	if (state)
		*state = flags;
	*count = n;
	rc = 0;
out:
	free(names);
	mr_free(fw);
	mr_link_list_free(links);
	return rc;
}
