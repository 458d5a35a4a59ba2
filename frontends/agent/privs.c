/* SPDX-License-Identifier: MIT */
/*
 * Privileges: the agent starts as root, prepares what only root can
 * (directories, the node token, the CA copy), then becomes an unprivileged
 * system user that keeps CAP_NET_ADMIN alone: in its effective and
 * permitted sets for netlink and nftables, and in the inheritable and
 * ambient sets so that the wireguard-go processes it starts inherit it
 * (a TUN device needs it). The bounding set is emptied and no_new_privs set,
 * so nothing can gain more later.
 */
#include "agent.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

int privs_lookup(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		log_error(
		    "user %s does not exist: create it (e.g. useradd --system --no-create-home "
		    "--shell /usr/sbin/nologin %s) or name another with --user",
		    user, user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		log_error("--user %s is root: name an unprivileged user", user);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int privs_prepare_userspace_dir(const char *dir, uid_t uid, gid_t gid)
{
	struct stat st;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		log_error("cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_error("%s is not a directory", dir);
		return -1;
	}
	if (st.st_uid == uid && (st.st_mode & 0700) == 0700)
		return 0;
	/* wireguard-go creates its control socket there as our user. Root
	 * (wg, wg-quick) keeps full access whoever owns the directory. */
	if (chown(dir, uid, gid) < 0 || chmod(dir, 0755) < 0) {
		log_error("cannot hand %s to uid %u: %s", dir, (unsigned)uid, strerror(errno));
		return -1;
	}
	log_info("%s now belongs to uid %u (wireguard-go makes its sockets there as that user)",
		 dir, (unsigned)uid);
	return 0;
}

/* Only CAP_NET_ADMIN in the effective and permitted sets. */
static bool only_net_admin(void)
{
	capng_get_caps_process();
	if (!capng_have_capability(CAPNG_EFFECTIVE, CAP_NET_ADMIN) ||
	    !capng_have_capability(CAPNG_PERMITTED, CAP_NET_ADMIN))
		return false;
	for (unsigned c = 0; c <= CAP_LAST_CAP; c++) {
		if (c == CAP_NET_ADMIN)
			continue;
		if (capng_have_capability(CAPNG_EFFECTIVE, c) ||
		    capng_have_capability(CAPNG_PERMITTED, c))
			return false;
	}
	return true;
}

static int raise_ambient(void)
{
	/* Ambient needs the capability in both permitted and inheritable. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0) < 0) {
		log_error("cannot raise CAP_NET_ADMIN in the ambient set: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int privs_drop(uid_t uid, gid_t gid)
{
	int rc;

	if (geteuid() != 0) {
		/* Started unprivileged (systemd with User= and
		 * AmbientCapabilities=): nothing to drop, but the one
		 * capability must be there. */
		capng_get_caps_process();
		if (!capng_have_capability(CAPNG_EFFECTIVE, CAP_NET_ADMIN)) {
			log_error("not root and no CAP_NET_ADMIN: start as root, or give the "
				  "capability (systemd: AmbientCapabilities=CAP_NET_ADMIN)");
			return -1;
		}
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_ADMIN, 0, 0) != 1) {
			capng_update(CAPNG_ADD, CAPNG_INHERITABLE, CAP_NET_ADMIN);
			if (capng_apply(CAPNG_SELECT_CAPS) < 0 || raise_ambient() < 0)
				log_warn("CAP_NET_ADMIN is not ambient: wireguard-go will not be "
					 "able to create its TUN device");
		}
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		return 0;
	}
	capng_clear(CAPNG_SELECT_BOTH);
	capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_INHERITABLE,
		     CAP_NET_ADMIN);
	rc = capng_change_id((int)uid, (int)gid, CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
	if (rc < 0) {
		log_error("cannot change to uid %u gid %u keeping CAP_NET_ADMIN (libcap-ng error "
			  "%d)",
			  (unsigned)uid, (unsigned)gid, rc);
		return -1;
	}
	if (raise_ambient() < 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_error("cannot set no_new_privs: %s", strerror(errno));
		return -1;
	}
	/* Verify rather than trust: the ids, that root cannot come back, and
	 * that exactly one capability is left. */
	if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid ||
	    setuid(0) == 0 || !only_net_admin()) {
		log_error("privilege drop did not take effect as expected");
		return -1;
	}
	return 0;
}

void privs_describe(char *buf, size_t size)
{
	char *caps;

	capng_get_caps_process();
	caps = capng_print_caps_text(CAPNG_PRINT_BUFFER, CAPNG_EFFECTIVE);
	snprintf(buf, size, "uid %u gid %u, effective capabilities: %s", (unsigned)geteuid(),
		 (unsigned)getegid(), caps && caps[0] ? caps : "none");
	free(caps);
}

int privs_check_tun(void)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		struct stat st;

		if (errno == EACCES && stat("/dev/net/tun", &st) == 0)
			log_error("uid %u cannot open /dev/net/tun (mode %03o): wireguard-go needs "
				  "it; Debian's udev makes it 0666 (chmod 0666 /dev/net/tun)",
				  (unsigned)geteuid(), (unsigned)(st.st_mode & 0777));
		else
			log_error("cannot open /dev/net/tun: %s", strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

int privs_tun_allowed(uid_t uid, gid_t gid)
{
	struct stat st;
	mode_t need;

	if (stat("/dev/net/tun", &st) < 0) {
		log_error("/dev/net/tun: %s (wireguard-go needs it)", strerror(errno));
		return -1;
	}
	need = st.st_uid == uid ? 0600 : st.st_gid == gid ? 0060 : 0006;
	if ((st.st_mode & need) == need)
		return 0;
	log_error("uid %u will not be able to open /dev/net/tun (mode %03o): wireguard-go needs "
		  "it; Debian's udev makes it 0666 (chmod 0666 /dev/net/tun)",
		  (unsigned)uid, (unsigned)(st.st_mode & 0777));
	return -1;
}
