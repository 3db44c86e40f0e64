/* SPDX-License-Identifier: Apache-2.0 */
/* The cached clocks. */
#include "clock.h"

struct clock_now clock_now;
