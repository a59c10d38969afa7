/*
 * Private to connectors/: the descriptor each provider file defines. Only registry.c
 * lists them; the daemon reaches them through cx_lookup alone. Including this header
 * in the provider file lets the compiler check the definition against it.
 */
#ifndef JD_CX_REGISTRY_H
#define JD_CX_REGISTRY_H

#include "connector.h"

extern const struct cx_connector cx_stripe;
extern const struct cx_connector cx_form;
extern const struct cx_connector cx_click;
extern const struct cx_connector cx_events;
extern const struct cx_connector cx_hubspot, cx_pipedrive, cx_shopify;
extern const struct cx_connector cx_meta_leads, cx_google_ads, cx_typeform, cx_calendly;

#endif
