/*
 * Tiny model interface shared by the FMI 2.0 and FMI 3.0 wrappers.
 *
 * Every sample model is described by its model.json. The builder (registry/samples.py)
 * generates "model_variables.h" from it, so value references, ranges and start values
 * are defined in exactly one place. A model's model.c only implements the three hooks
 * declared at the end of this file; everything else (argument checks, the FMI state
 * machine, getters/setters, the fixed-step Co-Simulation solver) lives in common/.
 */
#ifndef SAMPLE_MODEL_H
#define SAMPLE_MODEL_H

#include <stdbool.h>
#include <stddef.h>

/* Same order as fmi2Status and fmi3Status, so the wrappers can cast. */
typedef enum { StatusOK, StatusWarning, StatusDiscard, StatusError, StatusFatal } Status;

/* What a variable is, which decides when it may be set. */
typedef enum {
    KindIndependent,      /* time: read only */
    KindFixedParameter,   /* settable before and during initialization */
    KindTunableParameter, /* additionally settable in event and step mode */
    KindInput,            /* settable at any time after instantiation */
    KindState,            /* start value settable before and during initialization */
    KindCalculated        /* derivatives and computed outputs: read only */
} VariableKind;

/* Bit flags so that a set of allowed modes is a single mask. */
typedef enum {
    ModeInstantiated = 1 << 0,
    ModeInitialization = 1 << 1,
    ModeEvent = 1 << 2,
    ModeContinuousTime = 1 << 3,
    ModeStep = 1 << 4,
    ModeTerminated = 1 << 5
} Mode;

#define ANY_MODE                                                                         \
    (ModeInstantiated | ModeInitialization | ModeEvent | ModeContinuousTime | ModeStep | \
     ModeTerminated)

typedef enum { ModelExchange, CoSimulation } InterfaceType;

typedef struct {
    unsigned int vr;
    const char *name;
    size_t offset; /* offset of the value in ModelVariables */
    VariableKind kind;
    double min;
    double max;
    double start;
} VariableInfo;

/* Generated: ModelVariables, NX, NZ, INSTANTIATION_TOKEN, FIXED_SOLVER_STEP,
 * INDEPENDENT_VARIABLE (the field holding the time) and the
 * tables model_variable_table / model_state_offsets / model_derivative_offsets. */
#include "model_variables.h"

#define MAX_INSTANCE_NAME 128
#define MAX_MESSAGE 1024

struct ModelInstance;

/* Version specific delivery of an already formatted log message. */
typedef void (*LogFunction)(const struct ModelInstance *comp, Status status,
                            const char *category, const char *message);

/* Generic function pointer type to store the importer's callback without knowing its
 * FMI version; each wrapper casts it back to the exact type it stored. */
typedef void (*GenericCallback)(void);

typedef struct ModelInstance {
    char instanceName[MAX_INSTANCE_NAME];
    InterfaceType type;
    Mode mode;
    bool loggingOn;
    double time;
    double startTime;
    bool stopTimeDefined;
    double stopTime;
    ModelVariables vars;
    bool valuesOfContinuousStatesChanged;
    LogFunction log;
    GenericCallback callback;
    void *environment;
} ModelInstance;

/* ---- common/model_common.c --------------------------------------------------------- */

/* Validates the arguments, logs and returns NULL on failure. The returned instance is the
 * only dynamic allocation of the FMU. */
ModelInstance *model_instantiate(const char *function, const char *instanceName,
                                 InterfaceType type, const char *token, bool loggingOn,
                                 LogFunction log, GenericCallback callback, void *environment);
void model_free(ModelInstance *comp);
/* Validates and stores the experiment times (fmi2SetupExperiment/fmi3EnterInitializationMode). */
Status model_setup_experiment(ModelInstance *comp, const char *function, double startTime,
                              bool stopTimeDefined, double stopTime);
void model_reset(ModelInstance *comp);

void model_log(const ModelInstance *comp, Status status, const char *category,
               const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Logs an error and returns false if comp is NULL or not in one of the allowed modes. */
bool model_check_mode(ModelInstance *comp, const char *function, unsigned int allowedModes);
/* Logs an error and returns false if a required array argument is NULL. */
bool model_check_pointer(const ModelInstance *comp, const char *function, const char *argument,
                         const void *pointer);
bool model_check_log_categories(const ModelInstance *comp, const char *function,
                                size_t nCategories, const char *const categories[]);

Status model_get_float64(ModelInstance *comp, const char *function, const unsigned int vr[],
                         size_t nvr, double values[]);
Status model_set_float64(ModelInstance *comp, const char *function, const unsigned int vr[],
                         size_t nvr, const double values[]);
/* For value types the samples do not have: fine for nvr == 0, an error otherwise. */
Status model_no_variables_of_type(const ModelInstance *comp, const char *function,
                                  const unsigned int vr[], size_t nvr);
Status model_unsupported(const ModelInstance *comp, const char *function);

void model_get_states(const ModelInstance *comp, double x[]);
void model_set_states(ModelInstance *comp, const double x[]);
void model_get_derivatives(ModelInstance *comp, double dx[]);
void model_get_event_indicators(ModelInstance *comp, double z[]);

/* Runs the model's event update and records whether continuous states changed. */
void model_event_update(ModelInstance *comp);

/* Co-Simulation: integrates from comp->time to comp->time + stepSize with classic RK4 at a
 * fixed internal step of at most FIXED_SOLVER_STEP, locating state events by bisection. */
Status model_do_step(ModelInstance *comp, const char *function,
                     double currentCommunicationPoint, double stepSize);

/* ---- hooks implemented by each model's model.c ------------------------------------ */

/* Computes derivatives and calculated outputs from time, states, inputs and parameters. */
void model_calculate(ModelInstance *comp);
/* Fills z[0..NZ-1]; a sign change of z[i] is a state event. Never called if NZ == 0. */
void model_event_indicators(const ModelInstance *comp, double z[]);
/* Handles an event at comp->time; returns true if continuous states were changed. */
bool model_on_event(ModelInstance *comp);

#endif /* SAMPLE_MODEL_H */
