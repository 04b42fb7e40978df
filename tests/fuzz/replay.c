/*
 * replay.c - runs a libFuzzer target over files without libFuzzer, so that
 * `make check` replays every seed and every crash ever found (kept in
 * tests/fuzz/corpus/<target>/) with the ordinary build, sanitizers included.
 * Prints TAP: one line per input.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
run_file(const char *path, int n)
{
	struct stat st;
	uint8_t *buf;
	ssize_t got;
	size_t off = 0;
	int fd;

	if ((fd = open(path, O_RDONLY)) < 0 || fstat(fd, &st) != 0) {
		printf("not ok %d - %s: cannot read\n", n, path);
		return 1;
	}
	/* A copy of exactly the input's size, so ASan sees any overread. */
	if ((buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)) == NULL)
		abort();
	while (off < (size_t)st.st_size && (got = read(fd, buf + off, (size_t)st.st_size - off)) > 0)
		off += (size_t)got;
	close(fd);
	LLVMFuzzerTestOneInput(buf, off);
	free(buf);
	printf("ok %d - %s\n", n, path);
	return 0;
}

int
main(int argc, char **argv)
{
	char **names = NULL, path[4096];
	size_t count = 0, i;
	struct dirent *de;
	DIR *d;
	int failed = 0;

	if (argc != 2 || (d = opendir(argv[1])) == NULL) {
		fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
		return 2;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		names = realloc(names, (count + 1) * sizeof(*names));
		names[count++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, count, sizeof(*names), name_cmp);
	printf("1..%zu\n", count);
	fflush(stdout);
	for (i = 0; i < count; i++) {
		snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]);
		failed |= run_file(path, (int)i + 1);
		fflush(stdout);
		free(names[i]);
	}
	free(names);
	return failed;
}
