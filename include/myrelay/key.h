/* SPDX-License-Identifier: MIT */
#ifndef MYRELAY_KEY_H
#define MYRELAY_KEY_H

#include <myrelay/common.h>

#endif
