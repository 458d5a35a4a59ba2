/* SPDX-License-Identifier: MIT */
#ifndef MYRELAY_CONF_H
#define MYRELAY_CONF_H

#include <myrelay/common.h>

#endif
