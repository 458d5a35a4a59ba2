/* SPDX-License-Identifier: MIT */
/*
 * wg_tool: drive the wg module through the public ABI of the shared library,
 * for tests that compare it with the real wg(8) and wireguard-go.
 *
 *   wg_tool [--backend auto|kernel|userspace] COMMAND ...
 *     setconf IF FILE     apply FILE like `wg setconf` (replace peers and
 *                         every peer's allowed IPs)
 *     addconf IF FILE     apply FILE like `wg addconf` (add / update); peer
 *                         keys Remove, UpdateOnly, ReplaceAllowedIPs = true
 *                         and interface key ReplacePeers = true set the flags
 *     sync IF FILE [--dry-run]
 *                         mr_wg_sync; prints "added=.. removed=.. updated=..
 *                         unchanged=.. device_changed=.. messages=.. bytes=.."
 *     dump IF             print like `wg show IF dump`
 *     handshake IF PUB    print "SEC NSEC" of a peer's last handshake
 *     start IF            mr_wg_start_userspace; prints the pid
 *     stop IF PID         mr_wg_stop_userspace
 *
 * FILE has the `wg setconf` format. Exit status: 0 ok, 1 failure, 2 bad
 * usage or input (the library's MR_EINVAL / MR_ETOOBIG / MR_EEXIST).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <myrelay/myrelay.h>

static const char *prog = "wg_tool";

static int fail(int rc, const char *what)
{
	fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, mr_error_message(), mr_strerror(rc));
	return rc == MR_EINVAL || rc == MR_ETOOBIG || rc == MR_EEXIST ? 2 : 1;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: %s [--backend auto|kernel|userspace] "
		"setconf|addconf|sync|dump|handshake|start|stop ...\n",
		prog);
	return 2;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	if (!*s || *end || v > 0xffffffffUL)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static bool is_true(const char *v)
{
	return strcmp(v, "true") == 0;
}

/* Read a wg(8) configuration file into dev. Returns 0 or an exit status. */
static int read_conf(const char *path, mr_wg_device *dev, bool replace_all)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	mr_wg_peer *peer = NULL;
	int section = 0, lineno = 0, rc = 0;

	if (!f) {
		perror(path);
		return 1;
	}
	if (replace_all)
		mr_wg_device_set_replace_peers(dev, true);
	while (fgets(line, sizeof(line), f)) {
		char *s, *eq, *key, *val, *hash;
		uint32_t u;
		mr_key k;

		lineno++;
		if ((hash = strchr(line, '#')))
			*hash = '\0';
		s = trim(line);
		if (!*s)
			continue;
		if (strcmp(s, "[Interface]") == 0) {
			section = 1;
			continue;
		}
		if (strcmp(s, "[Peer]") == 0) {
			section = 2;
			peer = NULL;
			continue;
		}
		eq = strchr(s, '=');
		if (!eq || !section) {
			fprintf(stderr, "%s: %s:%d: syntax error\n", prog, path, lineno);
			rc = 2;
			break;
		}
		*eq = '\0';
		key = trim(s);
		val = trim(eq + 1);
		if (section == 1) {
			if (strcasecmp(key, "PrivateKey") == 0) {
				rc = mr_key_from_base64(&k, val);
				if (rc == 0)
					rc = mr_wg_device_set_private_key(dev, &k);
				mr_key_wipe(&k);
			} else if (strcasecmp(key, "ListenPort") == 0) {
				rc = parse_u32(val, &u) < 0 ? MR_EINVAL
							    : mr_wg_device_set_listen_port(dev, u);
			} else if (strcasecmp(key, "FwMark") == 0) {
				if (strcmp(val, "off") == 0)
					u = 0;
				else if (parse_u32(val, &u) < 0) {
					rc = MR_EINVAL;
					goto check;
				}
				rc = mr_wg_device_set_fwmark(dev, u);
			} else if (strcasecmp(key, "ReplacePeers") == 0) {
				rc = mr_wg_device_set_replace_peers(dev, is_true(val));
			} else {
				rc = MR_EINVAL;
			}
		} else if (strcasecmp(key, "PublicKey") == 0) {
			rc = mr_key_public_from_base64(&k, val);
			if (rc == 0)
				rc = mr_wg_device_add_peer(dev, &k, &peer);
			if (rc == 0 && replace_all)
				rc = mr_wg_peer_set_replace_allowed_ips(peer, true);
		} else if (!peer) {
			rc = MR_EINVAL;
		} else if (strcasecmp(key, "PresharedKey") == 0) {
			rc = mr_key_from_base64(&k, val);
			if (rc == 0)
				rc = mr_wg_peer_set_preshared_key(peer, &k);
			mr_key_wipe(&k);
		} else if (strcasecmp(key, "Endpoint") == 0) {
			rc = mr_wg_peer_set_endpoint(peer, val);
		} else if (strcasecmp(key, "PersistentKeepalive") == 0) {
			if (strcmp(val, "off") == 0)
				u = 0;
			else if (parse_u32(val, &u) < 0) {
				rc = MR_EINVAL;
				goto check;
			}
			rc = mr_wg_peer_set_keepalive(peer, u);
		} else if (strcasecmp(key, "AllowedIPs") == 0) {
			char *save = NULL, *tok;

			for (tok = strtok_r(val, ",", &save); tok && rc == 0;
			     tok = strtok_r(NULL, ",", &save)) {
				mr_prefix p;

				rc = mr_cidr_parse(&p, trim(tok));
				if (rc == 0)
					rc = mr_wg_peer_add_allowed_ip(peer, &p);
			}
		} else if (strcasecmp(key, "Remove") == 0) {
			rc = mr_wg_peer_set_remove(peer, is_true(val));
		} else if (strcasecmp(key, "UpdateOnly") == 0) {
			rc = mr_wg_peer_set_update_only(peer, is_true(val));
		} else if (strcasecmp(key, "ReplaceAllowedIPs") == 0) {
			rc = mr_wg_peer_set_replace_allowed_ips(peer, is_true(val));
		} else {
			rc = MR_EINVAL;
		}
	check:
		if (rc < 0) {
			fprintf(stderr, "%s: %s:%d: %s: %s\n", prog, path, lineno, key,
				mr_error_last() ? mr_error_message() : "unknown key or bad value");
			rc = rc == MR_ETOOBIG || rc == MR_EINVAL || rc == MR_EEXIST ? 2 : 1;
			break;
		}
	}
	fclose(f);
	return rc;
}

static void key_text(char *out, const mr_key *k)
{
	mr_key_to_base64(out, MR_KEY_BASE64_SIZE, k);
}

static int dump(mr_ctx *ctx, const char *ifname)
{
	char priv[MR_KEY_BASE64_SIZE] = "(none)", pub[MR_KEY_BASE64_SIZE] = "(none)";
	mr_wg_device *dev;
	mr_key k;
	int rc;

	rc = mr_wg_get(ctx, ifname, &dev);
	if (rc < 0)
		return fail(rc, "get");
	if (mr_wg_device_get_private_key(dev, &k) == 0) {
		key_text(priv, &k);
		mr_key_wipe(&k);
		mr_wg_device_get_public_key(dev, &k);
		key_text(pub, &k);
	}
	printf("%s\t%s\t%u\t", priv, pub, mr_wg_device_get_listen_port(dev));
	if (mr_wg_device_get_fwmark(dev))
		printf("0x%x\n", mr_wg_device_get_fwmark(dev));
	else
		printf("off\n");
	for (size_t i = 0; i < mr_wg_device_peer_count(dev); i++) {
		mr_wg_peer *p = mr_wg_device_peer(dev, i);
		char b64[MR_KEY_BASE64_SIZE], ep[MR_WG_ENDPOINT_STRLEN] = "(none)";
		size_t n = mr_wg_peer_allowed_ip_count(p);
		int64_t sec;

		mr_wg_peer_get_public_key(p, &k);
		key_text(b64, &k);
		printf("%s\t", b64);
		if (mr_wg_peer_get_preshared_key(p, &k) == 0) {
			key_text(b64, &k);
			mr_key_wipe(&k);
			printf("%s\t", b64);
		} else {
			printf("(none)\t");
		}
		mr_wg_peer_get_endpoint(p, ep, sizeof(ep));
		printf("%s\t", ep);
		if (!n)
			printf("(none)");
		for (size_t j = 0; j < n; j++) {
			char a[MR_CIDR_STRLEN];
			mr_prefix pf;

			mr_wg_peer_get_allowed_ip(p, j, &pf);
			mr_cidr_format(a, sizeof(a), &pf);
			printf("%s%s", j ? "," : "", a);
		}
		mr_wg_peer_get_last_handshake(p, &sec, NULL);
		printf("\t%lld\t%llu\t%llu\t", (long long)sec,
		       (unsigned long long)mr_wg_peer_get_rx_bytes(p),
		       (unsigned long long)mr_wg_peer_get_tx_bytes(p));
		if (mr_wg_peer_get_keepalive(p))
			printf("%u\n", mr_wg_peer_get_keepalive(p));
		else
			printf("off\n");
	}
	mr_wg_device_free(dev);
	return 0;
}

static int handshake(mr_ctx *ctx, const char *ifname, const char *pub)
{
	mr_wg_device *dev;
	mr_wg_peer *p;
	int64_t sec, nsec;
	mr_key k;
	int rc;

	rc = mr_key_public_from_base64(&k, pub);
	if (rc < 0)
		return fail(rc, "public key");
	rc = mr_wg_get(ctx, ifname, &dev);
	if (rc < 0)
		return fail(rc, "get");
	p = mr_wg_device_find_peer(dev, &k);
	if (!p) {
		fprintf(stderr, "%s: no such peer\n", prog);
		mr_wg_device_free(dev);
		return 1;
	}
	mr_wg_peer_get_last_handshake(p, &sec, &nsec);
	printf("%lld %lld\n", (long long)sec, (long long)nsec);
	mr_wg_device_free(dev);
	return 0;
}

int main(int argc, char **argv)
{
	mr_ctx *ctx;
	int backend = MR_BACKEND_AUTO, rc, status = 0;
	const char *cmd;

	argv++;
	argc--;
	if (argc >= 2 && strcmp(argv[0], "--backend") == 0) {
		if (strcmp(argv[1], "kernel") == 0)
			backend = MR_BACKEND_KERNEL;
		else if (strcmp(argv[1], "userspace") == 0)
			backend = MR_BACKEND_USERSPACE;
		else if (strcmp(argv[1], "auto") != 0)
			return usage();
		argv += 2;
		argc -= 2;
	}
	if (argc < 2)
		return usage();
	cmd = argv[0];
	rc = mr_ctx_new(&ctx);
	if (rc < 0)
		return fail(rc, "context");
	mr_ctx_set_backend(ctx, backend);
	if ((strcmp(cmd, "setconf") == 0 || strcmp(cmd, "addconf") == 0) && argc == 3) {
		mr_wg_device *dev;

		rc = mr_wg_device_new(&dev);
		if (rc < 0)
			return fail(rc, "device");
		status = read_conf(argv[2], dev, strcmp(cmd, "setconf") == 0);
		if (!status) {
			rc = mr_wg_set(ctx, argv[1], dev);
			if (rc < 0)
				status = fail(rc, "set");
		}
		mr_wg_device_free(dev);
	} else if (strcmp(cmd, "sync") == 0 && (argc == 3 || argc == 4)) {
		mr_wg_sync_stats st;
		uint32_t flags = 0;
		mr_wg_device *dev;

		if (argc == 4) {
			if (strcmp(argv[3], "--dry-run") != 0)
				return usage();
			flags = MR_WG_SYNC_DRY_RUN;
		}
		rc = mr_wg_device_new(&dev);
		if (rc < 0)
			return fail(rc, "device");
		status = read_conf(argv[2], dev, false);
		if (!status) {
			rc = mr_wg_sync(ctx, argv[1], dev, flags, &st);
			if (rc < 0)
				status = fail(rc, "sync");
			else
				printf(
				    "added=%u removed=%u updated=%u unchanged=%u device_changed=%u "
				    "messages=%u bytes=%llu\n",
				    st.added, st.removed, st.updated, st.unchanged,
				    st.device_changed, st.messages,
				    (unsigned long long)st.bytes_sent);
		}
		mr_wg_device_free(dev);
	} else if (strcmp(cmd, "dump") == 0 && argc == 2) {
		status = dump(ctx, argv[1]);
	} else if (strcmp(cmd, "handshake") == 0 && argc == 3) {
		status = handshake(ctx, argv[1], argv[2]);
	} else if (strcmp(cmd, "start") == 0 && argc == 2) {
		pid_t pid;

		rc = mr_wg_start_userspace(ctx, argv[1], &pid);
		if (rc < 0)
			status = fail(rc, "start");
		else
			printf("%ld\n", (long)pid);
	} else if (strcmp(cmd, "stop") == 0 && argc == 3) {
		rc = mr_wg_stop_userspace(ctx, argv[1], (pid_t)atol(argv[2]));
		if (rc < 0)
			status = fail(rc, "stop");
	} else {
		status = usage();
	}
	mr_ctx_free(ctx);
	return status;
}
