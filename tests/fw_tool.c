/* SPDX-License-Identifier: MIT */
/*
 * Drive the firewall module through the public ABI of the shared library,
 * for the shell tests (fw-nft.sh, fw-traffic.sh):
 *
 *   fw_tool apply IFNAME [--subnet GW/LEN]... [--port N] [--no-intra] [--dns]
 *                        [--uplink IF]... [--auto]
 *   fw_tool remove IFNAME
 *   fw_tool list
 *   fw_tool counters IFNAME        one "name packets bytes" line per counter
 *   fw_tool destroy
 *
 * Exit status: 0 success, 1 the library refused (the first line on stderr
 * is "error: <MR_E name>: <detail>"), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <myrelay/myrelay.h>

static int fail(int rc)
{
	fprintf(stderr, "error: %s: %s\n", mr_error_name(rc), mr_error_message());
	return 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: fw_tool apply IFNAME [--subnet GW/LEN]... [--port N] "
			"[--no-intra] [--dns] [--uplink IF]... [--auto]\n"
			"       fw_tool remove IFNAME | list | counters IFNAME | destroy\n");
	return 2;
}

static int apply(mr_ctx *ctx, int argc, char **argv)
{
	const char *uplinks[MR_FW_UPLINKS_MAX + 4];
	uint32_t options = MR_FW_OPT_DEFAULT;
	size_t n_uplinks = 0;
	bool autodetect = false;
	mr_fw_pod *pod;
	int rc;

	rc = mr_fw_pod_new(&pod, argv[0]);
	if (rc < 0)
		return fail(rc);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		mr_prefix p;

		if (strcmp(arg, "--subnet") == 0 && val) {
			rc = mr_cidr_parse_interface(&p, val);
			if (rc == 0)
				rc = mr_fw_pod_add_subnet(pod, &p);
			i++;
		} else if (strcmp(arg, "--port") == 0 && val) {
			rc = mr_fw_pod_set_listen_port(pod, (uint32_t)strtoul(val, NULL, 10));
			i++;
		} else if (strcmp(arg, "--uplink") == 0 && val) {
			/* room for more than the library takes, so that its
			 * own limit is what the tests see */
			if (n_uplinks == sizeof(uplinks) / sizeof(uplinks[0])) {
				mr_fw_pod_free(pod);
				return usage();
			}
			uplinks[n_uplinks++] = val;
			i++;
		} else if (strcmp(arg, "--no-intra") == 0) {
			options &= ~MR_FW_OPT_INTRA_POD;
		} else if (strcmp(arg, "--dns") == 0) {
			options |= MR_FW_OPT_DNS;
		} else if (strcmp(arg, "--auto") == 0) {
			autodetect = true;
		} else {
			mr_fw_pod_free(pod);
			return usage();
		}
		if (rc < 0)
			break;
	}
	if (rc == 0)
		rc = mr_fw_pod_set_options(pod, options);
	if (rc == 0)
		rc = autodetect ? mr_fw_apply_pod_auto(ctx, pod)
				: mr_fw_apply_pod(ctx, pod, uplinks, n_uplinks);
	mr_fw_pod_free(pod);
	return rc < 0 ? fail(rc) : 0;
}

static int counters(mr_ctx *ctx, const char *ifname)
{
	uint64_t packets[MR_FW_COUNTERS], bytes[MR_FW_COUNTERS];
	int rc = mr_fw_pod_counters(ctx, ifname, packets, bytes, MR_FW_COUNTERS);

	if (rc < 0)
		return fail(rc);
	for (int i = 0; i < MR_FW_COUNTERS; i++)
		printf("%s %llu %llu\n", mr_fw_counter_name(i), (unsigned long long)packets[i],
		       (unsigned long long)bytes[i]);
	return 0;
}

static int list(mr_ctx *ctx)
{
	char **pods;
	size_t n;
	int rc = mr_fw_list_pods(ctx, &pods, &n);

	if (rc < 0)
		return fail(rc);
	for (size_t i = 0; i < n; i++)
		printf("%s\n", pods[i]);
	mr_free(pods);
	return 0;
}

int main(int argc, char **argv)
{
	mr_ctx *ctx;
	int rc, status;

	if (argc < 2)
		return usage();
	rc = mr_ctx_new(&ctx);
	if (rc < 0)
		return fail(rc);
	if (strcmp(argv[1], "apply") == 0 && argc >= 3) {
		status = apply(ctx, argc - 2, argv + 2);
	} else if (strcmp(argv[1], "remove") == 0 && argc == 3) {
		rc = mr_fw_remove_pod(ctx, argv[2]);
		status = rc < 0 ? fail(rc) : 0;
	} else if (strcmp(argv[1], "list") == 0 && argc == 2) {
		status = list(ctx);
	} else if (strcmp(argv[1], "counters") == 0 && argc == 3) {
		status = counters(ctx, argv[2]);
	} else if (strcmp(argv[1], "destroy") == 0 && argc == 2) {
		rc = mr_fw_destroy(ctx);
		status = rc < 0 ? fail(rc) : 0;
	} else {
		status = usage();
	}
	mr_ctx_free(ctx);
	return status;
}
