/*
 * tlsmem_self.c - the worker identity of core/tlsmem.h, in libmx_core so
 * that the dataplane sets it without linking the allocator.
 */
#include "core/tlsmem.h"

__thread unsigned mx_tlsmem_self;

void mx_tlsmem_enter(unsigned worker)
{
	mx_tlsmem_self = worker < MX_TLSMEM_MAX_WORKERS ? worker + 1 : 0;
}

void mx_tlsmem_leave(void)
{
	mx_tlsmem_self = 0;
}
