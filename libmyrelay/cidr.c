/* SPDX-License-Identifier: MIT */
/* placeholder: module cidr is being written */
#include "internal.h"
