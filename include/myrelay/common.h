/* SPDX-License-Identifier: MIT */
/*
 * Definitions shared by every public header of libmyrelay.
 */
#ifndef MYRELAY_COMMON_H
#define MYRELAY_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

/* Marks a declaration as part of the exported ABI. Every MR_API name is listed
 * in libmyrelay.map under a MYRELAY_x.y version node. */
#if defined(__GNUC__) || defined(__clang__)
#define MR_API __attribute__((visibility("default")))
#else
#define MR_API
#endif

#ifdef __cplusplus
#define MR_BEGIN_DECLS extern "C" {
#define MR_END_DECLS }
#else
#define MR_BEGIN_DECLS
#define MR_END_DECLS
#endif

#endif
