// SPDX-License-Identifier: GPL-2.0
/* What only other modules use: the count of guest pages they map (xen2mx-back.ko). */
#include <linux/export.h>

#include "xen2mx_kernel.h"

void x2m_grants_mapped_add(long pages)
{
	x2m_global_add(XEN2MX_CTR_GRANTS_MAPPED, pages);
}
EXPORT_SYMBOL_GPL(x2m_grants_mapped_add);
