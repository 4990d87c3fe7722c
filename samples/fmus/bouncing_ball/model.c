/*
 * Bouncing ball: a ball falls under gravity and bounces off the ground (h = 0), losing
 * speed with every bounce. Once the rebound speed drops below v_min the ball rests, which
 * keeps the model free of Zeno behaviour (infinitely many bounces in finite time).
 */
#include <float.h>

#include "model.h"

#define M(name) (comp->vars.name)

void model_calculate(ModelInstance *comp) {
    M(der_h) = M(v);
    M(der_v) = M(resting) != 0.0 ? 0.0 : M(g);
}

void model_event_indicators(const ModelInstance *comp, double z[]) {
    z[0] = M(h); /* the ball reaches the ground */
}

bool model_on_event(ModelInstance *comp) {
    if (M(resting) != 0.0 || M(h) > 0.0 || M(v) > 0.0) return false;

    /* Restart just above the ground so the event indicator does not sit on zero. */
    M(h) = DBL_MIN;
    M(v) = -M(e) * M(v);
    if (M(v) < M(v_min)) {
        M(v) = 0.0;
        M(resting) = 1.0;
        model_log(comp, StatusOK, "logEvents", "The ball comes to rest at t = %g s.",
                  comp->time);
    }
    return true;
}
