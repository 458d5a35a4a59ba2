/* SPDX-License-Identifier: MIT */
/*
 * genkey, pubkey, genpsk: the same input and output as wg(8)'s, so either
 * tool reads the other's keys and scripts can use both.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <myrelay/error.h>
#include <myrelay/key.h>

static int no_args(int argc, char **argv)
{
	int c;

	while ((c = cli_getopt(argc, argv, NULL)) != -1)
		return EXIT_USAGE;
	if (optind < argc)
		return USAGE_ERR("unexpected argument \"%s\"", argv[optind]);
	return 0;
}

/* As wg genkey: a secret written to a file others can read deserves a
 * warning, since the umask decided the mode. */
static void warn_world_readable(void)
{
	struct stat st;

	if (fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IRWXO))
		fputs("Warning: writing to world accessible file.\n"
		      "Consider setting the umask to 077 and trying again.\n",
		      stderr);
}

/* The key alone on a line, as wg prints it; with --json, {"<member>": key}. */
static int print_key(const mr_key *key, const char *member)
{
	char b64[MR_KEY_BASE64_SIZE];
	int rc;

	rc = mr_key_to_base64(b64, sizeof(b64), key);
	if (rc < 0)
		return cli_fail_mr(rc, cli.cmd_path);
	if (cli.json) {
		json_t *v = json_pack("{s:s}", member, b64);

		if (!v) {
			explicit_bzero(b64, sizeof(b64));
			return cli_fail("out of memory");
		}
		cli_print_json_value(v);
		json_decref(v);
	} else {
		puts(b64);
	}
	explicit_bzero(b64, sizeof(b64));
	return EXIT_OK;
}

static int generate(int (*gen)(mr_key *), const char *member)
{
	mr_key key;
	int rc;

	warn_world_readable();
	rc = gen(&key);
	if (rc < 0)
		return cli_fail_mr(rc, cli.cmd_path);
	rc = print_key(&key, member);
	mr_key_wipe(&key);
	return rc;
}

int cmd_genkey(int argc, char **argv)
{
	int rc = no_args(argc, argv);

	if (rc)
		return rc;
	return generate(mr_key_generate_private, "private_key");
}

int cmd_genpsk(int argc, char **argv)
{
	int rc = no_args(argc, argv);

	if (rc)
		return rc;
	return generate(mr_key_generate_preshared, "preshared_key");
}

static bool is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int cmd_pubkey(int argc, char **argv)
{
	char b64[MR_KEY_BASE64_SIZE];
	mr_key key, pub;
	int rc = no_args(argc, argv), ch;

	if (rc)
		return rc;
	/* wg pubkey: exactly 44 characters, then only whitespace. */
	if (fread(b64, 1, MR_KEY_BASE64_LEN, stdin) != MR_KEY_BASE64_LEN) {
		explicit_bzero(b64, sizeof(b64));
		return cli_usage(NULL, "pubkey: the private key on standard input is not the "
				       "correct length or format (44 base64 characters)");
	}
	b64[MR_KEY_BASE64_LEN] = '\0';
	while ((ch = fgetc(stdin)) != EOF) {
		if (!is_space(ch)) {
			explicit_bzero(b64, sizeof(b64));
			return cli_usage(NULL, "pubkey: trailing characters found after the key");
		}
	}
	rc = mr_key_from_base64(&key, b64);
	explicit_bzero(b64, sizeof(b64));
	if (rc < 0)
		return cli_usage(NULL, "pubkey: %s", mr_error_message());
	rc = mr_key_public_from_private(&pub, &key);
	mr_key_wipe(&key);
	if (rc < 0)
		return cli_fail_mr(rc, "pubkey");
	return print_key(&pub, "public_key");
}
