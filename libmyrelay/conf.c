/* SPDX-License-Identifier: MIT */
/* placeholder: module conf is being written */
#include "internal.h"
