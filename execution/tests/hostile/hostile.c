/*
 * A minimal FMI 2.0 Co-Simulation FMU whose first fmi2DoStep misbehaves on purpose.
 *
 * Compiled by the tests (execution/tests/conftest.py) once per behaviour with one of
 *   -DHOSTILE_GOOD      well-behaved: y = time + u (u is a Real input)
 *   -DHOSTILE_SEGFAULT  writes through a NULL pointer
 *   -DHOSTILE_ABORT     calls abort()
 *   -DHOSTILE_LOOP      spins forever
 *   -DHOSTILE_ALLOC     allocates and touches memory without bound
 *   -DHOSTILE_FORKBOMB  forks forever
 *   -DHOSTILE_CONNECT   connects to the TCP address "host:port" given in the parameter "target"
 *   -DHOSTILE_READFILE  reads the file named by "target" and logs its content
 *   -DHOSTILE_BIGFILE   writes an ever-growing file into its working directory
 *   -DHOSTILE_ENV       logs its whole environment and looks for the variable named by "target"
 *   -DHOSTILE_SWITCH    well-behaved like GOOD unless "target" names a misbehaviour, so that one
 *                       FMU can mix behaviours across the runs of a batch: "segfault", "abort",
 *                       "loop", "exit" (exit(3)), "connect:host:port", "read:/path", "write"
 *                       (creates scratch.txt in its working directory), "list" (logs the files
 *                       there); every run logs how many instances its process has created
 * The attacks that can be stopped without killing the process (connect, read, env) report
 * failure as fmi2Error and success as y = 1 plus a log line with what they obtained.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "fmi2Functions.h"

typedef struct {
    fmi2CallbackFunctions cb;
    char name[128];
    double time;
    double y;
    double u;
    char target[1024];
    int attacked;
} Instance;

static void say(Instance *c, fmi2Status status, const char *fmt, ...) {
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (c->cb.logger) c->cb.logger(c->cb.componentEnvironment, c->name, status, "hostile", "%s", buf);
}

#ifdef HOSTILE_ALLOC
static void *volatile keep_alive;
#endif

#ifdef HOSTILE_SWITCH
#include <dirent.h>
static int instances_in_process;
#endif

#if defined(HOSTILE_CONNECT) || defined(HOSTILE_SWITCH)
static fmi2Status connect_to(Instance *c, const char *target) {
    char host[256] = "127.0.0.1";
    int port = 0;
    if (sscanf(target, "%255[^:]:%d", host, &port) != 2) return fmi2Error;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
        say(c, fmi2Error, "socket failed: %s", strerror(errno));
        return fmi2Error;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, host, &addr.sin_addr);
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) != 0) {
        say(c, fmi2Error, "connect failed: %s", strerror(errno));
        close(s);
        return fmi2Error;
    }
    send(s, "exfiltrated", 11, 0);
    close(s);
    say(c, fmi2OK, "connected to %s", target);
    return fmi2OK;
}
#endif

#if defined(HOSTILE_READFILE) || defined(HOSTILE_SWITCH)
static fmi2Status read_file(Instance *c, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        say(c, fmi2Error, "open failed: %s", strerror(errno));
        return fmi2Error;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    say(c, fmi2OK, "read: %s", buf);
    printf("stdout copy: %s\n", buf);
    return fmi2OK;
}
#endif

/* Returns fmi2OK when the attack "succeeded", fmi2Error when the sandbox stopped it. */
static fmi2Status attack(Instance *c) {
#if defined(HOSTILE_SEGFAULT)
    volatile int *p = NULL;
    *p = 42;
    return fmi2OK;
#elif defined(HOSTILE_ABORT)
    abort();
#elif defined(HOSTILE_LOOP)
    volatile unsigned long n = 0;
    for (;;) n++;
#elif defined(HOSTILE_ALLOC)
    for (;;) {
        char *block = malloc(1 << 20);
        memset(block, 1, 1 << 20); /* like most real code: no NULL check */
        *(void **)block = keep_alive;
        keep_alive = block;
    }
#elif defined(HOSTILE_FORKBOMB)
    for (;;) fork();
#elif defined(HOSTILE_CONNECT)
    return connect_to(c, c->target);
#elif defined(HOSTILE_READFILE)
    return read_file(c, c->target);
#elif defined(HOSTILE_BIGFILE)
    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof chunk);
    FILE *f = fopen("big.bin", "wb");
    if (!f) {
        say(c, fmi2Error, "open failed: %s", strerror(errno));
        return fmi2Error;
    }
    for (int i = 0; i < 4096; i++) {
        if (fwrite(chunk, 1, sizeof chunk, f) != sizeof chunk || fflush(f) != 0) {
            say(c, fmi2Error, "write failed after %d MiB: %s", i, strerror(errno));
            fclose(f);
            return fmi2Error;
        }
    }
    fclose(f);
    return fmi2OK;
#elif defined(HOSTILE_ENV)
    extern char **environ;
    for (char **e = environ; e && *e; e++) say(c, fmi2OK, "env: %s", *e);
    const char *value = getenv(c->target);
    if (!value) {
        say(c, fmi2Error, "variable %s not found", c->target);
        return fmi2Error;
    }
    say(c, fmi2OK, "found %s=%s", c->target, value);
    return fmi2OK;
#elif defined(HOSTILE_SWITCH)
    const char *t = c->target;
    say(c, fmi2OK, "instance %d in this process", instances_in_process);
    if (!strcmp(t, "segfault")) {
        volatile int *p = NULL;
        *p = 42;
    } else if (!strcmp(t, "abort")) {
        abort();
    } else if (!strcmp(t, "loop")) {
        volatile unsigned long n = 0;
        for (;;) n++;
    } else if (!strcmp(t, "exit")) {
        exit(3);
    } else if (!strncmp(t, "connect:", 8)) {
        return connect_to(c, t + 8);
    } else if (!strncmp(t, "read:", 5)) {
        return read_file(c, t + 5);
    } else if (!strcmp(t, "write")) {
        FILE *f = fopen("scratch.txt", "w");
        if (!f) return fmi2Error;
        fputs("left behind", f);
        fclose(f);
    } else if (!strcmp(t, "list")) {
        DIR *d = opendir(".");
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL)
            if (e->d_name[0] != '.') say(c, fmi2OK, "file: %s", e->d_name);
        if (d) closedir(d);
    }
    return fmi2OK;
#else /* HOSTILE_GOOD */
    (void)c;
    return fmi2OK;
#endif
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
#ifdef HOSTILE_SWITCH
    instances_in_process++;
#endif
    c->cb = *functions;
    snprintf(c->name, sizeof c->name, "%s", name ? name : "hostile");
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
    if (!c->attacked) {
        c->attacked = 1;
        fmi2Status status = attack(c);
        if (status != fmi2OK) return status;
#if !defined(HOSTILE_GOOD) && !defined(HOSTILE_SWITCH)
        c->y = 1.0; /* the attack worked */
#endif
    }
    c->time = t + h;
#if defined(HOSTILE_GOOD) || defined(HOSTILE_SWITCH)
    c->y = c->time + c->u;
#endif
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
