/*
 * replay.c - run the SMTP fuzz target over every file of the directories
 * given on the command line (regressions/ and corpus/), without libFuzzer:
 * the crash inputs kept in the repository stay fixed in every build.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned nfiles = 0;

	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *de;

		if (!d) {
			fprintf(stderr, "%s: cannot open\n", argv[i]);
			return 1;
		}
		while ((de = readdir(d))) {
			char p[4096];
			struct stat st;

			snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
			if (stat(p, &st) < 0 || !S_ISREG(st.st_mode) || de->d_name[0] == '.')
				continue;
			if (run_file(p) < 0) {
				fprintf(stderr, "%s: cannot read\n", p);
				closedir(d);
				return 1;
			}
			nfiles++;
		}
		closedir(d);
	}
	printf("replayed %u inputs\n", nfiles);
	return 0;
}
