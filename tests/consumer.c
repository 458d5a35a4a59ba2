/* SPDX-License-Identifier: MIT */
/* A third-party program built against an installed libmyrelay through
 * pkg-config (see install-consumer.sh). */
#include <stdio.h>
#include <string.h>
#include <myrelay/myrelay.h>

int main(void)
{
	if (strcmp(mr_version(), MR_VERSION_STRING) != 0) {
		fprintf(stderr, "header %s, library %s\n", MR_VERSION_STRING, mr_version());
		return 1;
	}
	printf("consumer: libmyrelay %s, %s\n", mr_version(), mr_strerror(MR_EINVAL));
	return 0;
}
