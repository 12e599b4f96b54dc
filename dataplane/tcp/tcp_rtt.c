/*
 * tcp_rtt.c - RFC 6298 retransmission timeout estimator.
 *
 * Fixed point in microseconds. Clock granularity G is the 1 ms timer tick.
 * Karn's rule is applied by the callers (no sample from a retransmitted
 * segment unless timestamps identify the transmission).
 */
#include "dataplane/tcp/tcp-int.h"

#define TCP_RTT_G_US 1000u

static uint32_t clamp_rto(const struct tcp_rtt *r, uint64_t rto)
{
	if (rto < r->min_us)
		rto = r->min_us;
	if (rto > r->max_us)
		rto = r->max_us;
	return (uint32_t)rto;
}

void tcp_rtt_init(struct tcp_rtt *r, uint32_t initial_us, uint32_t min_us, uint32_t max_us)
{
	r->srtt_us = 0;
	r->rttvar_us = 0;
	r->min_us = min_us;
	r->max_us = max_us;
	r->sampled = false;
	/* RFC 6298 2.1: before any sample RTO is the initial value; it is not
	 * raised to the minimum so tests can use small values. */
	r->rto_us = initial_us > max_us ? max_us : initial_us;
}

void tcp_rtt_sample(struct tcp_rtt *r, uint32_t m_us)
{
	uint64_t k;

	if (m_us == 0)
		m_us = 1;
	if (!r->sampled) {
		/* RFC 6298 2.2 */
		r->srtt_us = m_us;
		r->rttvar_us = m_us / 2;
		r->sampled = true;
	} else {
		/* RFC 6298 2.3, alpha = 1/8, beta = 1/4; RTTVAR first. */
		uint32_t err = r->srtt_us > m_us ? r->srtt_us - m_us : m_us - r->srtt_us;
		r->rttvar_us = (uint32_t)(((uint64_t)r->rttvar_us * 3 + err) / 4);
		r->srtt_us = (uint32_t)(((uint64_t)r->srtt_us * 7 + m_us) / 8);
	}
	k = 4ull * r->rttvar_us;
	if (k < TCP_RTT_G_US)
		k = TCP_RTT_G_US;
	r->rto_us = clamp_rto(r, (uint64_t)r->srtt_us + k);
}

uint32_t tcp_rtt_rto(const struct tcp_rtt *r, unsigned backoff)
{
	uint64_t rto = r->rto_us;

	if (backoff > 31)
		backoff = 31;
	rto <<= backoff;
	return rto > r->max_us ? r->max_us : (uint32_t)rto;
}
