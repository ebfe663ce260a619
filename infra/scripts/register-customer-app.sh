#!/usr/bin/env bash
# Registers (or brings up to date) the multi-tenant app that customers grant
# Monitoring Contributor, Monitoring Metrics Publisher and Log Analytics
# Contributor to, and makes the Function App's user-assigned managed identity
# its federated credential, so no secret or certificate exists anywhere.
# Idempotent: every run converges on the same app and prints the same app id.
set -euo pipefail

readonly CREDENTIAL_NAME='function-app-managed-identity'

usage() {
  cat <<'USAGE'
Usage: register-customer-app.sh --resource-group RG --identity-name NAME
                                [--display-name NAME] [--app-id APP_ID]

Registers, in the tenant `az login` signed you in to, the multi-tenant app that
customers grant the three roles to, and adds the Function App's user-assigned
managed identity as its federated credential (issuer <authority>/<tenant>/v2.0,
subject = the identity's principal id, audience api://AzureADTokenExchange or
the sovereign-cloud equivalent).

  --resource-group RG   resource group the template was deployed to
  --identity-name NAME  the deployment's managedIdentityName output
  --display-name NAME   app display name, also how later runs find the app
                        (default: PKI SIEM Export)
  --app-id APP_ID       bring this existing app up to date instead
  -h, --help            show this help

Prints CUSTOMER_APP_CLIENT_ID=<app id> on stdout (progress goes to stderr).
Deploy the template again with customerAppClientId=<app id>.
USAGE
}

die() {
  printf 'register-customer-app: %s\n' "$*" >&2
  exit 1
}

log() {
  printf '%s\n' "$*" >&2
}

resource_group=''
identity_name=''
display_name='PKI SIEM Export'
app_id=''

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group | --identity-name | --display-name | --app-id)
      [[ $# -ge 2 && -n $2 ]] || {
        usage >&2
        die "$1 needs a value"
      }
      case "$1" in
        --resource-group) resource_group=$2 ;;
        --identity-name) identity_name=$2 ;;
        --display-name) display_name=$2 ;;
        --app-id) app_id=$2 ;;
      esac
      shift 2
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage >&2
      printf 'register-customer-app: unknown argument: %s\n' "$1" >&2
      exit 2
      ;;
  esac
done

if [[ -z $resource_group || -z $identity_name ]]; then
  usage >&2
  printf 'register-customer-app: --resource-group and --identity-name are required\n' >&2
  exit 2
fi
# The name is embedded in a JMESPath literal below.
[[ $display_name != *"'"* ]] || die "--display-name must not contain a single quote"

command -v az >/dev/null 2>&1 || die 'the Azure CLI (az) is required; sign in with az login first'

tenant_id=$(az account show --query tenantId -o tsv)
principal_id=$(az identity show --resource-group "$resource_group" --name "$identity_name" --query principalId -o tsv)
[[ -n $principal_id ]] || die "identity $identity_name in $resource_group has no principal id"

authority=$(az cloud show --query endpoints.activeDirectory -o tsv)
case "$(az cloud show --query name -o tsv)" in
  AzureUSGovernment) audience='api://AzureADTokenExchangeUSGov' ;;
  AzureChinaCloud) audience='api://AzureADTokenExchangeChina' ;;
  *) audience='api://AzureADTokenExchange' ;;
esac
issuer="${authority%/}/${tenant_id}/v2.0"

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

# Customers' tenants can only consent to an app that accepts any organization.
az ad app update --id "$app_id" --sign-in-audience AzureADMultipleOrgs

parameters=$(printf '{"name":"%s","issuer":"%s","subject":"%s","audiences":["%s"],"description":"%s"}' \
  "$CREDENTIAL_NAME" "$issuer" "$principal_id" "$audience" \
  "User-assigned managed identity $identity_name of the pki-siem-export Function App")
current=$(az ad app federated-credential list --id "$app_id" \
  --query "[?name=='${CREDENTIAL_NAME}'].join(' ', [issuer, subject, join(',', audiences)]) | [0]" -o tsv)
desired="$issuer $principal_id $audience"

if [[ -z $current ]]; then
  az ad app federated-credential create --id "$app_id" --parameters "$parameters" >/dev/null
  log "Added federated credential $CREDENTIAL_NAME (subject $principal_id)."
elif [[ $current != "$desired" ]]; then
  az ad app federated-credential update --id "$app_id" --federated-credential-id "$CREDENTIAL_NAME" \
    --parameters "$parameters" >/dev/null
  log "Updated federated credential $CREDENTIAL_NAME (subject $principal_id)."
else
  log "Federated credential $CREDENTIAL_NAME is up to date."
fi

log "Customers: az ad sp create --id $app_id in their tenant, then grant the three roles (see docs/operations.md, Onboard customers)."
printf 'CUSTOMER_APP_CLIENT_ID=%s\n' "$app_id"
