/*
 * FMI version independent part of the sample FMUs: instance life cycle, logging,
 * validated access to variables and the fixed-step Co-Simulation solver.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_VARIABLES_IMPLEMENTATION
#include "model.h"

#define N_VARIABLES (sizeof(model_variable_table) / sizeof(model_variable_table[0]))
#define NZ_ARRAY (NZ > 0 ? NZ : 1) /* avoid zero-length arrays */
#define MAX_EVENTS_PER_STEP 1000   /* guards against Zeno behaviour in doStep */
#define MAX_INTERNAL_STEPS 1e8     /* bounds the work of a single doStep call */

/* The value stored at a byte offset (from the generated tables) in ModelVariables. */
static double *field(ModelVariables *vars, size_t offset) {
    return (double *)((char *)vars + offset);
}

static const double *const_field(const ModelVariables *vars, size_t offset) {
    return (const double *)((const char *)vars + offset);
}

/* Evaluates the model at comp->time; all evaluations go through here so that the
 * independent variable (e.g. "time") always reports the current time. */
static void calculate(ModelInstance *comp) {
    comp->vars.INDEPENDENT_VARIABLE = comp->time;
    model_calculate(comp);
}

static const char *mode_name(Mode mode) {
    switch (mode) {
    case ModeInstantiated: return "Instantiated";
    case ModeInitialization: return "Initialization Mode";
    case ModeEvent: return "Event Mode";
    case ModeContinuousTime: return "Continuous-Time Mode";
    case ModeStep: return "Step Mode";
    case ModeTerminated: return "Terminated";
    }
    return "unknown mode";
}

void model_log(const ModelInstance *comp, Status status, const char *category,
               const char *format, ...) {
    char message[MAX_MESSAGE];
    va_list args;

    if (!comp || !comp->log || !comp->callback) return;
    /* errors are always reported, everything else only with debug logging on */
    if (status < StatusError && !comp->loggingOn) return;

    va_start(args, format);
    vsnprintf(message, sizeof(message), format, args);
    va_end(args);

    comp->log(comp, status, category, message);
}

static void set_start_values(ModelInstance *comp) {
    size_t i;
    memset(&comp->vars, 0, sizeof(comp->vars));
    for (i = 0; i < N_VARIABLES; i++) {
        const VariableInfo *info = &model_variable_table[i];
        *field(&comp->vars, info->offset) = info->start;
    }
    model_set_internal_start_values(&comp->vars);
}

ModelInstance *model_instantiate(const char *function, const char *instanceName,
                                 InterfaceType type, const char *token, bool loggingOn,
                                 LogFunction log, GenericCallback callback, void *environment) {
    /* Build the instance on the stack first so that errors can be logged through the
     * normal path before anything is allocated. */
    ModelInstance tmp;
    ModelInstance *comp;

    memset(&tmp, 0, sizeof(tmp));
    tmp.log = log;
    tmp.callback = callback;
    tmp.environment = environment;
    tmp.loggingOn = loggingOn;
    tmp.type = type;
    tmp.mode = ModeInstantiated;

    if (!instanceName || instanceName[0] == '\0') {
        model_log(&tmp, StatusError, "logStatusError", "%s: missing instance name.", function);
        return NULL;
    }
    snprintf(tmp.instanceName, sizeof(tmp.instanceName), "%s", instanceName);

    if (!token || strcmp(token, INSTANTIATION_TOKEN) != 0) {
        model_log(&tmp, StatusError, "logStatusError",
                  "%s: the instantiation token (GUID) \"%.64s\" does not match \"%s\".",
                  function, token ? token : "(null)", INSTANTIATION_TOKEN);
        return NULL;
    }

    set_start_values(&tmp);

    comp = (ModelInstance *)calloc(1, sizeof(ModelInstance));
    if (!comp) {
        model_log(&tmp, StatusFatal, "logStatusError", "%s: out of memory.", function);
        return NULL;
    }
    *comp = tmp;
    return comp;
}

void model_free(ModelInstance *comp) { free(comp); }

void model_reset(ModelInstance *comp) {
    comp->mode = ModeInstantiated;
    comp->time = 0.0;
    comp->startTime = 0.0;
    comp->stopTimeDefined = false;
    comp->stopTime = 0.0;
    comp->valuesOfContinuousStatesChanged = false;
    set_start_values(comp);
}

Status model_setup_experiment(ModelInstance *comp, const char *function, double startTime,
                             bool stopTimeDefined, double stopTime) {
    const bool stopTimeValid = isfinite(stopTime) && stopTime >= startTime;
    if (!isfinite(startTime) || (stopTimeDefined && !stopTimeValid)) {
        model_log(comp, StatusError, "logStatusError",
                  "%s: invalid start time %g or stop time %g.", function, startTime, stopTime);
        return StatusError;
    }
    comp->startTime = startTime;
    comp->time = startTime;
    comp->stopTimeDefined = stopTimeDefined;
    comp->stopTime = stopTime;
    return StatusOK;
}

bool model_check_mode(ModelInstance *comp, const char *function, unsigned int allowedModes) {
    if (!comp) return false; /* nothing to log to */
    if (!(comp->mode & allowedModes)) {
        model_log(comp, StatusError, "logStatusError", "%s must not be called in %s.", function,
                  mode_name(comp->mode));
        return false;
    }
    return true;
}

bool model_check_pointer(const ModelInstance *comp, const char *function, const char *argument,
                         const void *pointer) {
    if (!pointer) {
        model_log(comp, StatusError, "logStatusError", "%s: argument %s must not be NULL.",
                  function, argument);
        return false;
    }
    return true;
}

bool model_check_log_categories(const ModelInstance *comp, const char *function,
                                size_t nCategories, const char *const categories[]) {
    size_t i;
    if (nCategories > 0 && !model_check_pointer(comp, function, "categories", categories))
        return false;
    for (i = 0; i < nCategories; i++) {
        const char *c = categories[i];
        if (!c || (strcmp(c, "logEvents") != 0 && strcmp(c, "logStatusError") != 0)) {
            model_log(comp, StatusError, "logStatusError", "%s: unknown log category \"%.64s\".",
                      function, c ? c : "(null)");
            return false;
        }
    }
    return true;
}

static const VariableInfo *find_variable(unsigned int vr) {
    size_t i;
    for (i = 0; i < N_VARIABLES; i++) {
        if (model_variable_table[i].vr == vr) return &model_variable_table[i];
    }
    return NULL;
}


static unsigned int settable_modes(VariableKind kind) {
    switch (kind) {
    case KindFixedParameter:
    case KindState: return ModeInstantiated | ModeInitialization;
    case KindTunableParameter: return ModeInstantiated | ModeInitialization | ModeEvent | ModeStep;
    case KindInput:
        return ModeInstantiated | ModeInitialization | ModeEvent | ModeContinuousTime | ModeStep;
    case KindIndependent:
    case KindCalculated: return 0;
    }
    return 0;
}

Status model_get_float64(ModelInstance *comp, const char *function, const unsigned int vr[],
                         size_t nvr, double values[]) {
    size_t i;
    if (nvr == 0) return StatusOK;
    if (!model_check_pointer(comp, function, "valueReferences", vr) ||
        !model_check_pointer(comp, function, "values", values))
        return StatusError;

    calculate(comp); /* cheap, and keeps calculated values consistent */

    for (i = 0; i < nvr; i++) {
        const VariableInfo *info = find_variable(vr[i]);
        if (!info) {
            model_log(comp, StatusError, "logStatusError", "%s: unknown value reference %u.",
                      function, vr[i]);
            return StatusError;
        }
        values[i] = *field(&comp->vars, info->offset);
    }
    return StatusOK;
}

Status model_set_float64(ModelInstance *comp, const char *function, const unsigned int vr[],
                         size_t nvr, const double values[]) {
    size_t i;
    if (nvr == 0) return StatusOK;
    if (!model_check_pointer(comp, function, "valueReferences", vr) ||
        !model_check_pointer(comp, function, "values", values))
        return StatusError;

    /* Validate everything first so that a rejected call changes nothing. */
    for (i = 0; i < nvr; i++) {
        const VariableInfo *info = find_variable(vr[i]);
        const double value = values[i];
        if (!info) {
            model_log(comp, StatusError, "logStatusError", "%s: unknown value reference %u.",
                      function, vr[i]);
            return StatusError;
        }
        if (!(settable_modes(info->kind) & comp->mode)) {
            model_log(comp, StatusError, "logStatusError",
                      "%s: variable \"%s\" cannot be set in %s.", function, info->name,
                      mode_name(comp->mode));
            return StatusError;
        }
        if (!isfinite(value) || value < info->min || value > info->max) {
            model_log(comp, StatusError, "logStatusError",
                      "%s: value %g for variable \"%s\" is outside its range [%g, %g].", function,
                      value, info->name, info->min, info->max);
            return StatusError;
        }
    }
    for (i = 0; i < nvr; i++) *field(&comp->vars, find_variable(vr[i])->offset) = values[i];
    return StatusOK;
}

Status model_no_variables_of_type(const ModelInstance *comp, const char *function,
                                  const unsigned int vr[], size_t nvr) {
    if (nvr == 0) return StatusOK;
    if (!model_check_pointer(comp, function, "valueReferences", vr)) return StatusError;
    model_log(comp, StatusError, "logStatusError",
              "%s: unknown value reference %u (this model has no variables of this type).",
              function, vr[0]);
    return StatusError;
}

Status model_unsupported(const ModelInstance *comp, const char *function) {
    model_log(comp, StatusError, "logStatusError", "%s is not supported by this FMU.", function);
    return StatusError;
}

void model_get_states(const ModelInstance *comp, double x[]) {
    size_t i;
    for (i = 0; i < NX; i++) x[i] = *const_field(&comp->vars, model_state_offsets[i]);
}

void model_set_states(ModelInstance *comp, const double x[]) {
    size_t i;
    for (i = 0; i < NX; i++) *field(&comp->vars, model_state_offsets[i]) = x[i];
}

void model_get_derivatives(ModelInstance *comp, double dx[]) {
    size_t i;
    calculate(comp);
    for (i = 0; i < NX; i++) dx[i] = *field(&comp->vars, model_derivative_offsets[i]);
}

void model_get_event_indicators(ModelInstance *comp, double z[]) {
    calculate(comp);
#if NZ > 0
    model_event_indicators(comp, z);
#else
    (void)z;
#endif
}

void model_event_update(ModelInstance *comp) {
    calculate(comp);
    comp->valuesOfContinuousStatesChanged = model_on_event(comp);
    calculate(comp);
}

/* One classic Runge-Kutta step of size h from the current time and states. Inputs and
 * parameters are held constant, which is the Co-Simulation contract within a step. */
static void rk4_step(ModelInstance *comp, double h) {
    double x0[NX], x[NX], k1[NX], k2[NX], k3[NX], k4[NX];
    const double t0 = comp->time;
    size_t i;

    model_get_states(comp, x0);
    model_get_derivatives(comp, k1);

    for (i = 0; i < NX; i++) x[i] = x0[i] + 0.5 * h * k1[i];
    comp->time = t0 + 0.5 * h;
    model_set_states(comp, x);
    model_get_derivatives(comp, k2);

    for (i = 0; i < NX; i++) x[i] = x0[i] + 0.5 * h * k2[i];
    model_set_states(comp, x);
    model_get_derivatives(comp, k3);

    for (i = 0; i < NX; i++) x[i] = x0[i] + h * k3[i];
    comp->time = t0 + h;
    model_set_states(comp, x);
    model_get_derivatives(comp, k4);

    for (i = 0; i < NX; i++) x[i] = x0[i] + h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
    model_set_states(comp, x);
    calculate(comp);
}

/* True if any event indicator left its side of zero (same convention as CVode: an
 * indicator that starts exactly at zero does not trigger). */
static bool event_crossed(ModelInstance *comp, const double z0[]) {
#if NZ > 0
    double z[NZ];
    size_t i;
    model_get_event_indicators(comp, z);
    for (i = 0; i < NZ; i++) {
        if ((z0[i] > 0.0 && z[i] <= 0.0) || (z0[i] < 0.0 && z[i] >= 0.0)) return true;
    }
#else
    (void)comp;
    (void)z0;
#endif
    return false;
}

static void restore(ModelInstance *comp, double t, const double x[]) {
    comp->time = t;
    model_set_states(comp, x);
}

/* Integrates to tEnd in one RK4 step, handling any state events on the way: the event
 * time is located by bisection on the step length (re-integrating from the saved start
 * state), the event is handled there and integration continues to tEnd. */
static Status advance_to(ModelInstance *comp, const char *function, double tEnd) {
    int nEvents;

    for (nEvents = 0; nEvents <= MAX_EVENTS_PER_STEP; nEvents++) {
        double x0[NX], z0[NZ_ARRAY];
        const double t0 = comp->time;
        const double h = tEnd - t0;
        double lo = 0.0, hi = h;
        int k;

        if (h <= 0.0) return StatusOK;

        model_get_states(comp, x0);
        model_get_event_indicators(comp, z0);
        rk4_step(comp, h);
        if (!event_crossed(comp, z0)) return StatusOK;

        for (k = 0; k < 100 && hi - lo > 4.0 * DBL_EPSILON * fmax(1.0, fabs(t0)); k++) {
            const double mid = 0.5 * (lo + hi);
            restore(comp, t0, x0);
            rk4_step(comp, mid);
            if (event_crossed(comp, z0)) hi = mid;
            else lo = mid;
        }
        restore(comp, t0, x0);
        rk4_step(comp, hi); /* the first point at which the indicator has crossed */
        if (hi >= h) comp->time = tEnd; /* avoid round-off drift of the step end */

        model_log(comp, StatusOK, "logEvents", "%s: state event at t = %.17g.", function,
                  comp->time);
        model_event_update(comp);
    }
    model_log(comp, StatusError, "logStatusError",
              "%s: more than %d events in one internal step at t = %g (Zeno behaviour?).",
              function, MAX_EVENTS_PER_STEP, comp->time);
    return StatusError;
}

Status model_do_step(ModelInstance *comp, const char *function,
                     double currentCommunicationPoint, double stepSize) {
    const double epsilon = 1e-9 * fmax(1.0, fabs(comp->time));
    double tStart, steps;
    long n, i;

    if (!isfinite(currentCommunicationPoint) || !isfinite(stepSize) || stepSize <= 0.0) {
        model_log(comp, StatusError, "logStatusError",
                  "%s: communicationStepSize must be positive and finite (got %g).", function,
                  stepSize);
        return StatusError;
    }
    if (fabs(currentCommunicationPoint - comp->time) > epsilon) {
        model_log(comp, StatusError, "logStatusError",
                  "%s: currentCommunicationPoint %.17g does not match the FMU's time %.17g.",
                  function, currentCommunicationPoint, comp->time);
        return StatusError;
    }
    if (comp->stopTimeDefined && currentCommunicationPoint + stepSize > comp->stopTime + epsilon) {
        model_log(comp, StatusError, "logStatusError",
                  "%s: the step to %.17g would pass the stop time %.17g.", function,
                  currentCommunicationPoint + stepSize, comp->stopTime);
        return StatusError;
    }
    steps = ceil(stepSize / FIXED_SOLVER_STEP - 1e-9);
    if (steps > MAX_INTERNAL_STEPS) {
        model_log(comp, StatusError, "logStatusError",
                  "%s: communicationStepSize %g needs more than %g internal steps of %g.",
                  function, stepSize, MAX_INTERNAL_STEPS, FIXED_SOLVER_STEP);
        return StatusError;
    }

    /* Equal internal steps that end exactly on the communication point; the end points are
     * computed from the start to avoid accumulating round-off. */
    tStart = currentCommunicationPoint;
    comp->time = tStart;
    n = steps < 1.0 ? 1 : (long)steps;
    for (i = 1; i <= n; i++) {
        const double tEnd = i == n ? tStart + stepSize : tStart + stepSize * (double)i / (double)n;
        Status status = advance_to(comp, function, tEnd);
        if (status != StatusOK) return status;
    }
    comp->time = tStart + stepSize;
    calculate(comp);
    return StatusOK;
}
