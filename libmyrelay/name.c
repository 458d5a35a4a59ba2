/* SPDX-License-Identifier: MIT */
/* placeholder: module name is being written */
#include "internal.h"
