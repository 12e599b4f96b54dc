/*
 * test_grey_org.c - registered domains for greylisting keys by the
 * organisation of the client's reverse name ([greylist] ptr_org,
 * policy/grey_org.h): plain rules, multi-label suffixes, wildcards and
 * their exceptions, case and the root dot, names that are public suffixes
 * themselves, addresses, empty labels, the two-label fallback without a
 * list, a bad list file, and Debian's list when it is installed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy/grey_org.h"

static char path[64];

static const char psl[] = "// a test list in the publicsuffix.org format\n"
			  "\n"
			  "com\n"
			  "net\n"
			  "uk\n"
			  "co.uk\n"
			  "// wildcard and exception\n"
			  "*.ck\n"
			  "!www.ck\n"
			  "// a private-section style entry\n"
			  "compute-1.amazonaws.com  trailing text is ignored\n"
			  "BLOGSPOT.COM\n";

static int setup(void **state)
{
	int fd;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/mx-grey-org.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || !(f = fdopen(fd, "w")))
		return -1;
	fputs(psl, f);
	fclose(f);
	*state = grey_org_load(path);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	grey_org_free(*state);
	unlink(path);
	return 0;
}

static const char *org(const struct grey_psl *l, const char *name)
{
	static char buf[300];

	return grey_org_domain(l, name, buf, sizeof(buf)) > 0 ? buf : NULL;
}

static void test_rules(void **state)
{
	const struct grey_psl *l = *state;

	assert_int_equal(grey_org_rules(l), 8);
	assert_string_equal(org(l, "mail-sn1nam02.outbound.protection.outlook.com"), "outlook.com");
	assert_string_equal(org(l, "outlook.com"), "outlook.com");
	assert_string_equal(org(l, "a.b.example.co.uk"), "example.co.uk");
	assert_string_equal(org(l, "smtp.example.uk"), "example.uk");
	/* A name under no rule: the default rule "*" (its last label). */
	assert_string_equal(org(l, "mx1.example.org"), "example.org");
	/* Wildcard: every label under ck is public; the exception is not. */
	assert_string_equal(org(l, "mx.foo.bar.ck"), "foo.bar.ck");
	assert_string_equal(org(l, "mx.www.ck"), "www.ck");
	/* A private suffix: each customer host is its own organisation. */
	assert_string_equal(org(l, "ec2-1-2-3-4.compute-1.amazonaws.com"),
			    "ec2-1-2-3-4.compute-1.amazonaws.com");
	assert_string_equal(org(l, "x.y.blogspot.com"), "y.blogspot.com");
	/* Case and the root dot. */
	assert_string_equal(org(l, "MX.Example.CO.UK."), "example.co.uk");
}

static void test_none(void **state)
{
	const struct grey_psl *l = *state;
	char small[4];

	assert_null(org(l, "co.uk")); /* a public suffix itself */
	assert_null(org(l, "com"));
	assert_null(org(l, "bar.ck"));
	assert_null(org(l, "localhost")); /* one label: under "*", nothing left */
	assert_null(org(l, "198.18.0.1"));
	assert_null(org(l, "a..example.com"));
	assert_null(org(l, ".example.com"));
	assert_null(org(l, ""));
	assert_null(org(l, NULL));
	assert_int_equal(grey_org_domain(l, "mx.example.com", small, sizeof(small)), -1);
}

static void test_no_list(void **state)
{
	(void)state;
	assert_string_equal(org(NULL, "a.b.example.co.uk"), "co.uk");
	assert_string_equal(org(NULL, "mx.Example.org"), "example.org");
	assert_null(org(NULL, "org"));
}

static void test_bad_file(void **state)
{
	char empty[] = "/tmp/mx-grey-org-empty.XXXXXX";
	int fd = mkstemp(empty);

	(void)state;
	assert_true(fd >= 0);
	assert_true(write(fd, "// only a comment\n\n", 19) == 19);
	close(fd);
	errno = 0;
	assert_null(grey_org_load(empty));
	assert_int_equal(errno, EINVAL);
	unlink(empty);
	assert_null(grey_org_load("/nonexistent/psl.dat"));
	assert_int_equal(errno, ENOENT);
}

/* The list Debian ships (publicsuffix), where installed. */
static void test_debian_list(void **state)
{
	struct grey_psl *l = grey_org_load("/usr/share/publicsuffix/public_suffix_list.dat");

	(void)state;
	if (!l)
		skip();
	assert_true(grey_org_rules(l) > 5000);
	assert_string_equal(org(l, "mail-dm6nam12.outbound.protection.outlook.com"), "outlook.com");
	assert_string_equal(org(l, "mail-ej1-f54.google.com"), "google.com");
	assert_string_equal(org(l, "relay.mail.example.co.uk"), "example.co.uk");
	assert_string_equal(org(l, "a27-33.smtp-out.amazonses.com"), "amazonses.com");
	assert_null(org(l, "co.uk"));
	grey_org_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_none, setup, teardown),
		cmocka_unit_test(test_no_list),
		cmocka_unit_test(test_bad_file),
		cmocka_unit_test(test_debian_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
