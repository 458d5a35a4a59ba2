/* SPDX-License-Identifier: MIT */
/*
 * Helper of tests/key-wg.sh: drives the key module from stdin so that one
 * process can answer for thousands of keys.
 *
 *   key_tool pubkey     each line a private key -> its public key, or "!ERR"
 *   key_tool reencode   each line a key -> decoded and encoded again, or "!ERR"
 *   key_tool genkey N   N new private keys
 *   key_tool genpsk N   N new preshared keys
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <myrelay/error.h>
#include <myrelay/key.h>

static int print_key(const mr_key *k)
{
	char text[MR_KEY_BASE64_SIZE];

	if (mr_key_to_base64(text, sizeof(text), k) < 0)
		return -1;
	puts(text);
	return 0;
}

static int each_line(int pubkey)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	mr_key k;
	int rc = 0;

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		if (mr_key_from_base64(&k, line) < 0) {
			printf("!ERR %s\n", mr_error_message());
			continue;
		}
		if (pubkey && mr_key_public_from_private(&k, &k) < 0) {
			rc = 1;
			break;
		}
		if (print_key(&k) < 0) {
			rc = 1;
			break;
		}
	}
	mr_key_wipe(&k);
	free(line);
	return rc;
}

static int generate(const char *count, int psk)
{
	long n = strtol(count, NULL, 10);
	mr_key k;

	for (long i = 0; i < n; i++) {
		if ((psk ? mr_key_generate_preshared(&k) : mr_key_generate_private(&k)) < 0 ||
		    print_key(&k) < 0) {
			fprintf(stderr, "key_tool: %s\n", mr_error_message());
			return 1;
		}
	}
	mr_key_wipe(&k);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "pubkey") == 0)
		return each_line(1);
	if (argc == 2 && strcmp(argv[1], "reencode") == 0)
		return each_line(0);
	if (argc == 3 && strcmp(argv[1], "genkey") == 0)
		return generate(argv[2], 0);
	if (argc == 3 && strcmp(argv[1], "genpsk") == 0)
		return generate(argv[2], 1);
	fprintf(stderr, "usage: key_tool pubkey|reencode|genkey N|genpsk N\n");
	return 2;
}
