/*
 * FMI 2.0 API (Model Exchange and Co-Simulation) on top of model.h.
 *
 * Only functions declared in fmi2Functions.h carry default visibility; the library is
 * compiled with -fvisibility=hidden so that nothing else is exported.
 */
#include <string.h>

#include "fmi2Functions.h"
#include "model.h"

#define COMP ((ModelInstance *)c)
#define CHECK(function, modes) \
    if (!model_check_mode(COMP, function, modes)) return fmi2Error
#define CHECK_NOT_NULL(function, argument) \
    if (!model_check_pointer(COMP, function, #argument, argument)) return fmi2Error
#define CHECK_TYPE(function, expected)                                                    \
    if (COMP->type != (expected)) {                                                       \
        model_log(COMP, StatusError, "logStatusError", "%s is only available for %s.",    \
                  function, (expected) == ModelExchange ? "Model Exchange" : "Co-Simulation"); \
        return fmi2Error;                                                                 \
    }

static void log_fmi2(const ModelInstance *comp, Status status, const char *category,
                     const char *message) {
    /* The FMI 2 logger treats the message as a printf format string: escape '%' so text
     * that comes from the importer (instance names, tokens) cannot act as a directive. */
    char escaped[2 * MAX_MESSAGE];
    size_t i, j = 0;
    fmi2CallbackLogger logger = (fmi2CallbackLogger)comp->callback;

    for (i = 0; message[i] != '\0' && j + 2 < sizeof(escaped); i++) {
        if (message[i] == '%') escaped[j++] = '%';
        escaped[j++] = message[i];
    }
    escaped[j] = '\0';
    logger(comp->environment, comp->instanceName, (fmi2Status)status, category, escaped);
}

/* ---- common functions ------------------------------------------------------------- */

const char *fmi2GetTypesPlatform(void) { return fmi2TypesPlatform; }

const char *fmi2GetVersion(void) { return fmi2Version; }

fmi2Status fmi2SetDebugLogging(fmi2Component c, fmi2Boolean loggingOn, size_t nCategories,
                               const fmi2String categories[]) {
    CHECK("fmi2SetDebugLogging", ANY_MODE);
    if (!model_check_log_categories(COMP, "fmi2SetDebugLogging", nCategories, categories))
        return fmi2Error;
    COMP->loggingOn = loggingOn != fmi2False;
    return fmi2OK;
}

fmi2Component fmi2Instantiate(fmi2String instanceName, fmi2Type fmuType, fmi2String fmuGUID,
                              fmi2String fmuResourceLocation,
                              const fmi2CallbackFunctions *functions, fmi2Boolean visible,
                              fmi2Boolean loggingOn) {
    fmi2CallbackLogger logger = functions ? functions->logger : NULL;
    void *environment = functions ? functions->componentEnvironment : NULL;
    InterfaceType type = fmuType == fmi2CoSimulation ? CoSimulation : ModelExchange;

    (void)fmuResourceLocation; /* the samples have no resources */
    (void)visible;

    if (!functions) return NULL; /* mandatory in FMI 2.0, and without it we cannot log */
    if (fmuType != fmi2ModelExchange && fmuType != fmi2CoSimulation) {
        if (logger)
            logger(environment, instanceName ? instanceName : "", fmi2Error, "logStatusError",
                   "fmi2Instantiate: unknown fmuType.");
        return NULL;
    }
    return model_instantiate("fmi2Instantiate", instanceName, type, fmuGUID,
                             loggingOn != fmi2False, log_fmi2, (GenericCallback)logger,
                             environment);
}

void fmi2FreeInstance(fmi2Component c) { model_free(COMP); }

fmi2Status fmi2SetupExperiment(fmi2Component c, fmi2Boolean toleranceDefined, fmi2Real tolerance,
                               fmi2Real startTime, fmi2Boolean stopTimeDefined,
                               fmi2Real stopTime) {
    (void)toleranceDefined; /* fixed-step solver: the tolerance is not used */
    (void)tolerance;
    CHECK("fmi2SetupExperiment", ModeInstantiated);
    return (fmi2Status)model_setup_experiment(COMP, "fmi2SetupExperiment", startTime,
                                              stopTimeDefined != fmi2False, stopTime);
}

fmi2Status fmi2EnterInitializationMode(fmi2Component c) {
    CHECK("fmi2EnterInitializationMode", ModeInstantiated);
    COMP->mode = ModeInitialization;
    return fmi2OK;
}

fmi2Status fmi2ExitInitializationMode(fmi2Component c) {
    CHECK("fmi2ExitInitializationMode", ModeInitialization);
    if (COMP->type == CoSimulation) {
        model_event_update(COMP); /* initial event, e.g. a ball that starts on the ground */
        COMP->mode = ModeStep;
    } else {
        COMP->mode = ModeEvent;
    }
    return fmi2OK;
}

fmi2Status fmi2Terminate(fmi2Component c) {
    CHECK("fmi2Terminate", ModeEvent | ModeContinuousTime | ModeStep);
    COMP->mode = ModeTerminated;
    return fmi2OK;
}

fmi2Status fmi2Reset(fmi2Component c) {
    CHECK("fmi2Reset", ANY_MODE);
    model_reset(COMP);
    return fmi2OK;
}

/* ---- getting and setting variable values ------------------------------------------ */

fmi2Status fmi2GetReal(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                       fmi2Real value[]) {
    CHECK("fmi2GetReal", ANY_MODE);
    return (fmi2Status)model_get_float64(COMP, "fmi2GetReal", vr, nvr, value);
}

fmi2Status fmi2GetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                          fmi2Integer value[]) {
    (void)value;
    CHECK("fmi2GetInteger", ANY_MODE);
    return (fmi2Status)model_no_variables_of_type(COMP, "fmi2GetInteger", vr, nvr);
}

fmi2Status fmi2GetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                          fmi2Boolean value[]) {
    (void)value;
    CHECK("fmi2GetBoolean", ANY_MODE);
    return (fmi2Status)model_no_variables_of_type(COMP, "fmi2GetBoolean", vr, nvr);
}

fmi2Status fmi2GetString(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                         fmi2String value[]) {
    (void)value;
    CHECK("fmi2GetString", ANY_MODE);
    return (fmi2Status)model_no_variables_of_type(COMP, "fmi2GetString", vr, nvr);
}

fmi2Status fmi2SetReal(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                       const fmi2Real value[]) {
    CHECK("fmi2SetReal", ANY_MODE);
    return (fmi2Status)model_set_float64(COMP, "fmi2SetReal", vr, nvr, value);
}

fmi2Status fmi2SetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                          const fmi2Integer value[]) {
    (void)value;
    CHECK("fmi2SetInteger", ANY_MODE);
    return (fmi2Status)model_no_variables_of_type(COMP, "fmi2SetInteger", vr, nvr);
}

fmi2Status fmi2SetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                          const fmi2Boolean value[]) {
    (void)value;
    CHECK("fmi2SetBoolean", ANY_MODE);
    return (fmi2Status)model_no_variables_of_type(COMP, "fmi2SetBoolean", vr, nvr);
}

fmi2Status fmi2SetString(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                         const fmi2String value[]) {
    (void)value;
    CHECK("fmi2SetString", ANY_MODE);
    return (fmi2Status)model_no_variables_of_type(COMP, "fmi2SetString", vr, nvr);
}

/* ---- FMU state and derivatives: not provided (see modelDescription.xml) ------------ */

fmi2Status fmi2GetFMUstate(fmi2Component c, fmi2FMUstate *FMUstate) {
    (void)FMUstate;
    CHECK("fmi2GetFMUstate", ANY_MODE);
    return (fmi2Status)model_unsupported(COMP, "fmi2GetFMUstate");
}

fmi2Status fmi2SetFMUstate(fmi2Component c, fmi2FMUstate FMUstate) {
    (void)FMUstate;
    CHECK("fmi2SetFMUstate", ANY_MODE);
    return (fmi2Status)model_unsupported(COMP, "fmi2SetFMUstate");
}

fmi2Status fmi2FreeFMUstate(fmi2Component c, fmi2FMUstate *FMUstate) {
    (void)FMUstate;
    CHECK("fmi2FreeFMUstate", ANY_MODE);
    return (fmi2Status)model_unsupported(COMP, "fmi2FreeFMUstate");
}

fmi2Status fmi2SerializedFMUstateSize(fmi2Component c, fmi2FMUstate FMUstate, size_t *size) {
    (void)FMUstate;
    (void)size;
    CHECK("fmi2SerializedFMUstateSize", ANY_MODE);
    return (fmi2Status)model_unsupported(COMP, "fmi2SerializedFMUstateSize");
}

fmi2Status fmi2SerializeFMUstate(fmi2Component c, fmi2FMUstate FMUstate, fmi2Byte serializedState[],
                                 size_t size) {
    (void)FMUstate;
    (void)serializedState;
    (void)size;
    CHECK("fmi2SerializeFMUstate", ANY_MODE);
    return (fmi2Status)model_unsupported(COMP, "fmi2SerializeFMUstate");
}

fmi2Status fmi2DeSerializeFMUstate(fmi2Component c, const fmi2Byte serializedState[], size_t size,
                                   fmi2FMUstate *FMUstate) {
    (void)serializedState;
    (void)size;
    (void)FMUstate;
    CHECK("fmi2DeSerializeFMUstate", ANY_MODE);
    return (fmi2Status)model_unsupported(COMP, "fmi2DeSerializeFMUstate");
}

fmi2Status fmi2GetDirectionalDerivative(fmi2Component c, const fmi2ValueReference vUnknown_ref[],
                                        size_t nUnknown, const fmi2ValueReference vKnown_ref[],
                                        size_t nKnown, const fmi2Real dvKnown[],
                                        fmi2Real dvUnknown[]) {
    (void)vUnknown_ref;
    (void)nUnknown;
    (void)vKnown_ref;
    (void)nKnown;
    (void)dvKnown;
    (void)dvUnknown;
    CHECK("fmi2GetDirectionalDerivative", ANY_MODE);
    return (fmi2Status)model_unsupported(COMP, "fmi2GetDirectionalDerivative");
}

/* ---- Model Exchange ---------------------------------------------------------------- */

fmi2Status fmi2EnterEventMode(fmi2Component c) {
    CHECK("fmi2EnterEventMode", ModeEvent | ModeContinuousTime);
    CHECK_TYPE("fmi2EnterEventMode", ModelExchange);
    COMP->mode = ModeEvent;
    return fmi2OK;
}

fmi2Status fmi2NewDiscreteStates(fmi2Component c, fmi2EventInfo *eventInfo) {
    CHECK("fmi2NewDiscreteStates", ModeEvent);
    CHECK_TYPE("fmi2NewDiscreteStates", ModelExchange);
    CHECK_NOT_NULL("fmi2NewDiscreteStates", eventInfo);
    model_event_update(COMP);
    eventInfo->newDiscreteStatesNeeded = fmi2False;
    eventInfo->terminateSimulation = fmi2False;
    eventInfo->nominalsOfContinuousStatesChanged = fmi2False;
    eventInfo->valuesOfContinuousStatesChanged =
        COMP->valuesOfContinuousStatesChanged ? fmi2True : fmi2False;
    eventInfo->nextEventTimeDefined = fmi2False;
    eventInfo->nextEventTime = 0.0;
    return fmi2OK;
}

fmi2Status fmi2EnterContinuousTimeMode(fmi2Component c) {
    CHECK("fmi2EnterContinuousTimeMode", ModeEvent);
    CHECK_TYPE("fmi2EnterContinuousTimeMode", ModelExchange);
    COMP->mode = ModeContinuousTime;
    return fmi2OK;
}

fmi2Status fmi2CompletedIntegratorStep(fmi2Component c,
                                       fmi2Boolean noSetFMUStatePriorToCurrentPoint,
                                       fmi2Boolean *enterEventMode,
                                       fmi2Boolean *terminateSimulation) {
    (void)noSetFMUStatePriorToCurrentPoint;
    CHECK("fmi2CompletedIntegratorStep", ModeContinuousTime);
    CHECK_NOT_NULL("fmi2CompletedIntegratorStep", enterEventMode);
    CHECK_NOT_NULL("fmi2CompletedIntegratorStep", terminateSimulation);
    *enterEventMode = fmi2False;
    *terminateSimulation = fmi2False;
    return fmi2OK;
}

fmi2Status fmi2SetTime(fmi2Component c, fmi2Real time) {
    CHECK("fmi2SetTime", ModeEvent | ModeContinuousTime);
    CHECK_TYPE("fmi2SetTime", ModelExchange);
    COMP->time = time;
    return fmi2OK;
}

static bool check_size(ModelInstance *comp, const char *function, const char *what, size_t actual,
                       size_t expected) {
    if (actual != expected) {
        model_log(comp, StatusError, "logStatusError", "%s: %s is %zu but must be %zu.", function,
                  what, actual, expected);
        return false;
    }
    return true;
}

fmi2Status fmi2SetContinuousStates(fmi2Component c, const fmi2Real x[], size_t nx) {
    CHECK("fmi2SetContinuousStates", ModeContinuousTime);
    CHECK_TYPE("fmi2SetContinuousStates", ModelExchange);
    if (!check_size(COMP, "fmi2SetContinuousStates", "nx", nx, NX)) return fmi2Error;
    CHECK_NOT_NULL("fmi2SetContinuousStates", x);
    model_set_states(COMP, x);
    return fmi2OK;
}

fmi2Status fmi2GetDerivatives(fmi2Component c, fmi2Real derivatives[], size_t nx) {
    CHECK("fmi2GetDerivatives", ANY_MODE);
    if (!check_size(COMP, "fmi2GetDerivatives", "nx", nx, NX)) return fmi2Error;
    CHECK_NOT_NULL("fmi2GetDerivatives", derivatives);
    model_get_derivatives(COMP, derivatives);
    return fmi2OK;
}

fmi2Status fmi2GetEventIndicators(fmi2Component c, fmi2Real eventIndicators[], size_t ni) {
    CHECK("fmi2GetEventIndicators", ANY_MODE);
    if (!check_size(COMP, "fmi2GetEventIndicators", "ni", ni, NZ)) return fmi2Error;
    if (ni == 0) return fmi2OK;
    CHECK_NOT_NULL("fmi2GetEventIndicators", eventIndicators);
    model_get_event_indicators(COMP, eventIndicators);
    return fmi2OK;
}

fmi2Status fmi2GetContinuousStates(fmi2Component c, fmi2Real x[], size_t nx) {
    CHECK("fmi2GetContinuousStates", ANY_MODE);
    if (!check_size(COMP, "fmi2GetContinuousStates", "nx", nx, NX)) return fmi2Error;
    CHECK_NOT_NULL("fmi2GetContinuousStates", x);
    model_get_states(COMP, x);
    return fmi2OK;
}

fmi2Status fmi2GetNominalsOfContinuousStates(fmi2Component c, fmi2Real x_nominal[], size_t nx) {
    size_t i;
    CHECK("fmi2GetNominalsOfContinuousStates", ANY_MODE);
    if (!check_size(COMP, "fmi2GetNominalsOfContinuousStates", "nx", nx, NX)) return fmi2Error;
    CHECK_NOT_NULL("fmi2GetNominalsOfContinuousStates", x_nominal);
    for (i = 0; i < nx; i++) x_nominal[i] = 1.0;
    return fmi2OK;
}

/* ---- Co-Simulation ----------------------------------------------------------------- */

fmi2Status fmi2SetRealInputDerivatives(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                                       const fmi2Integer order[], const fmi2Real value[]) {
    (void)vr;
    (void)nvr;
    (void)order;
    (void)value;
    CHECK("fmi2SetRealInputDerivatives", ANY_MODE);
    return (fmi2Status)model_unsupported(COMP, "fmi2SetRealInputDerivatives");
}

fmi2Status fmi2GetRealOutputDerivatives(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                                        const fmi2Integer order[], fmi2Real value[]) {
    (void)vr;
    (void)nvr;
    (void)order;
    (void)value;
    CHECK("fmi2GetRealOutputDerivatives", ANY_MODE);
    return (fmi2Status)model_unsupported(COMP, "fmi2GetRealOutputDerivatives");
}

fmi2Status fmi2DoStep(fmi2Component c, fmi2Real currentCommunicationPoint,
                      fmi2Real communicationStepSize,
                      fmi2Boolean noSetFMUStatePriorToCurrentPoint) {
    (void)noSetFMUStatePriorToCurrentPoint;
    CHECK("fmi2DoStep", ModeStep);
    CHECK_TYPE("fmi2DoStep", CoSimulation);
    return (fmi2Status)model_do_step(COMP, "fmi2DoStep", currentCommunicationPoint,
                                     communicationStepSize);
}

fmi2Status fmi2CancelStep(fmi2Component c) {
    CHECK("fmi2CancelStep", ModeStep);
    /* doStep always completes synchronously, so there is never a step to cancel */
    return (fmi2Status)model_unsupported(COMP, "fmi2CancelStep");
}

fmi2Status fmi2GetStatus(fmi2Component c, const fmi2StatusKind s, fmi2Status *value) {
    (void)s;
    (void)value;
    CHECK("fmi2GetStatus", ANY_MODE);
    return (fmi2Status)model_unsupported(COMP, "fmi2GetStatus");
}

fmi2Status fmi2GetRealStatus(fmi2Component c, const fmi2StatusKind s, fmi2Real *value) {
    CHECK("fmi2GetRealStatus", ANY_MODE);
    CHECK_NOT_NULL("fmi2GetRealStatus", value);
    if (s != fmi2LastSuccessfulTime)
        return (fmi2Status)model_unsupported(COMP, "fmi2GetRealStatus");
    *value = COMP->time;
    return fmi2OK;
}

fmi2Status fmi2GetIntegerStatus(fmi2Component c, const fmi2StatusKind s, fmi2Integer *value) {
    (void)s;
    (void)value;
    CHECK("fmi2GetIntegerStatus", ANY_MODE);
    return (fmi2Status)model_unsupported(COMP, "fmi2GetIntegerStatus");
}

fmi2Status fmi2GetBooleanStatus(fmi2Component c, const fmi2StatusKind s, fmi2Boolean *value) {
    CHECK("fmi2GetBooleanStatus", ANY_MODE);
    CHECK_NOT_NULL("fmi2GetBooleanStatus", value);
    if (s != fmi2Terminated)
        return (fmi2Status)model_unsupported(COMP, "fmi2GetBooleanStatus");
    *value = fmi2False; /* the samples never request termination */
    return fmi2OK;
}

fmi2Status fmi2GetStringStatus(fmi2Component c, const fmi2StatusKind s, fmi2String *value) {
    (void)s;
    (void)value;
    CHECK("fmi2GetStringStatus", ANY_MODE);
    return (fmi2Status)model_unsupported(COMP, "fmi2GetStringStatus");
}
