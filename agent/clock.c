/* The cached clocks. */
#include "clock.h"

struct clock_now clock_now;
