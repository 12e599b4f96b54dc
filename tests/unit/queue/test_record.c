/*
 * test_record.c - spool record format and queue ids (no threads, no files).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "spool_test_util.h"

static const struct spool_qid QID = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};

static void test_crc32c_vector(void **state)
{
	(void)state;
	assert_int_equal(spool_crc32c(0, "123456789", 9), 0xe3069283u);
	/* chaining */
	assert_int_equal(spool_crc32c(spool_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
	assert_int_equal(spool_crc32c(0, "", 0), 0);
}

/* Encode a record, check it, return its total length. */
static long enc(uint8_t *out, size_t cap, uint32_t salt, enum spool_rec_type t, const void *p,
		uint32_t len)
{
	int n = spool_rec_encode(out, cap, salt, t, 4242, &QID, p, len);
	struct spool_rec_hdr h;

	assert_true(n > 0);
	assert_int_equal(spool_rec_check(out, (size_t)n, salt, &h), n);
	assert_int_equal(h.type, t);
	assert_int_equal(h.len, len);
	assert_int_equal(h.off, 4242);
	assert_true(spool_qid_eq(&h.qid, &QID));
	assert_memory_equal(out + SPOOL_REC_HDR_LEN, p, len);
	return n;
}

static void test_roundtrip_all_types(void **state)
{
	uint8_t rec[8192], p[4096];
	(void)state;

	/* FILEHDR */
	struct spool_filehdr fh = {7, 0xdeadbeef, 99, 123456, 1700000000000000ULL}, fh2;
	spool_filehdr_encode(p, &fh);
	enc(rec, sizeof(rec), 0, SPOOL_REC_FILEHDR, p, SPOOL_FILEHDR_PAYLOAD);
	assert_int_equal(spool_filehdr_decode(rec + SPOOL_REC_HDR_LEN, SPOOL_FILEHDR_PAYLOAD, &fh2),
			 0);
	assert_int_equal(fh2.worker, 7);
	assert_int_equal(fh2.salt, 0xdeadbeef);
	assert_int_equal(fh2.seq, 99);
	assert_int_equal(fh2.lstart, 123456);
	assert_int_equal(fh2.created_us, fh.created_us);

	/* ENVELOPE */
	struct spool_envelope env = tu_env(3), d;
	struct spool_rcpt r[3];
	long sz = spool_env_encode(&env, p, sizeof(p));
	assert_true(sz > 0);
	assert_int_equal(sz, spool_env_size(&env));
	enc(rec, sizeof(rec), 17, SPOOL_REC_ENVELOPE, p, (uint32_t)sz);
	assert_int_equal(spool_env_decode(rec + SPOOL_REC_HDR_LEN, (uint32_t)sz, &d, r, 3), 0);
	assert_int_equal(d.arrival_us, env.arrival_us);
	assert_int_equal(d.family, 4);
	assert_memory_equal(d.addr, env.addr, 16);
	assert_int_equal(d.port, env.port);
	assert_string_equal(d.helo, env.helo);
	assert_string_equal(d.tls_proto, env.tls_proto);
	assert_string_equal(d.tls_cipher, env.tls_cipher);
	assert_string_equal(d.mail_from, env.mail_from);
	assert_string_equal(d.mail_params, env.mail_params);
	assert_int_equal(d.nrcpt, 3);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(d.rcpt[i].addr, tu_rcpt[i].addr);
		assert_int_equal(d.rcpt[i].notify, tu_rcpt[i].notify);
		if (tu_rcpt[i].orcpt)
			assert_string_equal(d.rcpt[i].orcpt, tu_rcpt[i].orcpt);
		else
			assert_null(d.rcpt[i].orcpt);
		if (tu_rcpt[i].params)
			assert_string_equal(d.rcpt[i].params, tu_rcpt[i].params);
		else
			assert_null(d.rcpt[i].params);
	}

	/* BODY, including an empty one */
	tu_fill(p, 3000, 5, 0);
	enc(rec, sizeof(rec), 17, SPOOL_REC_BODY, p, 3000);
	enc(rec, sizeof(rec), 17, SPOOL_REC_BODY, p, 0);

	/* END */
	struct spool_end e = {1000, 2000, 0xabcdef01, 3, 4}, e2;
	spool_end_encode(p, &e);
	enc(rec, sizeof(rec), 17, SPOOL_REC_END, p, SPOOL_END_PAYLOAD);
	assert_int_equal(spool_end_decode(rec + SPOOL_REC_HDR_LEN, SPOOL_END_PAYLOAD, &e2), 0);
	assert_int_equal(e2.env_off, 1000);
	assert_int_equal(e2.body_len, 2000);
	assert_int_equal(e2.msg_crc, 0xabcdef01);
	assert_int_equal(e2.nbody, 3);
	assert_int_equal(e2.nrcpt, 4);

	/* DONE */
	uint32_t rc;
	enum spool_rcpt_state st;
	uint64_t t;
	spool_done_encode(p, 2, SPOOL_RCPT_HELD, 77);
	enc(rec, sizeof(rec), 17, SPOOL_REC_DONE, p, SPOOL_DONE_PAYLOAD);
	assert_int_equal(
		spool_done_decode(rec + SPOOL_REC_HDR_LEN, SPOOL_DONE_PAYLOAD, &rc, &st, &t), 0);
	assert_int_equal(rc, 2);
	assert_int_equal(st, SPOOL_RCPT_HELD);
	assert_int_equal(t, 77);
	p[4] = 0; /* PENDING is never written */
	assert_int_equal(spool_done_decode(p, SPOOL_DONE_PAYLOAD, &rc, &st, &t), -EBADMSG);
}

static void test_envelope_variants(void **state)
{
	uint8_t p[4096];
	struct spool_envelope env = tu_env(2), d;
	struct spool_rcpt r[3];
	long sz;
	(void)state;

	/* IPv6, no TLS, no MAIL parameters, null sender */
	env.family = 6;
	memset(env.addr, 0x20, 16);
	env.tls_proto = env.tls_cipher = NULL;
	env.mail_params = NULL;
	env.mail_from = "";
	sz = spool_env_encode(&env, p, sizeof(p));
	assert_true(sz > 0);
	assert_int_equal(spool_env_decode(p, (uint32_t)sz, &d, r, 3), 0);
	assert_int_equal(d.family, 6);
	assert_null(d.tls_proto);
	assert_null(d.tls_cipher);
	assert_null(d.mail_params);
	assert_string_equal(d.mail_from, "");
	/* too many recipients for the caller's array */
	assert_int_equal(spool_env_decode(p, (uint32_t)sz, &d, r, 1), -E2BIG);
	assert_int_equal(d.nrcpt, 2);
	/* every truncation is refused, none crashes */
	for (long n = 0; n < sz; n++)
		assert_int_not_equal(spool_env_decode(p, (uint32_t)n, &d, r, 3), 0);
	/* bad encodes */
	assert_int_equal(spool_env_encode(&env, p, (size_t)sz - 1), -ENOSPC);
	env.family = 5;
	assert_int_equal(spool_env_size(&env), -EINVAL);
	env.family = 4;
	env.helo = NULL;
	assert_int_equal(spool_env_size(&env), -EINVAL);
	env.helo = "x";
	env.nrcpt = 0;
	assert_int_equal(spool_env_size(&env), -EINVAL);
}

static void test_crc_detects_every_bit_flip(void **state)
{
	uint8_t rec[600], p[512];
	struct spool_rec_hdr h;
	int n;
	(void)state;

	tu_fill(p, sizeof(p), 9, 0);
	n = spool_rec_encode(rec, sizeof(rec), 0x5a5a, SPOOL_REC_BODY, 77, &QID, p, sizeof(p));
	assert_int_equal(n, SPOOL_REC_HDR_LEN + 512);
	for (int byte = 0; byte < n; byte++) {
		for (int bit = 0; bit < 8; bit++) {
			rec[byte] ^= (uint8_t)(1u << bit);
			assert_true(spool_rec_check(rec, (size_t)n, 0x5a5a, &h) < 0);
			rec[byte] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(spool_rec_check(rec, (size_t)n, 0x5a5a, &h), n);
	/* another salt (another boot/worker) does not check */
	assert_true(spool_rec_check(rec, (size_t)n, 0x5a5b, &h) < 0);
	/* every truncation is "incomplete", never success */
	for (int len = 0; len < n; len++)
		assert_int_equal(spool_rec_check(rec, (size_t)len, 0x5a5a, &h), -EAGAIN);
}

static void test_header_rejects(void **state)
{
	uint8_t rec[64];
	struct spool_rec_hdr h;
	(void)state;

	spool_rec_encode(rec, sizeof(rec), 0, SPOOL_REC_END, 0, &QID, NULL, 0);
	assert_int_equal(spool_rec_hdr_decode(rec, &h), 0);
	rec[4] = 2; /* version */
	assert_int_equal(spool_rec_hdr_decode(rec, &h), -EBADMSG);
	rec[4] = 1;
	rec[5] = SPOOL_REC_TYPE_COUNT;
	assert_int_equal(spool_rec_hdr_decode(rec, &h), -EBADMSG);
	rec[5] = SPOOL_REC_NONE;
	assert_int_equal(spool_rec_hdr_decode(rec, &h), -EBADMSG);
	rec[5] = SPOOL_REC_END;
	spool_put32(rec + 8, SPOOL_REC_MAX_LEN + 1);
	assert_int_equal(spool_rec_hdr_decode(rec, &h), -EBADMSG);
	spool_put32(rec + 8, 0);
	rec[0] ^= 1;
	assert_int_equal(spool_rec_hdr_decode(rec, &h), -EBADMSG);
	assert_int_equal(spool_rec_encode(rec, 39, 0, SPOOL_REC_END, 0, &QID, NULL, 0), -ENOSPC);
}

static void test_qid_text(void **state)
{
	char s[SPOOL_QID_STRLEN + 1], low[SPOOL_QID_STRLEN + 1];
	struct spool_qid q, max = {UINT64_MAX, UINT64_MAX}, zero = {0, 0};
	(void)state;

	spool_qid_format(&QID, s);
	assert_int_equal(strlen(s), SPOOL_QID_STRLEN);
	assert_int_equal(spool_qid_parse(s, strlen(s), &q), 0);
	assert_true(spool_qid_eq(&q, &QID));
	for (int i = 0; i <= SPOOL_QID_STRLEN; i++)
		low[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] - 'A' + 'a' : s[i]);
	assert_int_equal(spool_qid_parse(low, SPOOL_QID_STRLEN, &q), 0);
	assert_true(spool_qid_eq(&q, &QID));
	spool_qid_format(&max, s);
	assert_string_equal(s, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
	assert_int_equal(spool_qid_parse(s, SPOOL_QID_STRLEN, &q), 0);
	assert_true(spool_qid_eq(&q, &max));
	spool_qid_format(&zero, s);
	assert_string_equal(s, "00000000000000000000000000");
	/* rejects */
	assert_int_equal(spool_qid_parse("8ZZZZZZZZZZZZZZZZZZZZZZZZZ", SPOOL_QID_STRLEN, &q),
			 -EINVAL);
	assert_int_equal(spool_qid_parse("0000000000000000000000000I", SPOOL_QID_STRLEN, &q),
			 -EINVAL);
	assert_int_equal(spool_qid_parse("0000000000000000000000000U", SPOOL_QID_STRLEN, &q),
			 -EINVAL);
	assert_int_equal(spool_qid_parse("000000000000000000000000 0", SPOOL_QID_STRLEN, &q),
			 -EINVAL);
	assert_int_equal(spool_qid_parse("000", 3, &q), -EINVAL);
}

static void test_qid_order(void **state)
{
	struct spool_qid_gen g;
	struct spool_qid prev, q;
	char a[SPOOL_QID_STRLEN + 1], b[SPOOL_QID_STRLEN + 1];
	(void)state;

	spool_qid_gen_init(&g, 3, 0x12345678, NULL);
	prev = spool_qid_next(&g, 1000);
	assert_int_equal(spool_qid_ms(&prev), 1000);
	assert_int_equal(spool_qid_worker(&prev), 3);
	for (int i = 0; i < 100000; i++) {
		/* time moves forward, stands still, and steps back */
		uint64_t now = 1000 + (uint64_t)(i / 10) - (i % 97 == 0 ? 50 : 0);

		q = spool_qid_next(&g, now);
		assert_true(spool_qid_cmp(&prev, &q) < 0);
		spool_qid_format(&prev, a);
		spool_qid_format(&q, b);
		assert_true(strcmp(a, b) < 0); /* text sorts like the number */
		prev = q;
	}
	/* counter overflow borrows the next millisecond */
	g.counter = UINT32_MAX - 1;
	prev = spool_qid_next(&g, 0);
	q = spool_qid_next(&g, 0);
	assert_true(spool_qid_cmp(&prev, &q) < 0);
	assert_int_equal(spool_qid_ms(&q), spool_qid_ms(&prev) + 1);

	/* restart with the clock behind: the floor keeps ids increasing,
	 * and a new nonce keeps them distinct from the previous boot */
	struct spool_qid_gen g2;
	spool_qid_gen_init(&g2, 3, 0x9abcdef0, &q);
	struct spool_qid r = spool_qid_next(&g2, 5);
	assert_true(spool_qid_cmp(&q, &r) < 0);
	/* worker ids separate generators in the same millisecond */
	struct spool_qid_gen w0, w1;
	spool_qid_gen_init(&w0, 0, 1, NULL);
	spool_qid_gen_init(&w1, 1, 1, NULL);
	struct spool_qid x = spool_qid_next(&w0, 77), y = spool_qid_next(&w1, 77);
	assert_false(spool_qid_eq(&x, &y));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vector),
		cmocka_unit_test(test_roundtrip_all_types),
		cmocka_unit_test(test_envelope_variants),
		cmocka_unit_test(test_crc_detects_every_bit_flip),
		cmocka_unit_test(test_header_rejects),
		cmocka_unit_test(test_qid_text),
		cmocka_unit_test(test_qid_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
