/* SPDX-License-Identifier: MIT */
/*
 * Devices (peers) of a pod, for customers with a pod token (or operators
 * with an admin token and --pod ID).
 *
 * `peer add` makes the device's keypair here and sends only the public key
 * (and the preshared key, which the node needs). The private key stays in
 * this machine's configuration directory (peers/<pod>/<name>.json, 0600)
 * with the local choices (--exclude, --dns, --psk), so `config NAME` can
 * render the same file again from the server's current view of the peer
 * and the pod.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <myrelay/cidr.h>
#include <myrelay/conf.h>
#include <myrelay/error.h>
#include <myrelay/key.h>
#include <myrelay/name.h>

#define KEEPALIVE 25
#define MAX_LIST 64

/* What this machine keeps about a device. */
struct local_peer {
	char *private_key;
	char *preshared_key;
	char *exclude[MAX_LIST];
	size_t n_exclude;
	char *dns[MAX_LIST];
	size_t n_dns;
};

static void local_free(struct local_peer *l)
{
	if (l->private_key) {
		explicit_bzero(l->private_key, strlen(l->private_key));
		free(l->private_key);
	}
	if (l->preshared_key) {
		explicit_bzero(l->preshared_key, strlen(l->preshared_key));
		free(l->preshared_key);
	}
	for (size_t i = 0; i < l->n_exclude; i++)
		free(l->exclude[i]);
	for (size_t i = 0; i < l->n_dns; i++)
		free(l->dns[i]);
	memset(l, 0, sizeof(*l));
}

/* --- where requests go ----------------------------------------------------- */

/* --pod ID (admin) or the pod token's own pod. */
static const char *opt_pod;

/* The path of the pod's peers, or of the pod ("/v1/pods/ID[/peers]" with
 * --pod, else the token's own "/v1/pod[/peers]"), and then tail (if not
 * NULL: "/" and the escaped segment) and action: *out, or an exit code. */
static int pod_url(bool peers, const char *tail, const char *action, char **out)
{
	size_t len;
	FILE *f = open_memstream(out, &len);

	if (f) {
		if (opt_pod) {
			fputs("/v1/pods/", f);
			cli_path_escape(f, opt_pod);
		} else {
			fputs("/v1/pod", f);
		}
		if (peers)
			fputs("/peers", f);
		if (tail) {
			fputc('/', f);
			cli_path_escape(f, tail);
		}
		if (action)
			fprintf(f, "/%s", action);
	}
	return cli_text_end(f, out) ? 0 : cli_fail("out of memory");
}

/* GET the pod: its object in *out (owned by *root). */
static int get_pod(json_t **root, const json_t **out)
{
	char *path = NULL;
	int rc;

	rc = pod_url(false, NULL, NULL, &path);
	if (!rc)
		rc = cli_request("GET", path, NULL, root, NULL);
	free(path);
	if (rc)
		return rc;
	*out = json_object_get(*root, "pod");
	if (!jstr(*out, "id")) {
		json_decref(*root);
		*root = NULL;
		return cli_fail("the server's answer has no pod");
	}
	return 0;
}

/* Find a peer by name (or by id, "pr_..."): the peer object in *out, owned
 * by *root. */
static int find_peer(const char *arg, json_t **root, const json_t **out)
{
	char *path = NULL;
	json_t *list, *item;
	size_t i;
	int rc;

	if (strncmp(arg, "pr_", 3) == 0) {
		rc = pod_url(true, arg, NULL, &path);
		if (!rc)
			rc = cli_request("GET", path, NULL, root, NULL);
		free(path);
		if (rc)
			return rc;
		*out = json_object_get(*root, "peer");
		return *out ? 0 : cli_fail("the server's answer has no peer");
	}
	if (mr_name_validate_label(arg) < 0)
		return USAGE_ERR("peer name: %s", mr_error_message());
	rc = pod_url(true, NULL, NULL, &path);
	if (!rc)
		rc = cli_request("GET", path, NULL, root, NULL);
	free(path);
	if (rc)
		return rc;
	list = json_object_get(*root, "peers");
	json_array_foreach(list, i, item) {
		const char *name = jstr(item, "name");

		if (name && strcmp(name, arg) == 0) {
			*out = item;
			return 0;
		}
	}
	json_decref(*root);
	*root = NULL;
	return cli_fail("no peer named \"%s\" in this pod (see `%s peer list`)", arg, PROG);
}

/* --- the local key file ------------------------------------------------------ */

static int local_path(const char *pod_id, const char *name, char **out)
{
	char *dir;
	size_t n;
	int rc = cli_peer_dir(pod_id, &dir);

	if (rc)
		return rc;
	n = strlen(dir) + strlen(name) + 8;
	*out = malloc(n);
	if (!*out) {
		free(dir);
		return cli_fail("out of memory");
	}
	snprintf(*out, n, "%s/%s.json", dir, name);
	free(dir);
	return 0;
}

static json_t *string_array(char *const *items, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++) {
		if (json_array_append_new(a, json_string(items[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static int local_save(const char *pod_id, const char *name, const char *peer_id,
		      const struct local_peer *l)
{
	char *path, *text = NULL;
	json_t *v;
	int rc = local_path(pod_id, name, &path);

	if (rc)
		return rc;
	/* "o" takes the arrays' references, also when packing fails. */
	v = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:o, s:o}", "name", name, "peer", peer_id, "pod",
		      pod_id, "private_key", l->private_key, "preshared_key", l->preshared_key,
		      "exclude", string_array(l->exclude, l->n_exclude), "dns",
		      string_array(l->dns, l->n_dns));
	if (v) {
		char *compact = json_dumps(v, JSON_COMPACT);
		size_t n = compact ? strlen(compact) : 0;

		/* One line with its newline, as a text file should end. */
		if (compact && (text = malloc(n + 2))) {
			memcpy(text, compact, n);
			memcpy(text + n, "\n", 2);
		}
		fe_secret_free(compact);
	}
	json_decref(v);
	rc = text ? cli_write_private(path, text, strlen(text), false) : cli_fail("out of memory");
	fe_secret_free(text);
	free(path);
	return rc;
}

static int take_list(const json_t *v, char **items, size_t *n)
{
	json_t *item;
	size_t i;

	if (!json_is_array(v) || json_array_size(v) > MAX_LIST)
		return -1;
	json_array_foreach((json_t *)v, i, item) {
		if (!json_is_string(item))
			return -1;
		items[*n] = strdup(json_string_value(item));
		if (!items[*n])
			return -1;
		(*n)++;
	}
	return 0;
}

static int local_load(const char *pod_id, const char *name, struct local_peer *l)
{
	const char *pk, *psk;
	char *path, *text;
	size_t len;
	json_t *v;
	int rc = local_path(pod_id, name, &path);

	if (rc)
		return rc;
	memset(l, 0, sizeof(*l));
	text = fe_read_file(path, 1024 * 1024, &len);
	if (!text) {
		if (errno == ENOENT)
			rc = cli_fail(
			    "no private key for \"%s\" on this machine (%s): a device's key "
			    "stays where `%s peer add` made it",
			    name, path, PROG);
		else
			rc = cli_fail("cannot read %s: %s", path, strerror(errno));
		free(path);
		return rc;
	}
	/* The tree holds the private key too: jansson wipes what it frees
	 * (main), as fe_secret_free does the text. */
	v = json_loadb(text, len, 0, NULL);
	fe_secret_free(text);
	pk = jstr(v, "private_key");
	psk = jstr(v, "preshared_key");
	if (!pk || !(l->private_key = strdup(pk)) || (psk && !(l->preshared_key = strdup(psk))) ||
	    take_list(json_object_get(v, "exclude"), l->exclude, &l->n_exclude) < 0 ||
	    take_list(json_object_get(v, "dns"), l->dns, &l->n_dns) < 0) {
		rc = cli_fail("%s is damaged (not the JSON `%s peer add` writes)", path, PROG);
		local_free(l);
	}
	json_decref(v);
	free(path);
	return rc;
}

/* --- rendering ---------------------------------------------------------------- */

static int allowed_ips(mr_conf *conf, char *const *exclude, size_t n_exclude)
{
	mr_prefix include[2], ex[MAX_LIST], *res = NULL;
	size_t n_res = 0;
	int rc;

	if (mr_cidr_parse(&include[0], "0.0.0.0/0") < 0 || mr_cidr_parse(&include[1], "::/0") < 0)
		return MR_EINVAL;
	for (size_t i = 0; i < n_exclude; i++) {
		rc = mr_cidr_parse(&ex[i], exclude[i]);
		if (rc < 0)
			return rc;
	}
	rc = mr_cidr_subtract(&res, &n_res, include, 2, ex, n_exclude);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n_res && rc == 0; i++) {
		char text[MR_CIDR_STRLEN];

		rc = mr_cidr_format(text, sizeof(text), &res[i]);
		if (rc == 0)
			rc = mr_conf_add_allowed_ip(conf, text);
	}
	mr_free(res);
	return rc;
}

/* The wg-quick file of a device: its key and local choices, the addresses
 * the server gave it, and the pod's key and endpoint. */
static int render(const struct local_peer *l, const json_t *peer, const json_t *pod, char **out)
{
	const json_t *addrs = json_object_get(peer, "addresses");
	const char *pod_key = jstr(pod, "public_key");
	const char *endpoint = jstr(pod, "endpoint");
	mr_conf *conf = NULL;
	json_t *addr;
	size_t i;
	int rc;

	if (!pod_key)
		return cli_fail("pod %s has no public key yet: its node has not set it up (status "
				"\"%s\"). Run `%s config NAME` once `%s pod show` says active",
				jstr(pod, "id"), jstr(pod, "status") ? jstr(pod, "status") : "?",
				PROG, PROG);
	if (!endpoint)
		return cli_fail("the server's answer has no endpoint for pod %s", jstr(pod, "id"));
	rc = mr_conf_new(&conf);
	if (rc < 0)
		goto fail;
	if ((rc = mr_conf_set_private_key(conf, l->private_key)) < 0)
		goto fail;
	json_array_foreach((json_t *)addrs, i, addr) {
		if (!json_is_string(addr)) {
			rc = MR_EINVAL;
			goto fail;
		}
		if ((rc = mr_conf_add_address(conf, json_string_value(addr))) < 0)
			goto fail;
	}
	for (i = 0; i < l->n_dns; i++)
		if ((rc = mr_conf_add_dns(conf, l->dns[i])) < 0)
			goto fail;
	if ((rc = mr_conf_set_peer_public_key(conf, pod_key)) < 0)
		goto fail;
	if (l->preshared_key && (rc = mr_conf_set_preshared_key(conf, l->preshared_key)) < 0)
		goto fail;
	if ((rc = mr_conf_set_endpoint(conf, endpoint)) < 0)
		goto fail;
	if ((rc = allowed_ips(conf, l->exclude, l->n_exclude)) < 0)
		goto fail;
	if ((rc = mr_conf_set_keepalive(conf, KEEPALIVE)) < 0)
		goto fail;
	if ((rc = mr_conf_render(conf, out)) < 0)
		goto fail;
	mr_conf_free(conf);
	return 0;
fail:
	mr_conf_free(conf);
	/* Values from the server that the conf module refuses: say so. */
	return cli_fail_mr(rc, "rendering the configuration");
}

/* Write the config to FILE (new, 0600), or to standard output for "-". */
static int emit(const char *out, const char *text, bool qr)
{
	int rc = 0;

	if (strcmp(out, "-") == 0)
		fputs(text, stdout);
	else
		rc = cli_write_private(out, text, strlen(text), true);
	if (!rc && qr)
		rc = cli_print_qr(text);
	return rc;
}

/* --- peer add ------------------------------------------------------------------ */

static int peer_add(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"exclude", required_argument, NULL, 'x'},
	    {"dns", required_argument, NULL, 'd'},
	    {"psk", no_argument, NULL, 'p'},
	    {"out", required_argument, NULL, 'o'},
	    {"qr", no_argument, NULL, 'q'},
	    {"pod", required_argument, NULL, 'P'},
	    {NULL, 0, NULL, 0},
	};
	struct local_peer l = {0};
	const char *name, *out = NULL, *pod_id, *peer_id;
	const json_t *peer, *pod;
	json_t *ans = NULL;
	char b64[MR_KEY_BASE64_SIZE], *raw = NULL, *text = NULL, *out_alloc = NULL;
	char *path = NULL, *body = NULL;
	bool psk = false, qr = false;
	mr_key priv = {{0}}, pub, pre = {{0}};
	struct stat st;
	int c, rc;
	mr_conf *probe = NULL;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'x':
			if (l.n_exclude == MAX_LIST) {
				rc = USAGE_ERR("at most %d --exclude networks", MAX_LIST);
				goto out;
			}
			l.exclude[l.n_exclude++] = strdup(optarg);
			break;
		case 'd':
			if (l.n_dns == MAX_LIST) {
				rc = USAGE_ERR("at most %d --dns servers", MAX_LIST);
				goto out;
			}
			l.dns[l.n_dns++] = strdup(optarg);
			break;
		case 'p':
			psk = true;
			break;
		case 'o':
			out = optarg;
			break;
		case 'q':
			qr = true;
			break;
		case 'P':
			opt_pod = optarg;
			break;
		default:
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (optind >= argc) {
		rc = USAGE_ERR("the device's name is missing");
		goto out;
	}
	if (optind + 1 < argc) {
		rc = USAGE_ERR("unexpected argument \"%s\"", argv[optind + 1]);
		goto out;
	}
	name = argv[optind];
	if (mr_name_validate_label(name) < 0) {
		rc = USAGE_ERR("device name: %s", mr_error_message());
		goto out;
	}
	/* Everything local is checked before the server is asked, so a typo
	 * never leaves a half-made device behind. */
	for (size_t i = 0; i < l.n_exclude; i++) {
		mr_prefix p;

		if (!l.exclude[i]) {
			rc = cli_fail("out of memory");
			goto out;
		}
		if (mr_cidr_parse(&p, l.exclude[i]) < 0) {
			rc = USAGE_ERR("--exclude: %s", mr_error_message());
			goto out;
		}
	}
	if ((rc = mr_conf_new(&probe)) < 0) {
		rc = cli_fail_mr(rc, "peer add");
		goto out;
	}
	for (size_t i = 0; i < l.n_dns; i++) {
		if (!l.dns[i] || mr_conf_add_dns(probe, l.dns[i]) < 0) {
			rc = USAGE_ERR("--dns: %s", mr_error_message());
			goto out;
		}
	}
	rc = allowed_ips(probe, l.exclude, l.n_exclude);
	if (rc < 0) {
		rc = USAGE_ERR("--exclude: %s", mr_error_message());
		goto out;
	}
	if (mr_conf_allowed_ip_count(probe) == 0) {
		rc = USAGE_ERR("--exclude leaves nothing to send through the tunnel");
		goto out;
	}
	if (!out) {
		size_t n = strlen(name) + 6;

		out_alloc = malloc(n);
		if (!out_alloc) {
			rc = cli_fail("out of memory");
			goto out;
		}
		snprintf(out_alloc, n, "%s.conf", name);
		out = out_alloc;
	}
	if (strcmp(out, "-") != 0 && lstat(out, &st) == 0) {
		rc =
		    USAGE_ERR("%s exists: choose another file with --out, or remove it first", out);
		goto out;
	}

	if ((rc = mr_key_generate_private(&priv)) < 0 ||
	    (rc = mr_key_public_from_private(&pub, &priv)) < 0 ||
	    (psk && (rc = mr_key_generate_preshared(&pre)) < 0)) {
		rc = cli_fail_mr(rc, "generating keys");
		goto out;
	}
	mr_key_to_base64(b64, sizeof(b64), &priv);
	mr_key_wipe(&priv);
	l.private_key = strdup(b64);
	if (psk) {
		mr_key_to_base64(b64, sizeof(b64), &pre);
		mr_key_wipe(&pre);
		l.preshared_key = strdup(b64);
	}
	mr_key_to_base64(b64, sizeof(b64), &pub);
	if (!l.private_key || (psk && !l.preshared_key)) {
		rc = cli_fail("out of memory");
		goto out;
	}

	/* Only the public key (and the preshared key, which the node must
	 * configure) leaves this machine. */
	rc = cli_body(json_pack("{s:s, s:s, s:s*}", "name", name, "public_key", b64,
				"preshared_key", l.preshared_key),
		      &body);
	if (!rc)
		rc = pod_url(true, NULL, NULL, &path);
	if (!rc)
		rc = cli_request("POST", path, body, &ans, &raw);
	fe_secret_free(body);
	free(path);
	if (rc)
		goto out;
	peer = json_object_get(ans, "peer");
	pod = json_object_get(ans, "pod");
	peer_id = jstr(peer, "id");
	pod_id = jstr(pod, "id");
	if (!peer_id || !pod_id) {
		rc = cli_fail("the server's answer has no peer or pod");
		goto out;
	}
	/* The key is kept before the config is written: should writing fail,
	 * `config NAME` still has it. */
	rc = local_save(pod_id, name, peer_id, &l);
	if (rc) {
		fprintf(stderr,
			"%s: the peer %s was added on the server, but its private key "
			"could not be kept: remove it with `%s peer remove %s`\n",
			PROG, name, PROG, name);
		goto out;
	}
	if (cli.json) {
		cli_print_json(raw);
	} else {
		char addrs[512];

		fprintf(strcmp(out, "-") ? stdout : stderr, "Added device %s (%s) to pod %s: %s\n",
			name, peer_id, pod_id,
			cli_fmt_value(json_object_get(peer, "addresses"), addrs, sizeof(addrs)));
	}
	rc = render(&l, peer, pod, &text);
	if (rc)
		goto out;
	rc = emit(out, text, qr && !cli.json);
	if (!rc && !cli.json && strcmp(out, "-") != 0)
		/* wg-quick takes a bare word as an interface name: a relative
		 * file needs "./" in front, an absolute one must be left alone. */
		printf("Wrote %s (mode 0600). Bring it up with `wg-quick up %s%s` or import it "
		       "into a WireGuard app%s.\n",
		       out, out[0] == '/' ? "" : "./", out, qr ? " (QR code above)" : "");
out:
	mr_key_wipe(&priv);
	mr_key_wipe(&pre);
	explicit_bzero(b64, sizeof(b64));
	mr_conf_free(probe);
	if (text)
		mr_conf_free_text(text);
	if (raw)
		mr_api_free_body(raw);
	json_decref(ans);
	free(out_alloc);
	local_free(&l);
	return rc;
}

/* --- config NAME --------------------------------------------------------------- */

int cmd_config(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"out", required_argument, NULL, 'o'},
	    {"qr", no_argument, NULL, 'q'},
	    {"pod", required_argument, NULL, 'P'},
	    {NULL, 0, NULL, 0},
	};
	json_t *proot = NULL, *oroot = NULL;
	const json_t *peer, *pod;
	struct local_peer l = {0};
	const char *out = "-", *name;
	char *text = NULL;
	bool qr = false;
	int c, rc;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'q':
			qr = true;
			break;
		case 'P':
			opt_pod = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return USAGE_ERR("the device's name is missing");
	if (optind + 1 < argc)
		return USAGE_ERR("unexpected argument \"%s\"", argv[optind + 1]);
	name = argv[optind];
	rc = find_peer(name, &proot, &peer);
	if (rc)
		return rc;
	rc = get_pod(&oroot, &pod);
	if (rc)
		goto out;
	rc = local_load(jstr(pod, "id"), jstr(peer, "name"), &l);
	if (rc)
		goto out;
	{
		/* The kept key must be this peer's: a device removed and added
		 * again elsewhere under the same name has another key. */
		mr_key priv, pub, srv;
		bool same;

		if (mr_key_from_base64(&priv, l.private_key) < 0 ||
		    mr_key_public_from_private(&pub, &priv) < 0 ||
		    mr_key_public_from_base64(
			&srv, jstr(peer, "public_key") ? jstr(peer, "public_key") : "") < 0) {
			mr_key_wipe(&priv);
			rc = cli_fail("the kept key or the server's key of \"%s\" is not valid",
				      name);
			goto out;
		}
		mr_key_wipe(&priv);
		same = mr_key_equal(&pub, &srv);
		if (!same) {
			rc = cli_fail(
			    "the key kept here for \"%s\" is not the key the server has for "
			    "it (was it added again from another machine?)",
			    name);
			goto out;
		}
	}
	rc = render(&l, peer, pod, &text);
	if (rc)
		goto out;
	rc = emit(out, text, qr);
	if (!rc && strcmp(out, "-") != 0)
		printf("Wrote %s (mode 0600).\n", out);
out:
	if (text)
		mr_conf_free_text(text);
	local_free(&l);
	json_decref(proot);
	json_decref(oroot);
	return rc;
}

/* --- list, show, enable, disable, remove, expire ------------------------------- */

static int parse_only_pod(int argc, char **argv, int nargs, const char *what)
{
	static const struct option opts[] = {
	    {"pod", required_argument, NULL, 'P'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		if (c != 'P')
			return EXIT_USAGE;
		opt_pod = optarg;
	}
	if (argc - optind < nargs)
		return USAGE_ERR("%s is missing", what);
	if (argc - optind > nargs)
		return USAGE_ERR("unexpected argument \"%s\"", argv[optind + nargs]);
	return 0;
}

static const char *const peer_keys[] = {"id",
					"name",
					"pod",
					"public_key",
					"addresses",
					"enabled",
					"disabled_reason",
					"expires",
					"expired",
					"has_preshared_key",
					"rx_bytes",
					"tx_bytes",
					"last_handshake",
					"created",
					NULL};

static int peer_list(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"pod", required_argument, NULL, 'P'},
	    {"enabled", no_argument, NULL, 'e'},
	    {"disabled", no_argument, NULL, 'd'},
	    {NULL, 0, NULL, 0},
	};
	const char *filter = NULL;
	json_t *ans = NULL, *list, *pe;
	struct cli_table t;
	char *raw = NULL, *path = NULL;
	size_t i;
	int c, rc;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'P':
			opt_pod = optarg;
			break;
		case 'e':
			filter = "true";
			break;
		case 'd':
			filter = "false";
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return USAGE_ERR("unexpected argument \"%s\"", argv[optind]);
	rc = pod_url(true, NULL, NULL, &path);
	if (!rc && filter) {
		char *p = NULL;

		rc =
		    asprintf(&p, "%s?enabled=%s", path, filter) < 0 ? cli_fail("out of memory") : 0;
		free(path);
		path = p;
	}
	if (!rc)
		rc = cli_request("GET", path, NULL, &ans, &raw);
	free(path);
	if (rc)
		return rc;
	if (cli.json) {
		cli_print_json(raw);
		goto out;
	}
	list = json_object_get(ans, "peers");
	cli_table_init(&t, 7,
		       (const char *[]){"NAME", "ID", "ADDRESSES", "ENABLED", "EXPIRES",
					"TRANSFER (RX/TX)", "LAST HANDSHAKE"});
	json_array_foreach(list, i, pe) {
		char addrs[256], en[128], exp[64], xfer[64], rx[32], tx[32], hs[64];
		const char *reason = jstr(pe, "disabled_reason");

		cli_fmt_value(json_object_get(pe, "addresses"), addrs, sizeof(addrs));
		if (json_is_false(json_object_get(pe, "enabled")))
			snprintf(en, sizeof(en), "no (%s)", reason ? reason : "disabled");
		else
			snprintf(en, sizeof(en), "yes");
		cli_fmt_time(json_object_get(pe, "expires"), exp, sizeof(exp));
		snprintf(xfer, sizeof(xfer), "%s / %s",
			 cli_fmt_bytes(jint(pe, "rx_bytes"), rx, sizeof(rx)),
			 cli_fmt_bytes(jint(pe, "tx_bytes"), tx, sizeof(tx)));
		cli_fmt_time(json_object_get(pe, "last_handshake"), hs, sizeof(hs));
		cli_table_add(&t, (const char *[]){jstr(pe, "name"), jstr(pe, "id"), addrs, en, exp,
						   xfer, hs});
	}
	if (t.nrow == 1)
		printf("No devices in this pod yet: add one with `%s peer add NAME`.\n", PROG);
	else
		cli_table_print(&t);
	cli_table_free(&t);
out:
	mr_api_free_body(raw);
	json_decref(ans);
	return 0;
}

static void print_wrapped(const char *key, const json_t *obj)
{
	json_t *wrap = json_pack("{s:O}", key, (json_t *)obj);

	if (wrap)
		cli_print_json_value(wrap);
	else
		fprintf(stderr, "%s: out of memory\n", PROG);
	json_decref(wrap);
}

static int peer_show(int argc, char **argv)
{
	json_t *root = NULL;
	const json_t *peer;
	int rc = parse_only_pod(argc, argv, 1, "the device's name");

	if (rc)
		return rc;
	rc = find_peer(argv[optind], &root, &peer);
	if (rc)
		return rc;
	if (cli.json)
		print_wrapped("peer", peer);
	else
		cli_print_object(peer, peer_keys);
	json_decref(root);
	return 0;
}

/* POST or DELETE on one peer, found by name: .../peers/{id}[/action]. */
static int peer_action(const char *arg, const char *method, const char *action, const char *body,
		       json_t **ans, char **raw, char **out_name, char **out_pod)
{
	json_t *root = NULL;
	const json_t *peer;
	const char *id, *name, *pod;
	char *path = NULL;
	int rc;

	rc = find_peer(arg, &root, &peer);
	if (rc)
		return rc;
	id = jstr(peer, "id");
	name = jstr(peer, "name");
	pod = jstr(peer, "pod");
	if (!id || !name || !pod) {
		json_decref(root);
		return cli_fail("the server's answer has no peer id");
	}
	rc = pod_url(true, id, action, &path);
	if (!rc)
		rc = cli_request(method, path, body, ans, raw);
	free(path);
	if (!rc && out_name && !(*out_name = strdup(name)))
		rc = cli_fail("out of memory");
	if (!rc && out_pod && !(*out_pod = strdup(pod)))
		rc = cli_fail("out of memory");
	json_decref(root);
	return rc;
}

static int print_peer_result(json_t *ans, char *raw, const char *what)
{
	const json_t *peer = json_object_get(ans, "peer");
	char exp[64];

	if (cli.json) {
		cli_print_json(raw);
	} else if (peer) {
		const json_t *en = json_object_get(peer, "enabled");
		const char *reason = jstr(peer, "disabled_reason");

		cli_fmt_time(json_object_get(peer, "expires"), exp, sizeof(exp));
		printf("Device %s %s: %s%s%s, expires %s.\n", jstr(peer, "name"), what,
		       json_is_true(en) ? "enabled" : "disabled", json_is_false(en) ? " - " : "",
		       json_is_false(en) && reason ? reason : "", strcmp(exp, "-") ? exp : "never");
	}
	if (raw)
		mr_api_free_body(raw);
	json_decref(ans);
	return 0;
}

static int peer_enable(int argc, char **argv)
{
	json_t *ans = NULL;
	char *raw = NULL;
	int rc = parse_only_pod(argc, argv, 1, "the device's name");

	if (!rc)
		rc = peer_action(argv[optind], "POST", "enable", NULL, &ans, &raw, NULL, NULL);
	return rc ? rc : print_peer_result(ans, raw, "updated");
}

static int peer_disable(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"pod", required_argument, NULL, 'P'},
	    {"reason", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	json_t *ans = NULL;
	const char *reason = NULL;
	char *raw = NULL, *body = NULL;
	int c, rc;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		if (c == 'P')
			opt_pod = optarg;
		else if (c == 'r')
			reason = optarg;
		else
			return EXIT_USAGE;
	}
	if (optind >= argc)
		return USAGE_ERR("the device's name is missing");
	if (optind + 1 < argc)
		return USAGE_ERR("unexpected argument \"%s\"", argv[optind + 1]);
	rc = cli_body(json_pack("{s:s*}", "reason", reason), &body);
	if (!rc)
		rc = peer_action(argv[optind], "POST", "disable", body, &ans, &raw, NULL, NULL);
	fe_secret_free(body);
	return rc ? rc : print_peer_result(ans, raw, "updated");
}

static int peer_expire(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"pod", required_argument, NULL, 'P'},
	    {"in", required_argument, NULL, 'i'},
	    {"at", required_argument, NULL, 'a'},
	    {"never", no_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0},
	};
	json_t *ans = NULL;
	int64_t expires = 0, d;
	int given = 0, c, rc;
	char *raw = NULL, *body = NULL, *end;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'P':
			opt_pod = optarg;
			break;
		case 'i':
			if (cli_parse_duration(optarg, &d) < 0)
				return USAGE_ERR(
				    "--in: \"%s\" is not a duration (a number with s, m, "
				    "h, d or w: 90m, 12h, 7d)",
				    optarg);
			expires = (int64_t)time(NULL) + d;
			given++;
			break;
		case 'a':
			errno = 0;
			expires = strtoll(optarg, &end, 10);
			if (errno || end == optarg || *end || expires <= 0)
				return USAGE_ERR("--at: expected a unix time in seconds");
			given++;
			break;
		case 'n':
			expires = 0;
			given++;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (given != 1)
		return USAGE_ERR("give exactly one of --in DURATION, --at UNIX_TIME or --never");
	if (optind >= argc)
		return USAGE_ERR("the device's name is missing");
	if (optind + 1 < argc)
		return USAGE_ERR("unexpected argument \"%s\"", argv[optind + 1]);
	rc = cli_body(expires ? json_pack("{s:I}", "expires", (json_int_t)expires)
			      : json_pack("{s:n}", "expires"),
		      &body);
	if (!rc)
		rc = peer_action(argv[optind], "POST", "expiry", body, &ans, &raw, NULL, NULL);
	fe_secret_free(body);
	return rc ? rc : print_peer_result(ans, raw, "updated");
}

static int peer_rename(int argc, char **argv)
{
	json_t *ans = NULL;
	char *raw = NULL, *old_name = NULL, *pod = NULL, *from = NULL, *to = NULL, *body = NULL;
	int rc = parse_only_pod(argc, argv, 2, "the device's name and its new name");

	if (rc)
		return rc;
	if (mr_name_validate_label(argv[optind + 1]) < 0)
		return USAGE_ERR("new name: %s", mr_error_message());
	rc = cli_body(json_pack("{s:s}", "name", argv[optind + 1]), &body);
	if (!rc)
		rc = peer_action(argv[optind], "POST", "rename", body, &ans, &raw, &old_name, &pod);
	fe_secret_free(body);
	if (rc)
		return rc;
	/* The kept key follows the name, if this machine has it. */
	if (local_path(pod, old_name, &from) == 0 && local_path(pod, argv[optind + 1], &to) == 0 &&
	    rename(from, to) < 0 && errno != ENOENT)
		fprintf(stderr, "%s: warning: cannot rename %s to %s: %s\n", PROG, from, to,
			strerror(errno));
	free(from);
	free(to);
	free(old_name);
	free(pod);
	return print_peer_result(ans, raw, "renamed");
}

static int peer_remove(int argc, char **argv)
{
	json_t *ans = NULL;
	char *raw = NULL, *name = NULL, *pod = NULL, *path = NULL;
	int rc = parse_only_pod(argc, argv, 1, "the device's name");

	if (rc)
		return rc;
	rc = peer_action(argv[optind], "DELETE", NULL, NULL, &ans, &raw, &name, &pod);
	if (rc)
		return rc;
	/* Its key is useless now: do not keep a secret for nothing. */
	if (local_path(pod, name, &path) == 0 && unlink(path) < 0 && errno != ENOENT)
		fprintf(stderr, "%s: warning: cannot remove %s: %s\n", PROG, path, strerror(errno));
	if (cli.json)
		cli_print_json(raw);
	else
		printf("Removed device %s. Configuration files made for it no longer connect.\n",
		       name);
	free(path);
	free(name);
	free(pod);
	mr_api_free_body(raw);
	json_decref(ans);
	return 0;
}

/* clang-format off */
static const struct command peer_commands[] = {
	{ "add", peer_add, "NAME [--exclude CIDR ...] [--dns IP ...] [--psk] [--out FILE] [--qr] [--pod ID]",
	  "Add a device: make its keypair here and write its wg-quick configuration.\n\n"
	  "Only the public key is sent to the server. The configuration holds the private\n"
	  "key (mode 0600); the key never leaves this machine and is also kept in the\n"
	  "configuration directory so that `myrelay config NAME` can print it again.\n\n"
	  "  --exclude CIDR   route this network outside the tunnel (repeatable); AllowedIPs\n"
	  "                   become 0.0.0.0/0 and ::/0 minus the excluded networks\n"
	  "  --dns IP         DNS server for the device (repeatable)\n"
	  "  --psk            also use a preshared key (made here; the node needs it too)\n"
	  "  --out FILE       where to write the configuration (default NAME.conf; \"-\" for\n"
	  "                   standard output); an existing file is never replaced\n"
	  "  --qr             also print the configuration as a QR code for phone apps\n"
	  "  --pod ID         with an admin token: the pod to add the device to" },
	{ "list", peer_list, "[--enabled | --disabled] [--pod ID]", "List the pod's devices." },
	{ "show", peer_show, "NAME [--pod ID]", "Show one device (NAME or its id pr_...)." },
	{ "remove", peer_remove, "NAME [--pod ID]", "Remove a device; its tunnel stops at once." },
	{ "enable", peer_enable, "NAME [--pod ID]", "Let a disabled device connect again." },
	{ "disable", peer_disable, "NAME [--reason TEXT] [--pod ID]", "Stop a device's tunnel, keeping the device." },
	{ "expire", peer_expire, "NAME (--in DURATION | --at UNIX_TIME | --never) [--pod ID]",
	  "Set when a device stops working.\n\n"
	  "  --in DURATION    from now: 90m, 12h, 7d (units s, m, h, d, w)\n"
	  "  --at UNIX_TIME   at a unix time\n"
	  "  --never          clear the expiry" },
	{ "rename", peer_rename, "NAME NEW_NAME [--pod ID]", "Rename a device (its kept key follows)." },
};
/* clang-format on */

int cmd_peer(int argc, char **argv)
{
	return cli_dispatch(peer_commands, ARRAY_SIZE(peer_commands), "peer", argc, argv);
}
