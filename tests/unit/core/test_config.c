/*
 * test_config.c - the INI loader: defaults, every value type, and that every
 * kind of error names file, line, key and what was expected. Also keeps
 * etc/mxgate.conf complete: every key of the table must appear in it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"

#define MIN_OK \
	"[eal]\nlcores = 0@0,1@1\n[port]\ndevice = net_ring0\n[ipv4]\naddress = 198.18.0.2/24\n"

static char err[4096];

static void test_minimal_defaults(void **state)
{
	struct mx_config c;
	(void)state;
	assert_int_equal(config_load_string(&c, "t.conf", MIN_OK, err, sizeof(err)), 0);
	assert_string_equal(c.eal_lcores, "0@0,1@1");
	assert_string_equal(c.port_device, "net_ring0");
	assert_int_equal(c.ip4_addr, 0xc6120002u);
	assert_int_equal(c.ip4_prefix, 24);
	assert_int_equal(c.port_rx_desc, 1024);
	assert_int_equal(c.worker_burst, 32);
	assert_string_equal(c.daemon_user, "nobody");
	assert_string_equal(c.ctl_socket, "/run/mxgate/ctl.sock");
	assert_false(config_fault_enabled(&c));
}

static void test_values(void **state)
{
	struct mx_config c;
	(void)state;
	const char *t = MIN_OK "[eal]\nno_huge = yes\nvdev = net_ring0\nvdev = net_ring1\n"
			       "[port]\nsteering = software\nrx_desc = 512\n"
			       "[ipv4]\ngateway = 198.18.0.1\n"
			       "[fault]\nrx_drop = 10%\ntx_dup = 2.5\n[log]\nlevel = debug\n";
	assert_int_equal(config_load_string(&c, "t.conf", t, err, sizeof(err)), 0);
	assert_true(c.eal_no_huge);
	assert_int_equal(c.eal_vdev.n, 2);
	assert_string_equal(c.eal_vdev.v[1], "net_ring1");
	assert_int_equal(c.port_steering, MX_STEER_SOFTWARE);
	assert_int_equal(c.port_rx_desc, 512);
	assert_int_equal(c.ip4_gateway, 0xc6120001u);
	assert_true(c.fault_rx.drop_pct == 10.0);
	assert_true(c.fault_tx.dup_pct == 2.5);
	assert_true(config_fault_enabled(&c));
	assert_int_equal(c.log_level, 4);
	assert_int_equal(c.relay_tls, 0);
	t = MIN_OK "[relay]\ntls = verify\nca_file = /etc/ssl/certs/ca-certificates.crt\n";
	assert_int_equal(config_load_string(&c, "t.conf", t, err, sizeof(err)), 0);
	assert_int_equal(c.relay_tls, 3);
	assert_string_equal(c.relay_ca_file, "/etc/ssl/certs/ca-certificates.crt");
}

/* Each bad input and the pieces its message must contain. */
static const struct {
	const char *text;
	const char *want[4];
} bad[] = {
	{MIN_OK "[port]\nrx_desc = lots\n", {"t.conf:8:", "[port] rx_desc", "64..16384", "'lots'"}},
	{MIN_OK "[port]\nrx_desc = 10\n", {"t.conf:8:", "[port] rx_desc", "integer"}},
	{MIN_OK "[port]\nbogus = 1\n", {"t.conf:8:", "[port] bogus", "unknown key"}},
	{MIN_OK "[nosuch]\nx = 1\n", {"t.conf:8:", "[nosuch] x", "unknown key"}},
	{"[eal]\nlcores = 1\n[ipv4]\naddress = 198.18.0.2/24\n",
	 {"t.conf:", "[port] device", "required key missing"}},
	{MIN_OK "[ipv4]\nfoo\n", {"t.conf:8:", "syntax error"}},
	{MIN_OK "[eal]\nno_huge = maybe\n", {"t.conf:8:", "[eal] no_huge", "yes or no"}},
	{MIN_OK "[fault]\nrx_drop = 101\n", {"t.conf:8:", "[fault] rx_drop", "0..100"}},
	{MIN_OK "[port]\nsteering = magic\n", {"[port] steering", "auto, rss or software"}},
	{MIN_OK "[ipv4]\ngateway = 1.2.3\n", {"t.conf:8:", "[ipv4] gateway", "a.b.c.d"}},
	{MIN_OK "[ipv4]\ngateway = 10.0.0.1\n", {"[ipv4] gateway", "inside"}},
	{"[eal]\nlcores = 1\n[port]\ndevice = x\n[ipv4]\naddress = 198.18.0.2\n",
	 {"t.conf:6:", "[ipv4] address", "prefix length"}},
	{MIN_OK "[log]\nlevel = loud\n", {"t.conf:8:", "[log] level", "debug"}},
	{MIN_OK "[port]\ndevice = again\n", {"t.conf:8:", "given twice", "line 4"}},
	{MIN_OK "[eal]\nno_pci = yes\npci_allow = 0000:00:04.0\n", {"pci_allow", "no_pci"}},
	{MIN_OK "[daemon]\nuser =\n", {"[daemon] user", "unprivileged"}},
	{MIN_OK "[relay]\ntls = yes\n", {"[relay] tls", "none, may, encrypt or verify"}},
	{MIN_OK "[relay]\ntls = verify\n", {"[relay] tls = verify", "ca_file"}},
	{MIN_OK "[relay]\ntls = may\nca_file = ca.pem\n", {"[relay] ca_file", "absolute"}},
};

static void test_errors(void **state)
{
	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mx_config c;
		int rc = config_load_string(&c, "t.conf", bad[i].text, err, sizeof(err));
		if (rc != -1)
			fail_msg("case %u accepted: %s", i, bad[i].text);
		for (unsigned k = 0; k < 4 && bad[i].want[k]; k++)
			if (!strstr(err, bad[i].want[k]))
				fail_msg("case %u: message '%s' lacks '%s'", i, err,
					 bad[i].want[k]);
	}
}

static void test_all_errors_reported(void **state)
{
	struct mx_config c;
	(void)state;
	assert_int_equal(config_load_string(&c, "t.conf",
					    MIN_OK "[port]\nrx_desc = x\nmtu = y\nnope = 1\n", err,
					    sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "t.conf:8:"));
	assert_non_null(strstr(err, "t.conf:9:"));
	assert_non_null(strstr(err, "t.conf:10:"));
}

static void test_missing_file(void **state)
{
	struct mx_config c;
	(void)state;
	assert_int_equal(config_load(&c, "/nonexistent/mx.conf", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/mx.conf: cannot open"));
}

/* The example config is valid and documents every key. */
static void test_example_config_complete(void **state)
{
	struct mx_config c;
	const char *path = getenv("MX_EXAMPLE_CONF");
	char *text;
	long n;
	FILE *f;
	const char *name, *section;

	(void)state;
	assert_non_null(path);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	for (unsigned i = 0; (name = config_key_name(i, &section)) != NULL; i++) {
		char want[128];
		snprintf(want, sizeof(want), "\n%s =", name);
		if (!strstr(text, want)) {
			snprintf(want, sizeof(want), "; %s", name);
			if (!strstr(text, want))
				fail_msg("etc/mxgate.conf does not document [%s] %s", section,
					 name);
		}
	}
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_example_config_complete),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
