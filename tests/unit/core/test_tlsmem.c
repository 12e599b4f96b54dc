/*
 * test_tlsmem.c - OpenSSL's allocator bounded per worker (core/tlsmem.h):
 * the budget charged and given back, a free on another thread charged
 * back to the owner, refusal beyond the bound, realloc growth and
 * shrinking, plain threads unbounded, and OpenSSL itself through the
 * hooks.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/tlsmem.h"

#define H MX_TLSMEM_HDR

static uint64_t bytes(unsigned w)
{
	uint64_t b, m, r;

	mx_tlsmem_read(w, &b, &m, &r);
	return b;
}

static uint64_t refused(unsigned w)
{
	uint64_t b, m, r;

	mx_tlsmem_read(w, &b, &m, &r);
	return r;
}

static uint64_t high(unsigned w)
{
	uint64_t b, m, r;

	mx_tlsmem_read(w, &b, &m, &r);
	return m;
}

static void test_charge_release(void **state)
{
	void *a, *b;

	(void)state;
	mx_tlsmem_set_budget(1 << 20);
	mx_tlsmem_enter(1);
	a = mx_tlsmem_malloc(1000, __FILE__, __LINE__);
	b = mx_tlsmem_malloc(24, __FILE__, __LINE__);
	assert_non_null(a);
	assert_non_null(b);
	memset(a, 0xa5, 1000);
	assert_int_equal(bytes(1), 1000 + 24 + 2 * H);
	assert_int_equal(bytes(0), 0); /* worker 0 untouched */
	mx_tlsmem_free(a, __FILE__, __LINE__);
	assert_int_equal(bytes(1), 24 + H);
	mx_tlsmem_free(b, __FILE__, __LINE__);
	mx_tlsmem_free(NULL, __FILE__, __LINE__);
	assert_int_equal(bytes(1), 0);
	assert_true(high(1) >= 1000 + 24 + 2 * H);
	mx_tlsmem_leave();
}

static void test_refusal(void **state)
{
	void *a, *b, *c;
	uint64_t r0;

	(void)state;
	mx_tlsmem_set_budget(4096);
	mx_tlsmem_enter(2);
	r0 = refused(2);
	a = mx_tlsmem_malloc(3000, __FILE__, __LINE__);
	assert_non_null(a);
	b = mx_tlsmem_malloc(2000, __FILE__, __LINE__); /* 5000 + 2H > 4096 */
	assert_null(b);
	assert_int_equal(refused(2), r0 + 1);
	assert_int_equal(bytes(2), 3000 + H); /* the refused octets not kept */
	c = mx_tlsmem_malloc(4096 - 3000 - 2 * H, __FILE__, __LINE__); /* exactly the bound */
	assert_non_null(c);
	assert_int_equal(bytes(2), 4096);
	mx_tlsmem_free(a, __FILE__, __LINE__);
	mx_tlsmem_free(c, __FILE__, __LINE__);
	assert_int_equal(bytes(2), 0);
	/* After freeing, the same request succeeds. */
	b = mx_tlsmem_malloc(2000, __FILE__, __LINE__);
	assert_non_null(b);
	mx_tlsmem_free(b, __FILE__, __LINE__);
	assert_int_equal(bytes(2), 0);
	mx_tlsmem_leave();
	/* A plain thread is not bounded. */
	a = mx_tlsmem_malloc(1 << 20, __FILE__, __LINE__);
	assert_non_null(a);
	mx_tlsmem_free(a, __FILE__, __LINE__);
	assert_int_equal(bytes(2), 0);
	mx_tlsmem_set_budget(SIZE_MAX);
}

static void test_resize(void **state)
{
	char *p, *q;
	uint64_t r0;

	(void)state;
	mx_tlsmem_set_budget(10000);
	mx_tlsmem_enter(3);
	r0 = refused(3);
	p = mx_tlsmem_realloc(NULL, 100, __FILE__, __LINE__);
	assert_non_null(p);
	memset(p, 'x', 100);
	assert_int_equal(bytes(3), 100 + H);
	p = mx_tlsmem_realloc(p, 5000, __FILE__, __LINE__); /* growth */
	assert_non_null(p);
	assert_int_equal(p[99], 'x');
	assert_int_equal(bytes(3), 5000 + H);
	q = mx_tlsmem_realloc(p, 20000, __FILE__, __LINE__); /* beyond: refused, p kept */
	assert_null(q);
	assert_int_equal(refused(3), r0 + 1);
	assert_int_equal(bytes(3), 5000 + H);
	p = mx_tlsmem_realloc(p, 50, __FILE__, __LINE__); /* shrink */
	assert_non_null(p);
	assert_int_equal(p[49], 'x');
	assert_int_equal(bytes(3), 50 + H);
	assert_null(mx_tlsmem_realloc(p, 0, __FILE__, __LINE__)); /* frees */
	assert_int_equal(bytes(3), 0);
	/* A plain thread's block reallocated on a worker moves to the
	 * worker's budget; the worker's block reallocated by a plain thread
	 * goes back. */
	mx_tlsmem_leave();
	p = mx_tlsmem_malloc(64, __FILE__, __LINE__);
	strcpy(p, "plain");
	mx_tlsmem_enter(3);
	p = mx_tlsmem_realloc(p, 128, __FILE__, __LINE__);
	assert_non_null(p);
	assert_string_equal(p, "plain");
	assert_int_equal(bytes(3), 128 + H);
	mx_tlsmem_leave();
	p = mx_tlsmem_realloc(p, 256, __FILE__, __LINE__);
	assert_non_null(p);
	assert_string_equal(p, "plain");
	assert_int_equal(bytes(3), 0);
	mx_tlsmem_free(p, __FILE__, __LINE__);
	mx_tlsmem_set_budget(SIZE_MAX);
}

struct xfree {
	void *p[64];
	unsigned n;
};

static void *control_thread(void *arg)
{
	struct xfree *x = arg;

	/* A plain thread: frees what worker 4 allocated. */
	for (unsigned i = 0; i < x->n; i++)
		mx_tlsmem_free(x->p[i], __FILE__, __LINE__);
	return NULL;
}

static void *worker_thread(void *arg)
{
	struct xfree *x = arg;

	mx_tlsmem_enter(4);
	for (unsigned i = 0; i < 64; i++)
		x->p[x->n++] = mx_tlsmem_malloc(32 + i * 100, __FILE__, __LINE__);
	return NULL;
}

static void test_cross_thread_free(void **state)
{
	struct xfree x = {.n = 0};
	pthread_t t;
	uint64_t want = 0;

	(void)state;
	mx_tlsmem_set_budget(1 << 20);
	assert_int_equal(pthread_create(&t, NULL, worker_thread, &x), 0);
	pthread_join(t, NULL);
	for (unsigned i = 0; i < 64; i++) {
		assert_non_null(x.p[i]);
		want += 32 + i * 100 + H;
	}
	assert_int_equal(bytes(4), want);
	assert_int_equal(pthread_create(&t, NULL, control_thread, &x), 0);
	pthread_join(t, NULL);
	assert_int_equal(bytes(4), 0);
	mx_tlsmem_set_budget(SIZE_MAX);
}

/* OpenSSL's own allocations go through the hooks: a digest context made
 * on a worker is charged, and a tiny budget makes it fail. */
static void test_openssl_through_hooks(void **state)
{
	EVP_MD_CTX *ctx;
	uint64_t r0;

	(void)state;
	mx_tlsmem_enter(5);
	ctx = EVP_MD_CTX_new();
	assert_non_null(ctx);
	assert_true(bytes(5) > 0);
	EVP_MD_CTX_free(ctx);
	assert_int_equal(bytes(5), 0);
	mx_tlsmem_set_budget(8);
	r0 = refused(5);
	assert_null(EVP_MD_CTX_new());
	assert_int_equal(refused(5), r0 + 1);
	mx_tlsmem_set_budget(SIZE_MAX);
	mx_tlsmem_leave();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_charge_release),
		cmocka_unit_test(test_refusal),
		cmocka_unit_test(test_resize),
		cmocka_unit_test(test_cross_thread_free),
		cmocka_unit_test(test_openssl_through_hooks),
	};

	/* Before anything touches OpenSSL, as in main(). */
	if (mx_tlsmem_init(SIZE_MAX) != 0 || mx_tlsmem_arenas(8) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
