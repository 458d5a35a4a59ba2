/* SPDX-License-Identifier: MIT */
#ifndef MYRELAY_CIDR_H
#define MYRELAY_CIDR_H

#include <myrelay/common.h>

#endif
