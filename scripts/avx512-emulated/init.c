/*
 * /init of the initramfs that scripts/avx512-emulated.sh boots under Bochs: mounts /proc and
 * /dev, prints the CPU flags the guest sees, runs /simd-tests with init's own arguments (the
 * kernel passes what follows `--` on its command line), prints one marker line with the exit
 * status, and powers the machine off.
 *
 * Everything goes to /dev/console, which the kernel command line points at the first serial
 * port, which Bochs writes to a file: that file is all the host script reads. The marker is
 * the only way the host learns the outcome, so every path out of here prints one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MARKER "AVX512EMU-RESULT"

static void power_off(void) {
    /* Lines written to the console are still in the serial driver's buffer when write()
     * returns; powering off then would cut them off (the marker line among them) and mix
     * the kernel's own power-off messages into them. */
    fflush(stdout);
    fflush(stderr);
    tcdrain(STDOUT_FILENO);
    sync();
    reboot(RB_POWER_OFF);
    /* The kernel panics when init returns; keep it from doing so if power-off failed. */
    for (;;)
        pause();
}

static void fail(const char *what) {
    printf("%s status=init-error %s: %s\n", MARKER, what, strerror(errno));
    fflush(stdout);
    power_off();
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv_in) {
    mkdir("/proc", 0555);
    mkdir("/dev", 0755);
    mkdir("/tmp", 01777);
    /* Before anything prints: without a /dev/console node in the archive, the kernel could
     * not give init its standard descriptors, so they are opened here. */
    if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) != 0 && errno != EBUSY)
        return 1; /* nowhere to report to; the host times out and says no marker appeared */
    int fd = open("/dev/console", O_RDWR);
    if (fd < 0)
        return 1;
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2)
        close(fd);
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (mount("proc", "/proc", "proc", 0, NULL) != 0)
        fail("mount /proc");

    /* The host checks that the emulated CPU really has the extensions, rather than trusting
     * the model name in its config. */
    FILE *ci = fopen("/proc/cpuinfo", "r");
    if (!ci)
        fail("open /proc/cpuinfo");
    char line[8192];
    while (fgets(line, sizeof line, ci)) {
        if (strncmp(line, "model name", 10) == 0)
            printf("AVX512EMU-CPU %s", line);
        if (strncmp(line, "flags", 5) == 0) {
            printf("AVX512EMU-FLAGS %s", line);
            break;
        }
    }
    fclose(ci);

    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    if (!argv)
        fail("calloc");
    argv[0] = "/simd-tests";
    for (int i = 1; i < argc; i++)
        argv[i] = argv_in[i];
    char *envp[] = {"PATH=/", "HOME=/", "TMPDIR=/tmp", "RUST_BACKTRACE=1", NULL};
    printf("AVX512EMU-START");
    for (char **a = argv; *a; a++)
        printf(" %s", *a);
    printf("\n");
    double t0 = now();
    pid_t pid = fork();
    if (pid < 0)
        fail("fork");
    if (pid == 0) {
        execve(argv[0], argv, envp);
        printf("%s status=init-error execve %s: %s\n", MARKER, argv[0], strerror(errno));
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            fail("waitpid");
    double secs = now() - t0;
    if (WIFEXITED(st))
        printf("%s status=exit:%d guest_seconds=%.1f\n", MARKER, WEXITSTATUS(st), secs);
    else if (WIFSIGNALED(st))
        printf("%s status=signal:%d guest_seconds=%.1f\n", MARKER, WTERMSIG(st), secs);
    else
        printf("%s status=unknown:%d guest_seconds=%.1f\n", MARKER, st, secs);
    power_off();
    return 0;
}
