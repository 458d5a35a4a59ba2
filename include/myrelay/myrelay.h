/* SPDX-License-Identifier: MIT */
/*
 * libmyrelay: the MyRelay SDK. This umbrella header includes every public
 * module header.
 */
#ifndef MYRELAY_MYRELAY_H
#define MYRELAY_MYRELAY_H

#include <myrelay/common.h>
#include <myrelay/version.h>
#include <myrelay/error.h>
#include <myrelay/key.h>
#include <myrelay/cidr.h>
#include <myrelay/token.h>
#include <myrelay/conf.h>
#include <myrelay/name.h>
#include <myrelay/ctx.h>
#include <myrelay/fw.h>
#include <myrelay/wg.h>
#include <myrelay/store.h>
#include <myrelay/link.h>
#include <myrelay/api.h>
#include <myrelay/pod.h>
#include <myrelay/state.h>

#endif
