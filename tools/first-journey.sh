#!/bin/sh
# One visitor's whole way through a running journeyd on the quick start's demo config
# (tools/quickstart.sh runs it once): the ad click, the landing page's view, the contact
# form and the Stripe payment, each sent the way the site kit sends it in a browser
# (docs/providers/site.md), then the journey that holds all four in one contact.
#   sh tools/first-journey.sh [email]
# JD_URL, JD_TOKEN, JD_FORM_SECRET, JD_STRIPE_SECRET override the demo's values.
set -eu
base=${JD_URL:-http://127.0.0.1:8080}
token=${JD_TOKEN:-demo-token-local-only}
form_secret=${JD_FORM_SECRET:-form_demo_secret}
stripe_secret=${JD_STRIPE_SECRET:-whsec_demo_secret}
n=$(date +%s)$$
email=${1:-marco.bianchi.$n@example.it}
hmac() { openssl dgst -sha256 -hmac "$1" | sed 's/^.*= *//'; }

# 1. The ad click: /c records it and sends the browser on with the anonymous id.
loc=$(curl -sf -o /dev/null -w '%{redirect_url}' \
    "$base/c?to=https%3A%2F%2Fexample.com%2Flanding&utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=Cj0KCQdemo$n")
aid=$(printf '%s' "$loc" | sed -n 's/.*jd_aid=\(a_[0-9a-f]*\).*/\1/p')
[ -n "$aid" ] || { echo "no jd_aid in the click's redirect ($loc)" >&2; exit 1; }
echo "1. click       -> $loc"

# 2. The landing page: /j.js posts the page view with that id (the Origin must be on
#    collect_allow).
st=$(curl -s -o /dev/null -w '%{http_code}' -H 'Origin: https://example.com' \
    -H 'Content-Type: text/plain' -d "{\"aid\":\"$aid\",\"url\":\"$loc\"}" "$base/v1/collect")
echo "2. page view   -> $st"

# 3. The contact form: /j.js filled its hidden jd_aid; the site's server signs and posts it.
body="email=$email&name=Marco+Bianchi&jd_aid=$aid&form=contact&submission_id=demo-$n"
sig=$(printf '%s' "$body" | hmac "$form_secret")
st=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Journeyd-Signature: sha256=$sig" \
    -H 'Content-Type: application/x-www-form-urlencoded' --data "$body" "$base/hooks/site")
echo "3. form        -> $st"

# 4. The payment: Stripe Checkout created with client_reference_id = journeyd.aid(). Its
#    time is Stripe's `created`, in whole seconds: wait one so it follows the form.
sleep 1
t=$(date +%s)
payload="{\"id\":\"evt_demo_$n\",\"object\":\"event\",\"type\":\"checkout.session.completed\",\"created\":$t,\"data\":{\"object\":{\"id\":\"cs_demo_$n\",\"object\":\"checkout.session\",\"amount_total\":249000,\"currency\":\"eur\",\"client_reference_id\":\"$aid\",\"payment_intent\":\"pi_demo_$n\",\"metadata\":{}}}}"
sig=$(printf '%s' "$t.$payload" | hmac "$stripe_secret")
st=$(curl -s -o /dev/null -w '%{http_code}' -H "Stripe-Signature: t=$t,v1=$sig" \
    -H 'Content-Type: application/json' --data "$payload" "$base/hooks/stripe")
echo "4. payment     -> $st"

# 5. The journey: one contact, four events (bounded wait for the worker).
url="$base/v1/journey?anon=$aid"
i=0
while :; do
    j=$(curl -s -H "Authorization: Bearer $token" "$url" || true)
    kinds=$(printf '%s' "$j" | grep -o '"kind":"[a-z_]*"' | sort -u | tr '\n' ' ')
    case "$kinds" in *click*form*payment*visit*) break ;; esac
    i=$((i + 1))
    [ $i -gt 50 ] && { echo "the journey is not complete yet: $j" >&2; exit 1; }
    sleep 0.2
done
echo "5. one journey: curl -s -H 'Authorization: Bearer $token' '$base/v1/journey?email=$email'"
echo "   events: $(printf '%s' "$j" | grep -o '"kind":"[a-z_]*"' | sed 's/"kind":"\(.*\)"/\1/' | tr '\n' ' ')"
echo "   the payment's credit: $(printf '%s' "$j" | grep -o '"credit":\[[^]]*\]')"
