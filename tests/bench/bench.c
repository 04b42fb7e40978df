/*
 * bench.c - times commands the way a credential helper is used: a fresh
 * process per call, stdin from a file, stdout discarded.  Several commands
 * run interleaved (A B A B ...) so that drift of the machine hits all of them
 * alike; for each it prints the median, 10th and 90th percentile wall time
 * and the largest peak RSS of any run.
 *
 *   bench [-n RUNS] [-w WARMUP] [-i INPUT] -- CMD ARGS... [-- CMD ARGS...]
 *
 * Output, one line per command:  NAME median_us p10_us p90_us maxrss_kib
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CMDS 8

struct cmd {
	char **argv;
	long *us;
	long maxrss;
};

static long
run_once(char **argv, const char *input, long *rss)
{
	struct timespec t0, t1;
	struct rusage ru;
	int status, fd;
	pid_t pid;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((pid = fork()) < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		fd = open(input ? input : "/dev/null", O_RDONLY);
		dup2(fd, 0);
		fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("wait4");
		exit(1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench: %s exited with status %d\n", argv[0],
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		exit(1);
	}
	*rss = ru.ru_maxrss;
	return (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct cmd cmds[MAX_CMDS];
	int runs = 200, warmup = 10, ncmds = 0, i, j, opt;
	const char *input = NULL;
	long rss;

	while ((opt = getopt(argc, argv, "+n:w:i:")) != -1) {
		switch (opt) {
		case 'n': runs = atoi(optarg); break;
		case 'w': warmup = atoi(optarg); break;
		case 'i': input = optarg; break;
		default:
			fprintf(stderr, "usage: bench [-n RUNS] [-w WARMUP] [-i INPUT] -- CMD... [-- CMD...]\n");
			return 2;
		}
	}
	/* Split what is left at each "--". */
	for (i = optind; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			argv[i] = NULL;
			continue;
		}
		if (i == optind || argv[i - 1] == NULL) {
			if (ncmds == MAX_CMDS)
				return 2;
			cmds[ncmds].argv = &argv[i];
			cmds[ncmds].us = calloc((size_t)runs, sizeof(long));
			cmds[ncmds].maxrss = 0;
			ncmds++;
		}
	}
	if (ncmds == 0 || runs < 1)
		return 2;
	for (i = 0; i < warmup; i++)
		for (j = 0; j < ncmds; j++)
			run_once(cmds[j].argv, input, &rss);
	for (i = 0; i < runs; i++)
		for (j = 0; j < ncmds; j++) {
			cmds[j].us[i] = run_once(cmds[j].argv, input, &rss);
			if (rss > cmds[j].maxrss)
				cmds[j].maxrss = rss;
		}
	for (j = 0; j < ncmds; j++) {
		qsort(cmds[j].us, (size_t)runs, sizeof(long), cmp_long);
		printf("%s %ld %ld %ld %ld\n", cmds[j].argv[0], cmds[j].us[runs / 2],
		    cmds[j].us[runs / 10], cmds[j].us[runs * 9 / 10], cmds[j].maxrss);
	}
	return 0;
}
