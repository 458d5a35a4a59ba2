/* SPDX-License-Identifier: MIT */
#ifndef MYRELAY_NAME_H
#define MYRELAY_NAME_H

#include <myrelay/common.h>

#endif
