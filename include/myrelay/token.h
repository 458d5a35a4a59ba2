/* SPDX-License-Identifier: MIT */
#ifndef MYRELAY_TOKEN_H
#define MYRELAY_TOKEN_H

#include <myrelay/common.h>

#endif
