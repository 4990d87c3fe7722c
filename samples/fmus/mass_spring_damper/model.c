/*
 * Mass-spring-damper: m*a = F - k*x - c*v, a linear oscillator driven by the force input F.
 */
#include "model.h"

#define M(name) (comp->vars.name)

void model_calculate(ModelInstance *comp) {
    M(a) = (M(F) - M(k) * M(x) - M(c) * M(v)) / M(m); /* m >= its declared min > 0 */
    M(der_x) = M(v);
    M(der_v) = M(a);
}

void model_event_indicators(const ModelInstance *comp, double z[]) {
    (void)comp; /* continuous model: no events */
    (void)z;
}

bool model_on_event(ModelInstance *comp) {
    (void)comp;
    return false;
}
