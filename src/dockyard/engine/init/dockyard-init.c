/* dockyard-init: the `--init` process (Docker's docker-init, which is tini).
 *
 * PID 1 of a container has two jobs the kernel gives no one else: reap orphaned zombies, and pass
 * on the signals meant for the "real" program (PID 1 gets no default action for signals it does not
 * handle, so SIGTERM to a plain program as PID 1 is ignored). This init forks the command, forwards
 * every catchable signal to it, reaps every child, and exits with the command's status (128 + signal
 * when it was killed by one), as tini does. Usage: dockyard-init [--] command [args...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--") == 0)
        first = 2;
    if (first >= argc) {
        fprintf(stderr, "dockyard-init: usage: %s [--] command [args...]\n", argv[0]);
        return 1;
    }
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    /* Not PID 1 (e.g. --pid host): still reap the command's orphans. */
    if (getpid() != 1)
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    pid_t child = fork();
    if (child < 0) {
        perror("dockyard-init: fork");
        return 1;
    }
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        /* Give the command its own process group, and the terminal if there is one (as tini). */
        setpgid(0, 0);
        if (isatty(STDIN_FILENO)) {
            signal(SIGTTOU, SIG_IGN);
            tcsetpgrp(STDIN_FILENO, getpgrp());
            signal(SIGTTOU, SIG_DFL);
        }
        execvp(argv[first], argv + first);
        fprintf(stderr, "dockyard-init: exec %s failed: %s\n", argv[first], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    int exit_code = -1;
    for (;;) {
        siginfo_t info;
        struct timespec tick = {1, 0};
        int sig = sigtimedwait(&all, &info, &tick);
        if (sig > 0 && sig != SIGCHLD) {
            if (sig == SIGTTIN || sig == SIGTTOU || sig == SIGTSTP) {
                /* job control signals of our own terminal: not for the command */
            } else {
                kill(child, sig);
            }
        }
        for (;;) {
            int status;
            pid_t pid = waitpid(-1, &status, WNOHANG);
            if (pid <= 0)
                break;
            if (pid == child)
                exit_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
        }
        if (exit_code >= 0)
            return exit_code;
    }
}
