/*
 * FMI 3.0 API (Model Exchange and Co-Simulation without event mode) on top of model.h.
 *
 * Every function of fmi3Functions.h is defined, because importers such as FMPy resolve
 * all of them when loading the library; optional features answer with fmi3Error.
 */
#include "fmi3Functions.h"
#include "model.h"

#define COMP ((ModelInstance *)instance)
#define CHECK(function, modes) \
    if (!model_check_mode(COMP, function, modes)) return fmi3Error
#define CHECK_NOT_NULL(function, argument) \
    if (!model_check_pointer(COMP, function, #argument, argument)) return fmi3Error
#define CHECK_TYPE(function, expected)                                                    \
    if (COMP->type != (expected)) {                                                       \
        model_log(COMP, StatusError, "logStatusError", "%s is only available for %s.",    \
                  function, (expected) == ModelExchange ? "Model Exchange" : "Co-Simulation"); \
        return fmi3Error;                                                                 \
    }
#define UNSUPPORTED(function)      \
    CHECK(function, ANY_MODE);     \
    return (fmi3Status)model_unsupported(COMP, function)
#define NO_VARIABLES(function)     \
    (void)values;                  \
    CHECK(function, ANY_MODE);     \
    return (fmi3Status)model_no_variables_of_type(COMP, function, valueReferences, nValueReferences)

static void log_fmi3(const ModelInstance *comp, Status status, const char *category,
                     const char *message) {
    fmi3LogMessageCallback logMessage = (fmi3LogMessageCallback)comp->callback;
    logMessage(comp->environment, (fmi3Status)status, category, message);
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

/* ---- inquire version numbers and set debug logging -------------------------------- */

const char *fmi3GetVersion(void) { return fmi3Version; }

fmi3Status fmi3SetDebugLogging(fmi3Instance instance, fmi3Boolean loggingOn, size_t nCategories,
                               const fmi3String categories[]) {
    CHECK("fmi3SetDebugLogging", ANY_MODE);
    if (!model_check_log_categories(COMP, "fmi3SetDebugLogging", nCategories, categories))
        return fmi3Error;
    COMP->loggingOn = loggingOn;
    return fmi3OK;
}

/* ---- creation and destruction of FMU instances ------------------------------------ */

fmi3Instance fmi3InstantiateModelExchange(fmi3String instanceName, fmi3String instantiationToken,
                                          fmi3String resourcePath, fmi3Boolean visible,
                                          fmi3Boolean loggingOn,
                                          fmi3InstanceEnvironment instanceEnvironment,
                                          fmi3LogMessageCallback logMessage) {
    (void)resourcePath; /* the samples have no resources */
    (void)visible;
    return model_instantiate("fmi3InstantiateModelExchange", instanceName, ModelExchange,
                             instantiationToken, loggingOn, log_fmi3, (GenericCallback)logMessage,
                             instanceEnvironment);
}

fmi3Instance fmi3InstantiateCoSimulation(
    fmi3String instanceName, fmi3String instantiationToken, fmi3String resourcePath,
    fmi3Boolean visible, fmi3Boolean loggingOn, fmi3Boolean eventModeUsed,
    fmi3Boolean earlyReturnAllowed, const fmi3ValueReference requiredIntermediateVariables[],
    size_t nRequiredIntermediateVariables, fmi3InstanceEnvironment instanceEnvironment,
    fmi3LogMessageCallback logMessage, fmi3IntermediateUpdateCallback intermediateUpdate) {
    ModelInstance *comp;

    /* doStep never returns early and needs no intermediate updates */
    (void)resourcePath;
    (void)visible;
    (void)earlyReturnAllowed;
    (void)requiredIntermediateVariables;
    (void)nRequiredIntermediateVariables;
    (void)intermediateUpdate;

    comp = model_instantiate("fmi3InstantiateCoSimulation", instanceName, CoSimulation,
                             instantiationToken, loggingOn, log_fmi3, (GenericCallback)logMessage,
                             instanceEnvironment);
    if (comp && eventModeUsed) {
        /* hasEventMode="false": events are handled inside fmi3DoStep */
        model_log(comp, StatusError, "logStatusError",
                  "fmi3InstantiateCoSimulation: eventModeUsed is not supported by this FMU.");
        model_free(comp);
        return NULL;
    }
    return comp;
}

fmi3Instance fmi3InstantiateScheduledExecution(
    fmi3String instanceName, fmi3String instantiationToken, fmi3String resourcePath,
    fmi3Boolean visible, fmi3Boolean loggingOn, fmi3InstanceEnvironment instanceEnvironment,
    fmi3LogMessageCallback logMessage, fmi3ClockUpdateCallback clockUpdate,
    fmi3LockPreemptionCallback lockPreemption, fmi3UnlockPreemptionCallback unlockPreemption) {
    (void)instanceName;
    (void)instantiationToken;
    (void)resourcePath;
    (void)visible;
    (void)loggingOn;
    (void)clockUpdate;
    (void)lockPreemption;
    (void)unlockPreemption;
    if (logMessage)
        logMessage(instanceEnvironment, fmi3Error, "logStatusError",
                   "fmi3InstantiateScheduledExecution: Scheduled Execution is not supported.");
    return NULL;
}

void fmi3FreeInstance(fmi3Instance instance) { model_free(COMP); }

/* ---- enter and exit initialization mode, terminate and reset ---------------------- */

fmi3Status fmi3EnterInitializationMode(fmi3Instance instance, fmi3Boolean toleranceDefined,
                                       fmi3Float64 tolerance, fmi3Float64 startTime,
                                       fmi3Boolean stopTimeDefined, fmi3Float64 stopTime) {
    (void)toleranceDefined; /* fixed-step solver: the tolerance is not used */
    (void)tolerance;
    CHECK("fmi3EnterInitializationMode", ModeInstantiated);
    if (model_setup_experiment(COMP, "fmi3EnterInitializationMode", startTime, stopTimeDefined,
                               stopTime) != StatusOK)
        return fmi3Error;
    COMP->mode = ModeInitialization;
    return fmi3OK;
}

fmi3Status fmi3ExitInitializationMode(fmi3Instance instance) {
    CHECK("fmi3ExitInitializationMode", ModeInitialization);
    if (COMP->type == CoSimulation) {
        model_event_update(COMP); /* initial event, e.g. a ball that starts on the ground */
        COMP->mode = ModeStep;
    } else {
        COMP->mode = ModeEvent;
    }
    return fmi3OK;
}

fmi3Status fmi3EnterEventMode(fmi3Instance instance) {
    CHECK("fmi3EnterEventMode", ModeEvent | ModeContinuousTime);
    CHECK_TYPE("fmi3EnterEventMode", ModelExchange);
    COMP->mode = ModeEvent;
    return fmi3OK;
}

fmi3Status fmi3Terminate(fmi3Instance instance) {
    CHECK("fmi3Terminate", ModeEvent | ModeContinuousTime | ModeStep);
    COMP->mode = ModeTerminated;
    return fmi3OK;
}

fmi3Status fmi3Reset(fmi3Instance instance) {
    CHECK("fmi3Reset", ANY_MODE);
    model_reset(COMP);
    return fmi3OK;
}

/* ---- getting and setting variable values ------------------------------------------ */

fmi3Status fmi3GetFloat64(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                          size_t nValueReferences, fmi3Float64 values[], size_t nValues) {
    CHECK("fmi3GetFloat64", ANY_MODE);
    /* all variables are scalars, so there is exactly one value per value reference */
    if (!check_size(COMP, "fmi3GetFloat64", "nValues", nValues, nValueReferences))
        return fmi3Error;
    return (fmi3Status)model_get_float64(COMP, "fmi3GetFloat64", valueReferences,
                                         nValueReferences, values);
}

fmi3Status fmi3SetFloat64(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                          size_t nValueReferences, const fmi3Float64 values[], size_t nValues) {
    CHECK("fmi3SetFloat64", ANY_MODE);
    if (!check_size(COMP, "fmi3SetFloat64", "nValues", nValues, nValueReferences))
        return fmi3Error;
    return (fmi3Status)model_set_float64(COMP, "fmi3SetFloat64", valueReferences,
                                         nValueReferences, values);
}

#define GETTER(name, type)                                                                   \
    fmi3Status name(fmi3Instance instance, const fmi3ValueReference valueReferences[],       \
                    size_t nValueReferences, type values[], size_t nValues) {                \
        (void)nValues;                                                                       \
        NO_VARIABLES(#name);                                                                 \
    }
#define SETTER(name, type)                                                                   \
    fmi3Status name(fmi3Instance instance, const fmi3ValueReference valueReferences[],       \
                    size_t nValueReferences, const type values[], size_t nValues) {          \
        (void)nValues;                                                                       \
        NO_VARIABLES(#name);                                                                 \
    }

GETTER(fmi3GetFloat32, fmi3Float32)
GETTER(fmi3GetInt8, fmi3Int8)
GETTER(fmi3GetUInt8, fmi3UInt8)
GETTER(fmi3GetInt16, fmi3Int16)
GETTER(fmi3GetUInt16, fmi3UInt16)
GETTER(fmi3GetInt32, fmi3Int32)
GETTER(fmi3GetUInt32, fmi3UInt32)
GETTER(fmi3GetInt64, fmi3Int64)
GETTER(fmi3GetUInt64, fmi3UInt64)
GETTER(fmi3GetBoolean, fmi3Boolean)
GETTER(fmi3GetString, fmi3String)
SETTER(fmi3SetFloat32, fmi3Float32)
SETTER(fmi3SetInt8, fmi3Int8)
SETTER(fmi3SetUInt8, fmi3UInt8)
SETTER(fmi3SetInt16, fmi3Int16)
SETTER(fmi3SetUInt16, fmi3UInt16)
SETTER(fmi3SetInt32, fmi3Int32)
SETTER(fmi3SetUInt32, fmi3UInt32)
SETTER(fmi3SetInt64, fmi3Int64)
SETTER(fmi3SetUInt64, fmi3UInt64)
SETTER(fmi3SetBoolean, fmi3Boolean)
SETTER(fmi3SetString, fmi3String)

fmi3Status fmi3GetBinary(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                         size_t nValueReferences, size_t valueSizes[], fmi3Binary values[],
                         size_t nValues) {
    (void)valueSizes;
    (void)nValues;
    NO_VARIABLES("fmi3GetBinary");
}

fmi3Status fmi3SetBinary(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                         size_t nValueReferences, const size_t valueSizes[],
                         const fmi3Binary values[], size_t nValues) {
    (void)valueSizes;
    (void)nValues;
    NO_VARIABLES("fmi3SetBinary");
}

fmi3Status fmi3GetClock(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                        size_t nValueReferences, fmi3Clock values[]) {
    NO_VARIABLES("fmi3GetClock");
}

fmi3Status fmi3SetClock(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                        size_t nValueReferences, const fmi3Clock values[]) {
    NO_VARIABLES("fmi3SetClock");
}

/* ---- optional features that the samples do not provide --------------------------- */

fmi3Status fmi3GetNumberOfVariableDependencies(fmi3Instance instance,
                                               fmi3ValueReference valueReference,
                                               size_t *nDependencies) {
    (void)valueReference;
    (void)nDependencies;
    UNSUPPORTED("fmi3GetNumberOfVariableDependencies");
}

fmi3Status fmi3GetVariableDependencies(fmi3Instance instance, fmi3ValueReference dependent,
                                       size_t elementIndicesOfDependent[],
                                       fmi3ValueReference independents[],
                                       size_t elementIndicesOfIndependents[],
                                       fmi3DependencyKind dependencyKinds[],
                                       size_t nDependencies) {
    (void)dependent;
    (void)elementIndicesOfDependent;
    (void)independents;
    (void)elementIndicesOfIndependents;
    (void)dependencyKinds;
    (void)nDependencies;
    UNSUPPORTED("fmi3GetVariableDependencies");
}

fmi3Status fmi3GetFMUState(fmi3Instance instance, fmi3FMUState *FMUState) {
    (void)FMUState;
    UNSUPPORTED("fmi3GetFMUState");
}

fmi3Status fmi3SetFMUState(fmi3Instance instance, fmi3FMUState FMUState) {
    (void)FMUState;
    UNSUPPORTED("fmi3SetFMUState");
}

fmi3Status fmi3FreeFMUState(fmi3Instance instance, fmi3FMUState *FMUState) {
    (void)FMUState;
    UNSUPPORTED("fmi3FreeFMUState");
}

fmi3Status fmi3SerializedFMUStateSize(fmi3Instance instance, fmi3FMUState FMUState,
                                      size_t *size) {
    (void)FMUState;
    (void)size;
    UNSUPPORTED("fmi3SerializedFMUStateSize");
}

fmi3Status fmi3SerializeFMUState(fmi3Instance instance, fmi3FMUState FMUState,
                                 fmi3Byte serializedState[], size_t size) {
    (void)FMUState;
    (void)serializedState;
    (void)size;
    UNSUPPORTED("fmi3SerializeFMUState");
}

fmi3Status fmi3DeserializeFMUState(fmi3Instance instance, const fmi3Byte serializedState[],
                                   size_t size, fmi3FMUState *FMUState) {
    (void)serializedState;
    (void)size;
    (void)FMUState;
    UNSUPPORTED("fmi3DeserializeFMUState");
}

fmi3Status fmi3GetDirectionalDerivative(fmi3Instance instance, const fmi3ValueReference unknowns[],
                                        size_t nUnknowns, const fmi3ValueReference knowns[],
                                        size_t nKnowns, const fmi3Float64 seed[], size_t nSeed,
                                        fmi3Float64 sensitivity[], size_t nSensitivity) {
    (void)unknowns;
    (void)nUnknowns;
    (void)knowns;
    (void)nKnowns;
    (void)seed;
    (void)nSeed;
    (void)sensitivity;
    (void)nSensitivity;
    UNSUPPORTED("fmi3GetDirectionalDerivative");
}

fmi3Status fmi3GetAdjointDerivative(fmi3Instance instance, const fmi3ValueReference unknowns[],
                                    size_t nUnknowns, const fmi3ValueReference knowns[],
                                    size_t nKnowns, const fmi3Float64 seed[], size_t nSeed,
                                    fmi3Float64 sensitivity[], size_t nSensitivity) {
    (void)unknowns;
    (void)nUnknowns;
    (void)knowns;
    (void)nKnowns;
    (void)seed;
    (void)nSeed;
    (void)sensitivity;
    (void)nSensitivity;
    UNSUPPORTED("fmi3GetAdjointDerivative");
}

fmi3Status fmi3EnterConfigurationMode(fmi3Instance instance) {
    UNSUPPORTED("fmi3EnterConfigurationMode");
}

fmi3Status fmi3ExitConfigurationMode(fmi3Instance instance) {
    UNSUPPORTED("fmi3ExitConfigurationMode");
}

fmi3Status fmi3GetIntervalDecimal(fmi3Instance instance,
                                  const fmi3ValueReference valueReferences[],
                                  size_t nValueReferences, fmi3Float64 intervals[],
                                  fmi3IntervalQualifier qualifiers[]) {
    (void)valueReferences;
    (void)nValueReferences;
    (void)intervals;
    (void)qualifiers;
    UNSUPPORTED("fmi3GetIntervalDecimal");
}

fmi3Status fmi3GetIntervalFraction(fmi3Instance instance,
                                   const fmi3ValueReference valueReferences[],
                                   size_t nValueReferences, fmi3UInt64 counters[],
                                   fmi3UInt64 resolutions[], fmi3IntervalQualifier qualifiers[]) {
    (void)valueReferences;
    (void)nValueReferences;
    (void)counters;
    (void)resolutions;
    (void)qualifiers;
    UNSUPPORTED("fmi3GetIntervalFraction");
}

fmi3Status fmi3GetShiftDecimal(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                               size_t nValueReferences, fmi3Float64 shifts[]) {
    (void)valueReferences;
    (void)nValueReferences;
    (void)shifts;
    UNSUPPORTED("fmi3GetShiftDecimal");
}

fmi3Status fmi3GetShiftFraction(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                                size_t nValueReferences, fmi3UInt64 counters[],
                                fmi3UInt64 resolutions[]) {
    (void)valueReferences;
    (void)nValueReferences;
    (void)counters;
    (void)resolutions;
    UNSUPPORTED("fmi3GetShiftFraction");
}

fmi3Status fmi3SetIntervalDecimal(fmi3Instance instance,
                                  const fmi3ValueReference valueReferences[],
                                  size_t nValueReferences, const fmi3Float64 intervals[]) {
    (void)valueReferences;
    (void)nValueReferences;
    (void)intervals;
    UNSUPPORTED("fmi3SetIntervalDecimal");
}

fmi3Status fmi3SetIntervalFraction(fmi3Instance instance,
                                   const fmi3ValueReference valueReferences[],
                                   size_t nValueReferences, const fmi3UInt64 counters[],
                                   const fmi3UInt64 resolutions[]) {
    (void)valueReferences;
    (void)nValueReferences;
    (void)counters;
    (void)resolutions;
    UNSUPPORTED("fmi3SetIntervalFraction");
}

fmi3Status fmi3SetShiftDecimal(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                               size_t nValueReferences, const fmi3Float64 shifts[]) {
    (void)valueReferences;
    (void)nValueReferences;
    (void)shifts;
    UNSUPPORTED("fmi3SetShiftDecimal");
}

fmi3Status fmi3SetShiftFraction(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                                size_t nValueReferences, const fmi3UInt64 counters[],
                                const fmi3UInt64 resolutions[]) {
    (void)valueReferences;
    (void)nValueReferences;
    (void)counters;
    (void)resolutions;
    UNSUPPORTED("fmi3SetShiftFraction");
}

fmi3Status fmi3EvaluateDiscreteStates(fmi3Instance instance) {
    UNSUPPORTED("fmi3EvaluateDiscreteStates");
}

fmi3Status fmi3ActivateModelPartition(fmi3Instance instance, fmi3ValueReference clockReference,
                                      fmi3Float64 activationTime) {
    (void)clockReference;
    (void)activationTime;
    UNSUPPORTED("fmi3ActivateModelPartition");
}

fmi3Status fmi3GetOutputDerivatives(fmi3Instance instance,
                                    const fmi3ValueReference valueReferences[],
                                    size_t nValueReferences, const fmi3Int32 orders[],
                                    fmi3Float64 values[], size_t nValues) {
    (void)valueReferences;
    (void)nValueReferences;
    (void)orders;
    (void)values;
    (void)nValues;
    UNSUPPORTED("fmi3GetOutputDerivatives");
}

fmi3Status fmi3EnterStepMode(fmi3Instance instance) {
    /* only needed with eventModeUsed, which fmi3InstantiateCoSimulation rejects */
    UNSUPPORTED("fmi3EnterStepMode");
}

/* ---- Model Exchange ---------------------------------------------------------------- */

fmi3Status fmi3UpdateDiscreteStates(fmi3Instance instance, fmi3Boolean *discreteStatesNeedUpdate,
                                    fmi3Boolean *terminateSimulation,
                                    fmi3Boolean *nominalsOfContinuousStatesChanged,
                                    fmi3Boolean *valuesOfContinuousStatesChanged,
                                    fmi3Boolean *nextEventTimeDefined,
                                    fmi3Float64 *nextEventTime) {
    CHECK("fmi3UpdateDiscreteStates", ModeEvent);
    CHECK_TYPE("fmi3UpdateDiscreteStates", ModelExchange);
    model_event_update(COMP);
    /* all output arguments are optional (may be NULL) in FMI 3 */
    if (discreteStatesNeedUpdate) *discreteStatesNeedUpdate = false;
    if (terminateSimulation) *terminateSimulation = false;
    if (nominalsOfContinuousStatesChanged) *nominalsOfContinuousStatesChanged = false;
    if (valuesOfContinuousStatesChanged)
        *valuesOfContinuousStatesChanged = COMP->valuesOfContinuousStatesChanged;
    if (nextEventTimeDefined) *nextEventTimeDefined = false;
    if (nextEventTime) *nextEventTime = 0.0;
    return fmi3OK;
}

fmi3Status fmi3EnterContinuousTimeMode(fmi3Instance instance) {
    CHECK("fmi3EnterContinuousTimeMode", ModeEvent);
    CHECK_TYPE("fmi3EnterContinuousTimeMode", ModelExchange);
    COMP->mode = ModeContinuousTime;
    return fmi3OK;
}

fmi3Status fmi3CompletedIntegratorStep(fmi3Instance instance,
                                       fmi3Boolean noSetFMUStatePriorToCurrentPoint,
                                       fmi3Boolean *enterEventMode,
                                       fmi3Boolean *terminateSimulation) {
    (void)noSetFMUStatePriorToCurrentPoint;
    CHECK("fmi3CompletedIntegratorStep", ModeContinuousTime);
    CHECK_NOT_NULL("fmi3CompletedIntegratorStep", enterEventMode);
    CHECK_NOT_NULL("fmi3CompletedIntegratorStep", terminateSimulation);
    *enterEventMode = false;
    *terminateSimulation = false;
    return fmi3OK;
}

fmi3Status fmi3SetTime(fmi3Instance instance, fmi3Float64 time) {
    CHECK("fmi3SetTime", ModeEvent | ModeContinuousTime);
    CHECK_TYPE("fmi3SetTime", ModelExchange);
    COMP->time = time;
    return fmi3OK;
}

fmi3Status fmi3SetContinuousStates(fmi3Instance instance, const fmi3Float64 continuousStates[],
                                   size_t nContinuousStates) {
    CHECK("fmi3SetContinuousStates", ModeContinuousTime);
    CHECK_TYPE("fmi3SetContinuousStates", ModelExchange);
    if (!check_size(COMP, "fmi3SetContinuousStates", "nContinuousStates", nContinuousStates, NX))
        return fmi3Error;
    CHECK_NOT_NULL("fmi3SetContinuousStates", continuousStates);
    model_set_states(COMP, continuousStates);
    return fmi3OK;
}

fmi3Status fmi3GetContinuousStateDerivatives(fmi3Instance instance, fmi3Float64 derivatives[],
                                             size_t nContinuousStates) {
    CHECK("fmi3GetContinuousStateDerivatives", ANY_MODE);
    if (!check_size(COMP, "fmi3GetContinuousStateDerivatives", "nContinuousStates",
                    nContinuousStates, NX))
        return fmi3Error;
    CHECK_NOT_NULL("fmi3GetContinuousStateDerivatives", derivatives);
    model_get_derivatives(COMP, derivatives);
    return fmi3OK;
}

fmi3Status fmi3GetEventIndicators(fmi3Instance instance, fmi3Float64 eventIndicators[],
                                  size_t nEventIndicators) {
    CHECK("fmi3GetEventIndicators", ANY_MODE);
    if (!check_size(COMP, "fmi3GetEventIndicators", "nEventIndicators", nEventIndicators, NZ))
        return fmi3Error;
    if (nEventIndicators == 0) return fmi3OK;
    CHECK_NOT_NULL("fmi3GetEventIndicators", eventIndicators);
    model_get_event_indicators(COMP, eventIndicators);
    return fmi3OK;
}

fmi3Status fmi3GetContinuousStates(fmi3Instance instance, fmi3Float64 continuousStates[],
                                   size_t nContinuousStates) {
    CHECK("fmi3GetContinuousStates", ANY_MODE);
    if (!check_size(COMP, "fmi3GetContinuousStates", "nContinuousStates", nContinuousStates, NX))
        return fmi3Error;
    CHECK_NOT_NULL("fmi3GetContinuousStates", continuousStates);
    model_get_states(COMP, continuousStates);
    return fmi3OK;
}

fmi3Status fmi3GetNominalsOfContinuousStates(fmi3Instance instance, fmi3Float64 nominals[],
                                             size_t nContinuousStates) {
    size_t i;
    CHECK("fmi3GetNominalsOfContinuousStates", ANY_MODE);
    if (!check_size(COMP, "fmi3GetNominalsOfContinuousStates", "nContinuousStates",
                    nContinuousStates, NX))
        return fmi3Error;
    CHECK_NOT_NULL("fmi3GetNominalsOfContinuousStates", nominals);
    for (i = 0; i < nContinuousStates; i++) nominals[i] = 1.0;
    return fmi3OK;
}

fmi3Status fmi3GetNumberOfEventIndicators(fmi3Instance instance, size_t *nEventIndicators) {
    CHECK("fmi3GetNumberOfEventIndicators", ANY_MODE);
    CHECK_NOT_NULL("fmi3GetNumberOfEventIndicators", nEventIndicators);
    *nEventIndicators = NZ;
    return fmi3OK;
}

fmi3Status fmi3GetNumberOfContinuousStates(fmi3Instance instance, size_t *nContinuousStates) {
    CHECK("fmi3GetNumberOfContinuousStates", ANY_MODE);
    CHECK_NOT_NULL("fmi3GetNumberOfContinuousStates", nContinuousStates);
    *nContinuousStates = NX;
    return fmi3OK;
}

/* ---- Co-Simulation ----------------------------------------------------------------- */

fmi3Status fmi3DoStep(fmi3Instance instance, fmi3Float64 currentCommunicationPoint,
                      fmi3Float64 communicationStepSize,
                      fmi3Boolean noSetFMUStatePriorToCurrentPoint,
                      fmi3Boolean *eventHandlingNeeded, fmi3Boolean *terminateSimulation,
                      fmi3Boolean *earlyReturn, fmi3Float64 *lastSuccessfulTime) {
    Status status;
    (void)noSetFMUStatePriorToCurrentPoint;
    CHECK("fmi3DoStep", ModeStep);
    CHECK_TYPE("fmi3DoStep", CoSimulation);
    CHECK_NOT_NULL("fmi3DoStep", eventHandlingNeeded);
    CHECK_NOT_NULL("fmi3DoStep", terminateSimulation);
    CHECK_NOT_NULL("fmi3DoStep", earlyReturn);
    CHECK_NOT_NULL("fmi3DoStep", lastSuccessfulTime);
    status = model_do_step(COMP, "fmi3DoStep", currentCommunicationPoint, communicationStepSize);
    *eventHandlingNeeded = false; /* events are handled inside the step */
    *terminateSimulation = false;
    *earlyReturn = false;
    *lastSuccessfulTime = COMP->time;
    return (fmi3Status)status;
}
