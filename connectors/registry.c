/*
 * The connector registry: a NULL-terminated table searched by type (OpenSMTPD's
 * table_backend list). Adding a provider is one line here plus its own file.
 */
#include <stddef.h>
#include <string.h>

#include "registry.h"

static const struct cx_connector *const connectors[] = {
    &cx_stripe,  &cx_form,       &cx_click,      &cx_events,   &cx_hubspot,  &cx_pipedrive,
    &cx_shopify, &cx_meta_leads, &cx_google_ads, &cx_typeform, &cx_calendly, NULL,
};

const struct cx_connector *cx_lookup(const char *type)
{
    size_t i;

    if (!type)
        return NULL;
    for (i = 0; connectors[i]; i++)
        if (strcmp(connectors[i]->type, type) == 0)
            return connectors[i];
    return NULL;
}

const struct cx_connector *cx_connector_at(size_t i)
{
    return i < sizeof connectors / sizeof connectors[0] - 1 ? connectors[i] : NULL;
}
