#!/usr/bin/env bash
# Registers (or brings up to date) the app registration that represents this
# API: the portal's tokens are issued for it and carry its app roles
# (SiemExport.Manage for every caller, SiemExport.AllTenants for the portal
# backend). Idempotent: role ids are kept across runs, because Entra refuses
# to replace an enabled role.
set -euo pipefail

readonly MANAGE_ROLE='SiemExport.Manage'
readonly ALL_TENANTS_ROLE='SiemExport.AllTenants'

usage() {
  cat <<'USAGE'
Usage: register-api-app.sh [--display-name NAME] [--app-id APP_ID] [--portal-client-id ID]...

Registers, in the tenant `az login` signed you in to, the multi-tenant API app
the portal requests tokens for: identifier URI api://<app id>, v2 access tokens,
and the app roles SiemExport.Manage and SiemExport.AllTenants.

  --display-name NAME   app display name, also how later runs find the app
                        (default: PKI SIEM Export API)
  --app-id APP_ID       bring this existing app up to date instead
  --portal-client-id ID client id of the operator's portal backend, the only
                        app allowed to act for any tenant (repeatable)
  -h, --help            show this help

Prints API_AUDIENCE=<app id>, API_ISSUERS=<issuer pattern>,
API_OPERATOR_TENANT_ID=<this tenant> and, with --portal-client-id,
API_OPERATOR_CLIENT_IDS=<ids> on stdout (progress goes to stderr). Deploy the
template again with apiAudience, apiIssuers, apiOperatorTenantId and
apiOperatorClientIds set to them, then assign the roles to callers (see
docs/operations.md, Register the apps). SiemExport.AllTenants is honoured
only in tokens from this tenant whose calling app is one of the portal client
ids: a role another tenant's admins assign grants nothing outside that tenant.
USAGE
}

die() {
  printf 'register-api-app: %s\n' "$*" >&2
  exit 1
}

log() {
  printf '%s\n' "$*" >&2
}

new_uuid() {
  if command -v uuidgen >/dev/null 2>&1; then
    uuidgen | tr '[:upper:]' '[:lower:]'
  else
    cat /proc/sys/kernel/random/uuid
  fi
}

display_name='PKI SIEM Export API'
app_id=''
portal_client_ids=''

while [[ $# -gt 0 ]]; do
  case "$1" in
    --display-name | --app-id | --portal-client-id)
      [[ $# -ge 2 && -n $2 ]] || {
        usage >&2
        die "$1 needs a value"
      }
      case "$1" in
        --display-name) display_name=$2 ;;
        --app-id) app_id=$2 ;;
        --portal-client-id)
          [[ $2 =~ ^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$ ]] ||
            die "--portal-client-id must be an app's client id (a GUID): $2"
          portal_client_ids=${portal_client_ids:+$portal_client_ids,}$(printf '%s' "$2" | tr '[:upper:]' '[:lower:]')
          ;;
      esac
      shift 2
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage >&2
      printf 'register-api-app: unknown argument: %s\n' "$1" >&2
      exit 2
      ;;
  esac
done

# The name is embedded in a JMESPath literal below.
[[ $display_name != *"'"* ]] || die "--display-name must not contain a single quote"

command -v az >/dev/null 2>&1 || die 'the Azure CLI (az) is required; sign in with az login first'

authority=$(az cloud show --query endpoints.activeDirectory -o tsv)
# The operator's home tenant: the only issuer whose tokens may act for other tenants.
operator_tenant=$(az account show --query tenantId -o tsv)
[[ -n $operator_tenant ]] || die 'az account show names no tenant; sign in with az login first'

if [[ -z $app_id ]]; then
  found=$(az ad app list --display-name "$display_name" --query "[?displayName=='${display_name}'].appId" -o tsv)
  if [[ -z $found ]]; then
    app_id=$(az ad app create --display-name "$display_name" --sign-in-audience AzureADMultipleOrgs --query appId -o tsv)
    log "Created app registration '$display_name' ($app_id)."
  elif [[ $found == *$'\n'* ]]; then
    die "several app registrations are named '$display_name'; pass --app-id"
  else
    app_id=$found
    log "Found app registration '$display_name' ($app_id)."
  fi
fi

# v2 tokens: issuer <authority>/<tid>/v2.0 and aud = the app id, which is what
# API_ISSUERS and API_AUDIENCE are set to below.
az ad app update --id "$app_id" --sign-in-audience AzureADMultipleOrgs \
  --identifier-uris "api://$app_id" --set api.requestedAccessTokenVersion=2

role_id() {
  local id
  id=$(az ad app show --id "$app_id" --query "appRoles[?value=='$1'] | [0].id" -o tsv)
  if [[ -n $id ]]; then printf '%s' "$id"; else new_uuid; fi
}

manage_id=$(role_id "$MANAGE_ROLE")
all_tenants_id=$(role_id "$ALL_TENANTS_ROLE")
roles=$(printf '[%s,%s]' \
  "$(printf '{"id":"%s","value":"%s","displayName":"%s","description":"%s","allowedMemberTypes":["User","Application"],"isEnabled":true}' \
    "$manage_id" "$MANAGE_ROLE" 'Manage SIEM export' \
    "Create, test, save, inspect and replay a tenant's SIEM export.")" \
  "$(printf '{"id":"%s","value":"%s","displayName":"%s","description":"%s","allowedMemberTypes":["Application"],"isEnabled":true}' \
    "$all_tenants_id" "$ALL_TENANTS_ROLE" 'Act for any tenant' \
    'Lets a trusted backend (the portal) manage SIEM export for any customer tenant.')")
az ad app update --id "$app_id" --app-roles "$roles"
log "App roles $MANAGE_ROLE and $ALL_TENANTS_ROLE are in place."

printf 'API_AUDIENCE=%s\n' "$app_id"
printf 'API_ISSUERS=%s\n' "${authority%/}/{tenantid}/v2.0"
printf 'API_OPERATOR_TENANT_ID=%s\n' "$operator_tenant"
if [[ -n $portal_client_ids ]]; then printf 'API_OPERATOR_CLIENT_IDS=%s\n' "$portal_client_ids"; fi
