/* SPDX-License-Identifier: MIT */
/* placeholder: module key is being written */
#include "internal.h"
