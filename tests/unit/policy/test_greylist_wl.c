/*
 * test_greylist_wl.c - the greylisting whitelists: the built-in Apple
 * domains, sender domains matching subdomains, addresses, client networks,
 * host-name suffixes, recipients (address, domain, "local@"), comments and
 * blank lines, and a bad line named with its file and line number.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <urcu-qsbr.h>

#include "core/config.h"
#include "policy/grey_stage.h"

static char dir[] = "/tmp/mx-grey-wl.XXXXXX";

static void write_file(const char *name, const char *text, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static bool client(const struct grey_wl *w, const char *ip)
{
	uint8_t a[16] = {0};
	int fam = inet_pton(AF_INET, ip, a) == 1 ? 4 : (inet_pton(AF_INET6, ip, a), 6);

	return grey_wl_match(w, GREY_WL_CLIENTS, NULL, fam, a);
}

static void test_lists(void **st)
{
	struct mx_config *c = config_new();
	struct grey_wl *w;
	char err[512];

	(void)st;
	assert_non_null(c);
	write_file("senders", "# pools\n\nExample.NET\nboss@corp.example\n", c->grey_wl_senders,
		   sizeof(c->grey_wl_senders));
	write_file("clients", "198.51.100.0/24\n203.0.113.7\n2001:db8::/32\n", c->grey_wl_clients,
		   sizeof(c->grey_wl_clients));
	write_file("hosts", "outbound.protection.outlook.com\n", c->grey_wl_hosts,
		   sizeof(c->grey_wl_hosts));
	write_file("rcpts", "postmaster@\noptout@example.com\nnogrey.example.com\n",
		   c->grey_wl_rcpts, sizeof(c->grey_wl_rcpts));
	rcu_thread_offline();
	w = grey_wl_build(c, err, sizeof(err));
	rcu_thread_online();
	if (!w)
		fail_msg("%s", err);
	/* Built in. */
	assert_true(grey_wl_match(w, GREY_WL_SENDERS, "x@icloud.com", 0, NULL));
	assert_true(grey_wl_match(w, GREY_WL_SENDERS, "x@ME.com", 0, NULL));
	assert_true(grey_wl_match(w, GREY_WL_SENDERS, "bounce@mail.apple.com", 0, NULL));
	assert_true(grey_wl_match(w, GREY_WL_SENDERS, "x@mac.com", 0, NULL));
	assert_false(grey_wl_match(w, GREY_WL_SENDERS, "x@notapple.com", 0, NULL));
	/* From the file. */
	assert_true(grey_wl_match(w, GREY_WL_SENDERS, "a@b.example.net", 0, NULL));
	assert_true(grey_wl_match(w, GREY_WL_SENDERS, "Boss@corp.example", 0, NULL));
	assert_false(grey_wl_match(w, GREY_WL_SENDERS, "other@corp.example", 0, NULL));
	assert_false(grey_wl_match(w, GREY_WL_SENDERS, "", 0, NULL));
	assert_int_equal(grey_wl_count(w, GREY_WL_SENDERS), 6);
	assert_true(client(w, "198.51.100.9"));
	assert_true(client(w, "203.0.113.7"));
	assert_false(client(w, "203.0.113.8"));
	assert_true(client(w, "2001:db8:5::1"));
	assert_false(client(w, "2001:db9::1"));
	assert_true(grey_wl_match(w, GREY_WL_HOSTS, "mail-x.eur.outbound.protection.outlook.com", 0,
				  NULL));
	assert_false(grey_wl_match(w, GREY_WL_HOSTS, "evil-outlook.com", 0, NULL));
	assert_true(grey_wl_match(w, GREY_WL_RCPTS, "postmaster@any.example", 0, NULL));
	assert_true(grey_wl_match(w, GREY_WL_RCPTS, "OptOut@example.com", 0, NULL));
	assert_true(grey_wl_match(w, GREY_WL_RCPTS, "x@nogrey.example.com", 0, NULL));
	assert_false(grey_wl_match(w, GREY_WL_RCPTS, "x@example.com", 0, NULL));
	rcu_thread_offline();
	grey_wl_free(w);
	/* A bad network is named with file and line. */
	write_file("clients", "198.51.100.0/24\n300.1.2.3\n", c->grey_wl_clients,
		   sizeof(c->grey_wl_clients));
	assert_null(grey_wl_build(c, err, sizeof(err)));
	assert_non_null(strstr(err, "clients:2:"));
	/* A missing file is an error. */
	snprintf(c->grey_wl_hosts, sizeof(c->grey_wl_hosts), "%s/none", dir);
	snprintf(c->grey_wl_clients, sizeof(c->grey_wl_clients), "%s", "");
	assert_null(grey_wl_build(c, err, sizeof(err)));
	assert_non_null(strstr(err, "whitelist_hosts"));
	rcu_thread_online();
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists),
	};
	int rc;

	if (!mkdtemp(dir))
		return 1;
	rcu_register_thread();
	rcu_thread_online();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_thread_offline();
	rcu_unregister_thread();
	{
		static const char *const names[] = {"senders", "clients", "hosts", "rcpts"};
		char p[128];
		for (unsigned i = 0; i < 4; i++) {
			snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
			unlink(p);
		}
		rmdir(dir);
	}
	return rc;
}
