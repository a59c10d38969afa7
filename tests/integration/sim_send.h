/*
 * The simulator's month (bench/synth.c) sent to a journeyd under test, one delivery at a
 * time, the way each source delivers it: a click as GET /c with its visitor's cookie, a
 * form signed to /hooks/site, canonical events to /v1/events, Stripe signed to
 * /hooks/stripe. For the tests that build a month with SY_CORE sources (the harness's
 * standard configuration has exactly those doors).
 */
#ifndef JD_SIM_SEND_H
#define JD_SIM_SEND_H

#include "harness.h"
#include "synth.h"

/* Sends one delivery; a refusal is a test failure (a month holds nothing journeyd may
 * refuse), a source outside SY_CORE a fatal one. */
void jd_sim_send(const struct jd_daemon *d, const struct sy_delivery *dv);

#endif
