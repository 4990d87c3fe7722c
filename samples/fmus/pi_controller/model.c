/*
 * PI controller: u = kp*e + ki*integral(e) with the control error e = setpoint - measurement.
 */
#include "model.h"

#define M(name) (comp->vars.name)

void model_calculate(ModelInstance *comp) {
    M(error) = M(setpoint) - M(measurement);
    M(der_integral) = M(error);
    M(u) = M(kp) * M(error) + M(ki) * M(integral);
}

void model_event_indicators(const ModelInstance *comp, double z[]) {
    (void)comp; /* continuous model: no events */
    (void)z;
}

bool model_on_event(ModelInstance *comp) {
    (void)comp;
    return false;
}
