/* acct-exec: the accounting wrapper of benches/weak-client.sh, used as
 * CC="acct-exec CLIENT gcc". It moves itself into its own cgroup under
 * $DWB_JOBS, named c.PID for a compile (-c, input not stdin) and l.PID
 * for anything else (links, probes), then execs the rest of its command
 * line, so the client and everything it starts are counted in that group.
 * A compiled helper rather than a shell script: the wrapper runs once per
 * job on the confined client, and a shell plus mkdir(1) cost several
 * times more. With DWB_MEASURE set it exits right after the move, so the
 * benchmark can measure what the wrapper leaves inside the job group. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *jobs = getenv("DWB_JOBS");
    if (argc < 2) {
        fprintf(stderr, "usage: acct-exec COMMAND [ARG]...\n");
        return 127;
    }
    if (jobs && *jobs) {
        char kind = 'l', path[4096], pid[32];
        int from_stdin = 0, i, fd, n;
        for (i = 1; i < argc; i++) {
            if (strcmp(argv[i], "-c") == 0)
                kind = 'c';
            else if (strcmp(argv[i], "-") == 0)
                from_stdin = 1;
        }
        if (from_stdin)
            kind = 'l';
        n = snprintf(path, sizeof path, "%s/%c.%d", jobs, kind, (int)getpid());
        if (n < 0 || (size_t)n >= sizeof path - sizeof "/cgroup.procs") {
            fprintf(stderr, "acct-exec: DWB_JOBS too long\n");
            return 127;
        }
        /* An existing group (a reused PID) is joined: only sums are read. */
        mkdir(path, 0755);
        strcat(path, "/cgroup.procs");
        n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
        fd = open(path, O_WRONLY);
        /* Reading our own CPU clock makes the scheduler charge the time
         * run so far (this exec) to the group we leave; otherwise a move in
         * a cpuacct hierarchy of its own lets the next charge, in the new
         * group, include it. */
        {
            struct timespec ts;
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        }
        if (fd < 0 || write(fd, pid, (size_t)n) != n) {
            perror(path);
            return 127;
        }
        close(fd);
        if (getenv("DWB_MEASURE"))
            _exit(0);
    }
    execvp(argv[1], argv + 1);
    perror(argv[1]);
    return 127;
}
