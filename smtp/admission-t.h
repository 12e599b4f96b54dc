/*
 * admission-t.h - types of connection admission per client (admission.h):
 * the limits, the refusal reasons, the counters and the ticket a connection
 * holds while it is admitted. Pure C, no DPDK, no liburcu here.
 */
#ifndef MX_SMTP_ADMISSION_T_H
#define MX_SMTP_ADMISSION_T_H

#include <stdint.h>

#include "core/counters.h"

/* The [smtp] admission keys; 0 turns a limit off. */
struct smtp_adm_limits {
	uint32_t max_conn_per_ip;  /* concurrent connections per client address */
	uint32_t max_conn_per_net; /* concurrent connections per /24 (IPv4), /64 (IPv6) */
	uint32_t rate_per_net;	   /* new connections per second per network */
	uint32_t burst_per_net;	   /* ... of which this many back to back (>= 1) */
	uint32_t reserve_pct;	   /* below this share of free slots on the worker,
				      only clients with no other connection */
};

/* Why a connection was refused (smtp_adm_admit()); 0 is "admitted". */
enum smtp_adm_verdict {
	SMTP_ADM_OK = 0,
	SMTP_ADM_REFUSE_IP,	 /* max_conn_per_ip reached */
	SMTP_ADM_REFUSE_NET,	 /* max_conn_per_net reached */
	SMTP_ADM_REFUSE_RATE,	 /* conn_rate_per_net exceeded */
	SMTP_ADM_REFUSE_RESERVE, /* slots in reserve, client has a connection */
};

/*
 * Per-worker counters: (name, type, help). Written by the owning worker
 * only (relaxed stores), read by anyone (relaxed loads).
 */
#define SMTP_ADM_COUNTERS(X)                                                                       \
	X(conns, GAUGE, "connections holding an admission ticket now")                             \
	X(admitted, COUNTER, "connections admitted by the per-client limits")                      \
	X(refused_ip, COUNTER, "connections refused 421 4.7.0: max_conn_per_ip")                   \
	X(refused_net, COUNTER, "connections refused 421 4.7.0: max_conn_per_net")                 \
	X(refused_rate, COUNTER, "connections refused 421 4.7.0: conn_rate_per_net")               \
	X(refused_reserve, COUNTER, "connections refused 421 4.7.0: slot reserve, client has one") \
	X(table_full, COUNTER, "connections admitted unchecked: admission table full (fail open)")

struct smtp_adm_counters {
	SMTP_ADM_COUNTERS(MX_CTR_X_FIELD)
};

struct smtp_adm_entry;

/* What an admitted connection holds until it ends: the entries it counted
 * on (NULL: that limit was off or the table was full). */
struct smtp_adm_ticket {
	struct smtp_adm_entry *ip;
	struct smtp_adm_entry *net;
};

#endif
