/*
 * test_listen.c - [metrics] listen: config_parse_listen() accepts
 * a.b.c.d:PORT and [IPv6]:PORT and nothing else, and a bad value is a
 * file:key error of the loader (the daemon never starts with it).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"

static void test_parse(void **state)
{
	static const char *const bad[] = {
		"",	   "127.0.0.1",	   "127.0.0.1:",  "127.0.0.1:0",  "127.0.0.1:65536",
		":9425",   "localhost:80", "::1:9425",	  "[::1]",	  "[::1:9425",
		"[]:9425", "1.2.3:80",	   "1.2.3.4:8x0", "[1.2.3.4]:80",
	};
	struct sockaddr_storage ss;
	size_t len = 0;

	(void)state;
	assert_int_equal(config_parse_listen("127.0.0.1:9425", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9425);
	assert_int_equal(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), 0x7f000001);
	assert_int_equal(config_parse_listen("[::1]:80", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 80);
	assert_true(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr));
	assert_int_equal(config_parse_listen("0.0.0.0:65535", NULL, NULL), 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (config_parse_listen(bad[i], NULL, NULL) == 0)
			fail_msg("'%s' accepted", bad[i]);
}

static const char base[] = "[eal]\nlcores = 0@0,1@1\n[port]\ndevice = net_tap0\n"
			   "[ipv4]\naddress = 198.18.0.2/24\n";

static void test_config_key(void **state)
{
	static struct mx_config c;
	char text[512], err[1024];

	(void)state;
	assert_int_equal(config_load_string(&c, "t.conf", base, err, sizeof(err)), 0);
	assert_string_equal(c.metrics_listen, ""); /* default: off */
	snprintf(text, sizeof(text), "%s[metrics]\nlisten = [::1]:9425\n", base);
	assert_int_equal(config_load_string(&c, "t.conf", text, err, sizeof(err)), 0);
	assert_string_equal(c.metrics_listen, "[::1]:9425");
	snprintf(text, sizeof(text), "%s[metrics]\nlisten = localhost:9425\n", base);
	assert_int_equal(config_load_string(&c, "t.conf", text, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf: [metrics] listen = localhost:9425: expected"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_config_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
