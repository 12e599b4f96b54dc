/*
 * test_admission.c - cmocka tests of admission per client (smtp/
 * admission.h) without EAL: limits per address and per network (IPv4 /24,
 * IPv6 /64), the network's rate bucket on a virtual clock, the slot
 * reserve, release through a slot binding, ageing, a full table (fail
 * open; the reserve refuses), the 421 text, two worker handles on one
 * shared table, and the connection layer's release hook (fake_conn.h: a
 * slot released by CLOSED or by an abort gives its ticket back). The test thread is a registered
 * liburcu QSBR reader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <urcu-qsbr.h>

#include "fake_conn.h"
#include "smtp/admission.h"

#define SLOTS 100

struct afx {
	struct smtp_adm *a;
	struct smtp_adm_worker *w, *w2;
};

static struct smtp_peer v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct smtp_peer p = {.family = 4, .port = 40000, .addr = {a, b, c, d}};
	return p;
}

static struct smtp_peer v6(uint16_t net, uint16_t host)
{
	struct smtp_peer p = {
		.family = 6,
		.port = 40000,
		.addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, (uint8_t)(net >> 8),
			 (uint8_t)net, [14] = (uint8_t)(host >> 8), [15] = (uint8_t)host}};
	return p;
}

static int fx_make(void **state, unsigned entries, const struct smtp_adm_limits *lim)
{
	struct afx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->a = smtp_adm_create(entries);
	assert_non_null(f->a);
	f->w = smtp_adm_worker_create(f->a, 0, SLOTS, NULL);
	f->w2 = smtp_adm_worker_create(f->a, 1, SLOTS, NULL);
	assert_non_null(f->w);
	assert_non_null(f->w2);
	smtp_adm_worker_set(f->w, lim, "mx.example.test");
	smtp_adm_worker_set(f->w2, lim, "mx.example.test");
	*state = f;
	return 0;
}

static int setup(void **state)
{
	struct smtp_adm_limits lim = {.max_conn_per_ip = 3, .max_conn_per_net = 5};
	return fx_make(state, 1024, &lim);
}

static int teardown(void **state)
{
	struct afx *f = *state;

	smtp_adm_worker_destroy(f->w);
	smtp_adm_worker_destroy(f->w2);
	rcu_thread_offline();
	smtp_adm_destroy(f->a);
	rcu_thread_online();
	free(f);
	return 0;
}

/* Admit with every slot free. */
static enum smtp_adm_verdict admit(struct smtp_adm_worker *w, struct smtp_peer p, uint64_t now,
				   struct smtp_adm_ticket *t)
{
	return smtp_adm_admit(w, &p, SLOTS, SLOTS, now, t);
}

static struct smtp_adm_counters ctr(struct smtp_adm_worker *w)
{
	struct smtp_adm_counters c;
	smtp_adm_worker_counters(w, &c);
	return c;
}

/* Retired entries come back after a grace period. */
static void age_all(struct afx *f, uint64_t now)
{
	smtp_adm_age(f->a, now);
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
}

static void test_per_ip(void **state)
{
	struct afx *f = *state;
	struct smtp_adm_ticket t[4], o;

	for (int i = 0; i < 3; i++)
		assert_int_equal(admit(f->w, v4(198, 18, 0, 10), 1, &t[i]), SMTP_ADM_OK);
	/* The fourth from the same address, on either worker: refused. */
	assert_int_equal(admit(f->w, v4(198, 18, 0, 10), 1, &t[3]), SMTP_ADM_REFUSE_IP);
	assert_null(t[3].ip);
	assert_int_equal(admit(f->w2, v4(198, 18, 0, 10), 1, &t[3]), SMTP_ADM_REFUSE_IP);
	/* Another address of the same /24 still gets in. */
	assert_int_equal(admit(f->w, v4(198, 18, 0, 11), 1, &o), SMTP_ADM_OK);
	assert_int_equal(ctr(f->w).refused_ip, 1);
	assert_int_equal(ctr(f->w2).refused_ip, 1);
	assert_int_equal(ctr(f->w).conns, 4);
	/* One closes (released on another worker: counts are shared): one more. */
	smtp_adm_release(f->w, &t[0]);
	assert_null(t[0].ip);
	assert_int_equal(admit(f->w2, v4(198, 18, 0, 10), 1, &t[0]), SMTP_ADM_OK);
	for (int i = 0; i < 3; i++)
		smtp_adm_release(i == 0 ? f->w2 : f->w, &t[i]);
	smtp_adm_release(f->w, &o);
	assert_int_equal(ctr(f->w).conns, 0);
	assert_int_equal(ctr(f->w2).conns, 0);
	assert_int_equal(smtp_adm_entries(f->a), 3); /* two addresses, one /24 */
	age_all(f, 1);
	assert_int_equal(smtp_adm_entries(f->a), 0);
}

static void test_per_net(void **state)
{
	struct afx *f = *state;
	struct smtp_adm_ticket t[6], o;

	/* Five addresses of 198.18.0.0/24, one each: the net limit is 5. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(admit(f->w, v4(198, 18, 0, (uint8_t)(20 + i)), 1, &t[i]),
				 SMTP_ADM_OK);
	assert_int_equal(admit(f->w, v4(198, 18, 0, 99), 1, &t[5]), SMTP_ADM_REFUSE_NET);
	assert_int_equal(ctr(f->w).refused_net, 1);
	/* Another /24 is another network. */
	assert_int_equal(admit(f->w, v4(198, 18, 1, 99), 1, &o), SMTP_ADM_OK);
	smtp_adm_release(f->w, &o);
	for (int i = 0; i < 5; i++)
		smtp_adm_release(f->w, &t[i]);
	assert_int_equal(admit(f->w, v4(198, 18, 0, 99), 1, &t[5]), SMTP_ADM_OK);
	smtp_adm_release(f->w, &t[5]);
	age_all(f, 1);
	assert_int_equal(smtp_adm_entries(f->a), 0);
}

static void test_ipv6_net(void **state)
{
	struct afx *f = *state;
	struct smtp_adm_ticket t[6], o;

	/* Different addresses of one /64 share the network count. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(admit(f->w, v6(1, (uint16_t)(i + 1)), 1, &t[i]), SMTP_ADM_OK);
	assert_int_equal(admit(f->w, v6(1, 77), 1, &t[5]), SMTP_ADM_REFUSE_NET);
	assert_int_equal(admit(f->w, v6(2, 77), 1, &o), SMTP_ADM_OK);
	/* The same address is limited per address. */
	smtp_adm_release(f->w, &o);
	smtp_adm_release(f->w, &t[4]);
	smtp_adm_release(f->w, &t[3]);
	smtp_adm_release(f->w, &t[2]);
	assert_int_equal(admit(f->w, v6(1, 1), 1, &t[3]), SMTP_ADM_OK);
	assert_int_equal(admit(f->w, v6(1, 1), 1, &t[4]), SMTP_ADM_OK);
	assert_int_equal(admit(f->w, v6(1, 1), 1, &o), SMTP_ADM_REFUSE_IP);
	for (int i = 0; i < 5; i++)
		smtp_adm_release(f->w, &t[i]);
	age_all(f, 1);
	assert_int_equal(smtp_adm_entries(f->a), 0);
}

static void test_rate_bucket(void **state)
{
	struct afx *f = *state;
	struct smtp_adm_limits lim = {.rate_per_net = 10, .burst_per_net = 3};
	struct smtp_adm_ticket t;
	uint64_t now = 5000000; /* µs, virtual */
	unsigned ok = 0;

	smtp_adm_worker_set(f->w, &lim, NULL);
	smtp_adm_worker_set(f->w2, &lim, NULL);
	/* A burst of 3 back to back, from any address of the /24, any worker. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(admit(i & 1 ? f->w2 : f->w, v4(198, 18, 0, (uint8_t)i), now, &t),
				 SMTP_ADM_OK);
		smtp_adm_release(i & 1 ? f->w2 : f->w, &t);
	}
	assert_int_equal(admit(f->w, v4(198, 18, 0, 50), now, &t), SMTP_ADM_REFUSE_RATE);
	assert_int_equal(ctr(f->w).refused_rate, 1);
	/* Another network has its own bucket. */
	assert_int_equal(admit(f->w, v4(198, 18, 7, 1), now, &t), SMTP_ADM_OK);
	smtp_adm_release(f->w, &t);
	/* 10/s: one token every 100 ms. */
	assert_int_equal(admit(f->w, v4(198, 18, 0, 50), now + 99999, &t), SMTP_ADM_REFUSE_RATE);
	assert_int_equal(admit(f->w, v4(198, 18, 0, 50), now + 100000, &t), SMTP_ADM_OK);
	smtp_adm_release(f->w, &t);
	assert_int_equal(admit(f->w, v4(198, 18, 0, 50), now + 100000, &t), SMTP_ADM_REFUSE_RATE);
	/* Not aged while the bucket is not full. */
	smtp_adm_age(f->a, now + 100000);
	assert_int_equal(smtp_adm_entries(f->a), 1);
	/* Ten seconds later the bucket holds the burst, no more. */
	now += 10000000;
	for (int i = 0; i < 10; i++) {
		if (admit(f->w, v4(198, 18, 0, 60), now, &t) == SMTP_ADM_OK) {
			ok++;
			smtp_adm_release(f->w, &t);
		}
	}
	assert_int_equal(ok, 3);
	/* Full again after 300 ms: then it can be forgotten. */
	age_all(f, now + 299999);
	assert_int_equal(smtp_adm_entries(f->a), 1);
	age_all(f, now + 300000);
	assert_int_equal(smtp_adm_entries(f->a), 0);
}

/* A network at its connection limit and out of tokens: refused for the
 * rate, and nothing is given back that was not counted. */
static void test_net_limit_and_rate(void **state)
{
	struct afx *f = *state;
	struct smtp_adm_limits lim = {.max_conn_per_net = 2, .rate_per_net = 1, .burst_per_net = 2};
	struct smtp_adm_ticket t[2], x;

	smtp_adm_worker_set(f->w, &lim, NULL);
	assert_int_equal(admit(f->w, v4(198, 18, 0, 1), 1000000, &t[0]), SMTP_ADM_OK);
	assert_int_equal(admit(f->w, v4(198, 18, 0, 2), 1000000, &t[1]), SMTP_ADM_OK);
	assert_int_equal(admit(f->w, v4(198, 18, 0, 3), 1000000, &x), SMTP_ADM_REFUSE_RATE);
	assert_null(x.net);
	/* Tokens back, the count still at its limit. */
	assert_int_equal(admit(f->w, v4(198, 18, 0, 3), 3000000, &x), SMTP_ADM_REFUSE_NET);
	smtp_adm_release(f->w, &t[0]);
	assert_int_equal(admit(f->w, v4(198, 18, 0, 3), 5000000, &t[0]), SMTP_ADM_OK);
	assert_int_equal(admit(f->w, v4(198, 18, 0, 4), 5000000, &x), SMTP_ADM_REFUSE_NET);
	smtp_adm_release(f->w, &t[0]);
	smtp_adm_release(f->w, &t[1]);
	assert_int_equal(ctr(f->w).conns, 0);
	age_all(f, 10000000);
	assert_int_equal(smtp_adm_entries(f->a), 0);
}

static void test_reserve(void **state)
{
	struct afx *f = *state;
	struct smtp_adm_limits lim = {.reserve_pct = 10};
	struct smtp_adm_ticket a1, a2, b1;
	struct smtp_peer a = v4(198, 18, 0, 10), b = v4(198, 18, 0, 11);

	smtp_adm_worker_set(f->w, &lim, NULL);
	assert_int_equal(smtp_adm_admit(f->w, &a, 50, SLOTS, 1, &a1), SMTP_ADM_OK);
	/* Plenty of slots: a second one from the same client is fine (and
	 * counted on its address: the reserve needs to know). */
	assert_int_equal(smtp_adm_admit(f->w, &a, 10, SLOTS, 1, &a2), SMTP_ADM_OK);
	assert_non_null(a2.ip);
	smtp_adm_release(f->w, &a2);
	/* 9 % free: the client with a connection is refused, a new one not. */
	assert_int_equal(smtp_adm_admit(f->w, &a, 9, SLOTS, 1, &a2), SMTP_ADM_REFUSE_RESERVE);
	assert_int_equal(smtp_adm_admit(f->w, &b, 9, SLOTS, 1, &b1), SMTP_ADM_OK);
	assert_non_null(b1.ip);
	assert_int_equal(smtp_adm_admit(f->w, &b, 0, SLOTS, 1, &a2), SMTP_ADM_REFUSE_RESERVE);
	assert_int_equal(ctr(f->w).refused_reserve, 2);
	smtp_adm_release(f->w, &b1);
	assert_int_equal(smtp_adm_admit(f->w, &b, 0, SLOTS, 1, &b1), SMTP_ADM_OK);
	smtp_adm_release(f->w, &b1);
	smtp_adm_release(f->w, &a1);
	age_all(f, 1);
	assert_int_equal(smtp_adm_entries(f->a), 0);
}

static void test_reserve_and_ip_limit(void **state)
{
	struct afx *f = *state;
	struct smtp_adm_limits lim = {.max_conn_per_ip = 1, .reserve_pct = 10};
	struct smtp_adm_ticket a1, a2;
	struct smtp_peer a = v4(198, 18, 0, 10);

	smtp_adm_worker_set(f->w, &lim, NULL);
	assert_int_equal(smtp_adm_admit(f->w, &a, 5, SLOTS, 1, &a1), SMTP_ADM_OK);
	/* Over its own limit: the reason is the limit, not the reserve. */
	assert_int_equal(smtp_adm_admit(f->w, &a, 5, SLOTS, 1, &a2), SMTP_ADM_REFUSE_IP);
	smtp_adm_release(f->w, &a1);
}

/* A slot binding gives back what the connection counted when the slot is
 * released (the connection layer's release hook). */
static void test_bind_release(void **state)
{
	struct afx *f = *state;
	struct smtp_adm_ticket t[3], x;

	for (int i = 0; i < 3; i++) {
		assert_int_equal(admit(f->w, v4(198, 18, 0, 10), 1, &t[i]), SMTP_ADM_OK);
		smtp_adm_bind(f->w, (uint32_t)i, &t[i]);
		assert_null(t[i].ip); /* moved */
	}
	assert_int_equal(admit(f->w, v4(198, 18, 0, 10), 1, &x), SMTP_ADM_REFUSE_IP);
	smtp_adm_unbind(f->w, 1);
	smtp_adm_unbind(f->w, 1); /* twice: nothing more */
	smtp_adm_unbind(f->w, SLOTS + 5);
	assert_int_equal(ctr(f->w).conns, 2);
	assert_int_equal(admit(f->w, v4(198, 18, 0, 10), 1, &x), SMTP_ADM_OK);
	smtp_adm_bind(f->w, 1, &x);
	smtp_adm_unbind(f->w, 0);
	smtp_adm_unbind(f->w, 1);
	smtp_adm_unbind(f->w, 2);
	assert_int_equal(ctr(f->w).conns, 0);
	age_all(f, 1);
	assert_int_equal(smtp_adm_entries(f->a), 0);
}

/* Two entries for three clients: the third is admitted unchecked and
 * counted; under the reserve it is refused. Aged entries are reused. */
static void test_table_full(void **state)
{
	struct smtp_adm_limits lim = {.max_conn_per_ip = 1};
	struct smtp_adm_ticket a, b, c, c2, d;
	struct afx *f;

	teardown(state);
	fx_make(state, 2, &lim);
	f = *state;
	assert_int_equal(admit(f->w, v4(10, 0, 0, 1), 1, &a), SMTP_ADM_OK);
	assert_int_equal(admit(f->w, v4(10, 0, 0, 2), 1, &b), SMTP_ADM_OK);
	assert_int_equal(admit(f->w, v4(10, 0, 0, 3), 1, &c), SMTP_ADM_OK);
	assert_null(c.ip);
	assert_int_equal(admit(f->w, v4(10, 0, 0, 3), 1, &c2), SMTP_ADM_OK); /* fail open */
	assert_int_equal(ctr(f->w).table_full, 2);
	assert_int_equal(ctr(f->w).conns, 2);
	lim.reserve_pct = 10;
	smtp_adm_worker_set(f->w, &lim, NULL);
	assert_int_equal(smtp_adm_admit(f->w,
					&(struct smtp_peer){.family = 4, .addr = {10, 0, 0, 4}}, 1,
					SLOTS, 1, &d),
			 SMTP_ADM_REFUSE_RESERVE);
	smtp_adm_release(f->w, &c); /* empty tickets: no-ops */
	smtp_adm_release(f->w, &c2);
	smtp_adm_release(f->w, &a);
	age_all(f, 1);
	assert_int_equal(smtp_adm_entries(f->a), 1);
	assert_int_equal(admit(f->w, v4(10, 0, 0, 3), 1, &c), SMTP_ADM_OK);
	assert_non_null(c.ip);
	assert_int_equal(admit(f->w, v4(10, 0, 0, 3), 1, &c2), SMTP_ADM_REFUSE_IP);
	smtp_adm_release(f->w, &c);
	smtp_adm_release(f->w, &b);
	assert_int_equal(ctr(f->w).conns, 0);
}

static void test_reply_text(void **state)
{
	struct afx *f = *state;
	struct smtp_peer p = v4(198, 18, 0, 10), q = v6(1, 2);
	char buf[300];
	size_t n = smtp_adm_reply(f->w, &p, buf, sizeof(buf));

	assert_int_equal(n, strlen(buf));
	assert_string_equal(
		buf, "421 4.7.0 mx.example.test Error: too many connections from 198.18.0.10\r\n");
	smtp_adm_reply(f->w, &q, buf, sizeof(buf));
	assert_string_equal(
		buf,
		"421 4.7.0 mx.example.test Error: too many connections from 2001:db8:0:1::2\r\n");
	assert_int_equal(smtp_adm_reply(f->w, &p, buf, 20), 0);
}

/* Limits off: nothing is looked up or counted. */
static void test_off(void **state)
{
	struct afx *f = *state;
	struct smtp_adm_limits lim = {0};
	struct smtp_adm_ticket t;

	smtp_adm_worker_set(f->w, &lim, NULL);
	for (int i = 0; i < 100; i++)
		assert_int_equal(admit(f->w, v4(198, 18, 0, 10), 1, &t), SMTP_ADM_OK);
	assert_int_equal(smtp_adm_entries(f->a), 0);
	assert_int_equal(ctr(f->w).admitted, 100);
	assert_int_equal(ctr(f->w).conns, 0);
}

/* The connection layer gives a slot's ticket back whenever the slot is
 * released: transport CLOSED, or the host's abort. */
static void test_conn_release_hook(void **state)
{
	struct afx *f = *state;
	struct fx *h = fx_create(4);
	struct smtp_conn_table *tab = smtp_host_conns(h->h);
	struct smtp_adm_worker *w = smtp_adm_worker_create(f->a, 7, 4, tab);
	struct smtp_adm_limits lim = {.max_conn_per_ip = 2};
	struct smtp_peer p = {.family = 4, .port = 40000, .addr = {192, 0, 2, 1}};
	struct smtp_adm_ticket t;

	assert_non_null(w);
	assert_ptr_equal(smtp_adm_worker_conns(w), tab);
	smtp_adm_worker_set(w, &lim, NULL);
	smtp_conn_on_release(tab, smtp_adm_unbind, w);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(smtp_adm_admit(w, &p, 4, 4, 1, &t), SMTP_ADM_OK);
		assert_non_null(connect_client(h, i));
		smtp_adm_bind(w, h->c[i]->slot, &t);
	}
	assert_int_equal(smtp_adm_admit(w, &p, 2, 4, 1, &t), SMTP_ADM_REFUSE_IP);
	/* QUIT, then the transport reports CLOSED: the slot and its ticket go. */
	client(h, 0, "QUIT\r\n");
	smtp_conn_event(h->c[0], SMTP_CONN_EV_CLOSED);
	assert_int_equal(ctr(w).conns, 1);
	assert_int_equal(smtp_adm_admit(w, &p, 3, 4, 1, &t), SMTP_ADM_OK);
	assert_non_null(connect_client(h, 2));
	smtp_adm_bind(w, h->c[2]->slot, &t);
	/* The host drops a client (reset): released without an event. */
	smtp_conn_abort(h->c[1]);
	assert_int_equal(h->tr[1].aborted, 1);
	assert_int_equal(ctr(w).conns, 1);
	fx_destroy(h); /* CLOSED for the rest */
	assert_int_equal(ctr(w).conns, 0);
	smtp_adm_worker_destroy(w);
	age_all(f, 1);
	assert_int_equal(smtp_adm_entries(f->a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_per_ip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_net, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_net, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_bucket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_net_limit_and_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve_and_ip_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conn_release_hook, setup, teardown),
	};
	int rc;

	rcu_register_thread();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	return rc;
}
