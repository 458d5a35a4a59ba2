/* SPDX-License-Identifier: MIT */
/*
 * Names: the rules for network interface names and for the labels that name
 * customers, nodes, peers and pods, and the interface name of a pod derived
 * from its id.
 *
 * Every name that reaches the kernel, a WireGuard configuration or a
 * firewall rule is checked here first, so the rules are deliberately narrow:
 * ASCII letters, digits and a few punctuation characters, nothing that a
 * shell, a path or a configuration parser would treat specially.
 */
#ifndef MYRELAY_NAME_H
#define MYRELAY_NAME_H

#include <myrelay/common.h>

MR_BEGIN_DECLS

/** Buffer size for an interface name including its NUL (the kernel's IFNAMSIZ). */
#define MR_NAME_IFNAMSIZ 16
/** Longest interface name in bytes, without the NUL. */
#define MR_NAME_IFNAME_MAX 15
/** Longest label in bytes, without the NUL. */
#define MR_NAME_LABEL_MAX 63
/** Prefix of every pod interface name. */
#define MR_NAME_POD_PREFIX "wg-"
/** Length of a pod interface name: the prefix and 6 lowercase hex digits. */
#define MR_NAME_POD_LEN 9

/**
 * Check an interface name: 1 to 15 bytes, each one of A-Z a-z 0-9 '_' '-',
 * and neither "." nor "..". (The kernel itself would take more, such as
 * spaces or ':'; these are refused because tools and configs mishandle them.)
 *
 * @param name NUL-terminated name.
 * @return 0, or MR_EINVAL with a detail such as "interface name: invalid
 *         character '/' at position 3" (positions count from 1; bytes that
 *         are not printable ASCII are shown in hex, "byte 0xc3") or
 *         "interface name: 16 bytes, at most 15 allowed". The detail never
 *         quotes the name itself.
 */
MR_API int mr_name_validate_interface(const char *name);

/**
 * The interface name of a pod: "wg-" followed by the first 3 bytes of
 * SHA-256(pod_id) in lowercase hex. The same pod id always gives the same
 * name. With 24 bits two pod ids can map to the same name: whoever places
 * pods on a node must check that the name is free there.
 *
 * @param out buffer receiving the NUL-terminated name; written only on success.
 * @param size size of out; at least MR_NAME_IFNAMSIZ.
 * @param pod_id the pod's id; must be a valid label (see
 *        mr_name_validate_label()).
 * @return 0, MR_EINVAL (NULL argument, or pod_id not a valid label; the detail
 *         starts with "pod id:"), MR_ETOOBIG (size too small) or MR_ECRYPTO.
 */
MR_API int mr_name_pod_interface(char *out, size_t size, const char *pod_id);

/**
 * Whether a name has the form of a pod interface: exactly "wg-" followed by
 * 6 lowercase hex digits. Says nothing about which pod it belongs to.
 *
 * @param name NUL-terminated name, or NULL.
 * @return true if it matches; false otherwise, and for NULL.
 */
MR_API bool mr_name_is_pod_interface(const char *name);

/**
 * Check a label, the name of a customer, node, peer or pod: 1 to 63 bytes,
 * the first one of A-Z a-z 0-9, the others of A-Z a-z 0-9 '.' '_' '@' '-'.
 *
 * @param label NUL-terminated label.
 * @return 0, or MR_EINVAL with a detail such as "label: invalid character
 *         ' ' at position 5" (positions count from 1; bytes that are not
 *         printable ASCII are shown in hex). The detail never quotes the
 *         label itself.
 */
MR_API int mr_name_validate_label(const char *label);

MR_END_DECLS

#endif
