/* SPDX-License-Identifier: MIT */
/* placeholder: module token is being written */
#include "internal.h"
