/*
 * An FMI 2.0 Co-Simulation FMU whose first fmi2DoStep does what the string parameter "target"
 * says, to test limits and metering of a whole run (every process and memory file of it):
 *   ""                     well-behaved: y = time + u (u is a Real input)
 *   "mem-children:N:MB"    N child processes each allocate and touch MB MiB, hold it until all
 *                          have it (and a moment more), then the parent ends them
 *   "memfd:N:MB"           N memfds (memfd_create) of MB MiB each, written and kept open a moment
 *   "cpu-children:N:MS"    N child processes each burn MS ms of CPU; the parent waits for them
 *   "forkstorm"            forks forever (every child too)
 *   "fork-some:N:MS"       N children, one every MS ms, each exiting at once; fails if a fork
 *                          is refused
 *   "tmp"                  writes a file to /tmp, reads it back, logs "tmp ok"
 *   "syscalls"             tries system calls an FMU has no business making and logs each
 *                          result as "<name>: refused <errno name>" or "<name>: ALLOWED"
 * Apart from "forkstorm" (which never returns) a mode that worked continues like "": y =
 * time + u, so results can be compared with plain fmpy. Compiled by test_sandbox_wholerun.py.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fmi2Functions.h"

typedef struct {
    fmi2CallbackFunctions cb;
    char name[128];
    double time;
    double y;
    double u;
    char target[1024];
    int done;
} Instance;

static void say(Instance *c, fmi2Status status, const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (c->cb.logger) c->cb.logger(c->cb.componentEnvironment, c->name, status, "wholerun", "%s", buf);
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
}

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void touch(char *p, size_t bytes) {
    for (size_t i = 0; i < bytes; i += 4096) p[i] = (char)(i >> 12);
}

static fmi2Status mem_children(Instance *c, int n, int mb) {
    int ready[2];
    if (pipe(ready) != 0) return fmi2Error;
    pid_t pids[64];
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] < 0) {
            say(c, fmi2Error, "fork failed: %s", strerror(errno));
            return fmi2Error;
        }
        if (pids[i] == 0) {
            size_t bytes = (size_t)mb << 20;
            char *p = malloc(bytes);
            if (!p) _exit(2);
            touch(p, bytes);
            if (write(ready[1], "x", 1) != 1) _exit(3);
            for (;;) pause();
        }
    }
    close(ready[1]);
    int got = 0;
    char byte;
    while (got < n && read(ready[0], &byte, 1) == 1) got++;
    sleep_ms(300);
    for (int i = 0; i < n; i++) kill(pids[i], SIGKILL);
    for (int i = 0; i < n; i++) waitpid(pids[i], NULL, 0);
    close(ready[0]);
    if (got < n) {
        say(c, fmi2Error, "only %d of %d children got their memory", got, n);
        return fmi2Error;
    }
    say(c, fmi2OK, "%d children held %d MiB each", n, mb);
    return fmi2OK;
}

static fmi2Status memfds(Instance *c, int n, int mb) {
    static char chunk[1 << 20];
    memset(chunk, 'm', sizeof chunk);
    int fds[64];
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++) {
        fds[i] = memfd_create("hoard", 0);
        if (fds[i] < 0) {
            say(c, fmi2Error, "memfd_create failed: %s", strerror(errno));
            return fmi2Error;
        }
        for (int k = 0; k < mb; k++) {
            if (write(fds[i], chunk, sizeof chunk) != (ssize_t)sizeof chunk) {
                say(c, fmi2Error, "memfd write failed: %s", strerror(errno));
                return fmi2Error;
            }
        }
    }
    sleep_ms(300);
    for (int i = 0; i < n; i++) close(fds[i]);
    say(c, fmi2OK, "%d memfds held %d MiB each", n, mb);
    return fmi2OK;
}

static fmi2Status cpu_children(Instance *c, int n, int ms) {
    pid_t pids[64];
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] < 0) {
            say(c, fmi2Error, "fork failed: %s", strerror(errno));
            return fmi2Error;
        }
        if (pids[i] == 0) {
            volatile unsigned long spin = 0;
            while (cpu_seconds() < ms / 1000.0) spin++;
            _exit(0);
        }
    }
    for (int i = 0; i < n; i++) waitpid(pids[i], NULL, 0);
    say(c, fmi2OK, "%d children burnt %d ms of CPU each", n, ms);
    return fmi2OK;
}

static fmi2Status fork_some(Instance *c, int n, int ms) {
    int sum = 0;
    for (int i = 0; i < n; i++) {
        sleep_ms(ms);
        pid_t pid = fork();
        if (pid < 0) {
            say(c, fmi2Error, "fork %d failed: %s", i, strerror(errno));
            return fmi2Error;
        }
        if (pid == 0) _exit(1);
        int status = 0;
        waitpid(pid, &status, 0);
        sum += WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    }
    say(c, fmi2OK, "%d children ran", sum);
    return sum == n ? fmi2OK : fmi2Error;
}

static fmi2Status tmp_file(Instance *c) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/wholerun-%d.txt", (int)getpid());
    FILE *f = fopen(path, "w");
    if (!f) {
        say(c, fmi2Error, "cannot create %s: %s", path, strerror(errno));
        return fmi2Error;
    }
    fputs("scratch data", f);
    fclose(f);
    char buf[64] = {0};
    f = fopen(path, "r");
    if (!f || !fgets(buf, sizeof buf, f)) {
        say(c, fmi2Error, "cannot read %s back", path);
        return fmi2Error;
    }
    fclose(f);
    unlink(path);
    say(c, fmi2OK, "tmp ok: %s", buf);
    return fmi2OK;
}

static void check(Instance *c, const char *name, long rc) {
    if (rc == -1) say(c, fmi2OK, "%s: refused %s", name, strerrorname_np(errno));
    else say(c, fmi2OK, "%s: ALLOWED", name);
}

static fmi2Status syscalls(Instance *c) {
    int fd = open("/proc/self/ns/net", O_RDONLY);
    check(c, "unshare", unshare(CLONE_NEWUSER));
    check(c, "setns", setns(fd, 0));
    check(c, "clone", syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
    check(c, "mount", mount("none", "/tmp", "tmpfs", 0, ""));
    /* in a child: a traced FMU process would stop at its next signal */
    int result[2] = {0, 0}, channel[2];
    if (pipe(channel) == 0) {
        pid_t tracee = fork();
        if (tracee == 0) {
            int rc[2] = {(int)ptrace(PTRACE_TRACEME, 0, 0, 0), errno};
            if (write(channel[1], rc, sizeof rc) != sizeof rc) _exit(1);
            _exit(0);
        }
        if (read(channel[0], result, sizeof result) == sizeof result) errno = result[1];
        if (tracee > 0) waitpid(tracee, NULL, 0);
        close(channel[0]);
        close(channel[1]);
    }
    check(c, "ptrace", result[0]);
    check(c, "keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    check(c, "add_key", syscall(SYS_add_key, "user", "k", "v", 1, KEY_SPEC_PROCESS_KEYRING));
    check(c, "bpf", syscall(SYS_bpf, 0, 0, 0));
    check(c, "perf_event_open", syscall(SYS_perf_event_open, 0, 0, -1, -1, 0));
    check(c, "userfaultfd", syscall(SYS_userfaultfd, 0));
    check(c, "process_vm_readv", syscall(SYS_process_vm_readv, getppid(), 0, 0, 0, 0, 0));
    check(c, "init_module", syscall(SYS_init_module, 0, 0, ""));
    check(c, "io_uring_setup", syscall(SYS_io_uring_setup, 1, 0));
    if (fd >= 0) close(fd);
    /* the FMU keeps working after the refusals */
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, NULL, 0);
    say(c, fmi2OK, "fork after refusals: %s", pid > 0 ? "ok" : "failed");
    return fmi2OK;
}

static fmi2Status act(Instance *c) {
    const char *t = c->target;
    int a = 0, b = 0;
    if (sscanf(t, "mem-children:%d:%d", &a, &b) == 2) return mem_children(c, a, b);
    if (sscanf(t, "memfd:%d:%d", &a, &b) == 2) return memfds(c, a, b);
    if (sscanf(t, "cpu-children:%d:%d", &a, &b) == 2) return cpu_children(c, a, b);
    if (sscanf(t, "fork-some:%d:%d", &a, &b) == 2) return fork_some(c, a, b);
    if (!strcmp(t, "forkstorm")) {
        for (;;) fork();
    }
    if (!strcmp(t, "tmp")) return tmp_file(c);
    if (!strcmp(t, "syscalls")) return syscalls(c);
    return fmi2OK;
}

const char *fmi2GetTypesPlatform(void) { return fmi2TypesPlatform; }
const char *fmi2GetVersion(void) { return fmi2Version; }

fmi2Status fmi2SetDebugLogging(fmi2Component c, fmi2Boolean on, size_t n, const fmi2String cat[]) {
    (void)c; (void)on; (void)n; (void)cat;
    return fmi2OK;
}

fmi2Component fmi2Instantiate(fmi2String name, fmi2Type type, fmi2String guid, fmi2String location,
                              const fmi2CallbackFunctions *functions, fmi2Boolean visible,
                              fmi2Boolean logging) {
    (void)guid; (void)location; (void)visible; (void)logging;
    if (type != fmi2CoSimulation || !functions) return NULL;
    Instance *c = calloc(1, sizeof(Instance));
    if (!c) return NULL;
    c->cb = *functions;
    snprintf(c->name, sizeof c->name, "%s", name ? name : "wholerun");
    return c;
}

void fmi2FreeInstance(fmi2Component c) { free(c); }

fmi2Status fmi2SetupExperiment(fmi2Component c, fmi2Boolean tolDefined, fmi2Real tol,
                               fmi2Real start, fmi2Boolean stopDefined, fmi2Real stop) {
    (void)tolDefined; (void)tol; (void)stopDefined; (void)stop;
    ((Instance *)c)->time = start;
    return fmi2OK;
}

fmi2Status fmi2EnterInitializationMode(fmi2Component c) { (void)c; return fmi2OK; }
fmi2Status fmi2ExitInitializationMode(fmi2Component c) { (void)c; return fmi2OK; }
fmi2Status fmi2Terminate(fmi2Component c) { (void)c; return fmi2OK; }
fmi2Status fmi2Reset(fmi2Component c) { ((Instance *)c)->time = 0; return fmi2OK; }

fmi2Status fmi2GetReal(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Real v[]) {
    for (size_t i = 0; i < n; i++) {
        if (vr[i] == 0) v[i] = ((Instance *)c)->y;
        else if (vr[i] == 2) v[i] = ((Instance *)c)->u;
        else return fmi2Error;
    }
    return fmi2OK;
}

fmi2Status fmi2GetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                          fmi2Integer v[]) {
    (void)c; (void)vr; (void)v;
    return n == 0 ? fmi2OK : fmi2Error;
}

fmi2Status fmi2GetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                          fmi2Boolean v[]) {
    (void)c; (void)vr; (void)v;
    return n == 0 ? fmi2OK : fmi2Error;
}

fmi2Status fmi2GetString(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                         fmi2String v[]) {
    for (size_t i = 0; i < n; i++) {
        if (vr[i] != 1) return fmi2Error;
        v[i] = ((Instance *)c)->target;
    }
    return fmi2OK;
}

fmi2Status fmi2SetReal(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                       const fmi2Real v[]) {
    for (size_t i = 0; i < n; i++) {
        if (vr[i] != 2) return fmi2Error;
        ((Instance *)c)->u = v[i];
    }
    return fmi2OK;
}

fmi2Status fmi2SetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                          const fmi2Integer v[]) {
    (void)c; (void)vr; (void)v;
    return n == 0 ? fmi2OK : fmi2Error;
}

fmi2Status fmi2SetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                          const fmi2Boolean v[]) {
    (void)c; (void)vr; (void)v;
    return n == 0 ? fmi2OK : fmi2Error;
}

fmi2Status fmi2SetString(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                         const fmi2String v[]) {
    for (size_t i = 0; i < n; i++) {
        if (vr[i] != 1) return fmi2Error;
        snprintf(((Instance *)c)->target, sizeof ((Instance *)c)->target, "%s", v[i] ? v[i] : "");
    }
    return fmi2OK;
}

fmi2Status fmi2GetFMUstate(fmi2Component c, fmi2FMUstate *s) { (void)c; (void)s; return fmi2Error; }
fmi2Status fmi2SetFMUstate(fmi2Component c, fmi2FMUstate s) { (void)c; (void)s; return fmi2Error; }
fmi2Status fmi2FreeFMUstate(fmi2Component c, fmi2FMUstate *s) { (void)c; (void)s; return fmi2Error; }
fmi2Status fmi2SerializedFMUstateSize(fmi2Component c, fmi2FMUstate s, size_t *n) {
    (void)c; (void)s; (void)n;
    return fmi2Error;
}
fmi2Status fmi2SerializeFMUstate(fmi2Component c, fmi2FMUstate s, fmi2Byte b[], size_t n) {
    (void)c; (void)s; (void)b; (void)n;
    return fmi2Error;
}
fmi2Status fmi2DeSerializeFMUstate(fmi2Component c, const fmi2Byte b[], size_t n, fmi2FMUstate *s) {
    (void)c; (void)b; (void)n; (void)s;
    return fmi2Error;
}
fmi2Status fmi2GetDirectionalDerivative(fmi2Component c, const fmi2ValueReference u[], size_t nu,
                                        const fmi2ValueReference z[], size_t nz,
                                        const fmi2Real dv[], fmi2Real dz[]) {
    (void)c; (void)u; (void)nu; (void)z; (void)nz; (void)dv; (void)dz;
    return fmi2Error;
}
fmi2Status fmi2SetRealInputDerivatives(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                                       const fmi2Integer order[], const fmi2Real value[]) {
    (void)c; (void)vr; (void)n; (void)order; (void)value;
    return fmi2Error;
}
fmi2Status fmi2GetRealOutputDerivatives(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                                        const fmi2Integer order[], fmi2Real value[]) {
    (void)c; (void)vr; (void)n; (void)order; (void)value;
    return fmi2Error;
}

fmi2Status fmi2DoStep(fmi2Component component, fmi2Real t, fmi2Real h, fmi2Boolean noSetPrior) {
    (void)noSetPrior;
    Instance *c = component;
    if (!c->done) {
        c->done = 1;
        fmi2Status status = act(c);
        if (status != fmi2OK) return status;
    }
    c->time = t + h;
    c->y = c->time + c->u;
    return fmi2OK;
}

fmi2Status fmi2CancelStep(fmi2Component c) { (void)c; return fmi2OK; }
fmi2Status fmi2GetStatus(fmi2Component c, const fmi2StatusKind s, fmi2Status *v) {
    (void)c; (void)s; (void)v;
    return fmi2Discard;
}
fmi2Status fmi2GetRealStatus(fmi2Component c, const fmi2StatusKind s, fmi2Real *v) {
    (void)s;
    *v = ((Instance *)c)->time;
    return fmi2OK;
}
fmi2Status fmi2GetIntegerStatus(fmi2Component c, const fmi2StatusKind s, fmi2Integer *v) {
    (void)c; (void)s; (void)v;
    return fmi2Discard;
}
fmi2Status fmi2GetBooleanStatus(fmi2Component c, const fmi2StatusKind s, fmi2Boolean *v) {
    (void)c; (void)s; (void)v;
    return fmi2Discard;
}
fmi2Status fmi2GetStringStatus(fmi2Component c, const fmi2StatusKind s, fmi2String *v) {
    (void)c; (void)s; (void)v;
    return fmi2Discard;
}
