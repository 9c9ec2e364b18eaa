#!/usr/bin/env bash
# Deploy the whole platform to a Google Cloud project with Terraform (infra/).
#
#   ./deploy.sh PROJECT_ID REGION [--plan] [--state-bucket BUCKET] [--var-file FILE]...
#   ./deploy.sh PROJECT_ID REGION [...] --smoke       deploy, then prove it works
#   ./deploy.sh PROJECT_ID REGION --smoke-only        prove the deployed platform works
#   ./deploy.sh PROJECT_ID REGION --destroy
#
# Needs gcloud (logged in), terraform >= 1.11 and python3. Running it again with the same
# code changes nothing. docs/deploy.md says what it creates, what it costs, how to roll back
# and how to tear down.
set -euo pipefail

readonly MIN_TERRAFORM="1.11.0"
readonly STATE_PREFIX="json-mapper"

usage() {
  # printf, not cat: this must work before the prerequisites are checked.
  printf '%s\n' \
    "usage: ./deploy.sh PROJECT_ID REGION [options]" \
    "" \
    "Deploys the JSON mapper platform (Cloud Functions, Pub/Sub, Firestore, Secret Manager," \
    "Cloud Scheduler) into PROJECT_ID, in REGION (e.g. europe-west1, us-central1)." \
    "" \
    "options:" \
    "  --plan                 show what would change, change nothing" \
    "  --state-bucket BUCKET  keep the Terraform state in gs://BUCKET (created if missing);" \
    "                         remembered in infra/backend_override.tf for later runs" \
    "  --var-file FILE        extra Terraform variables (sizes, retention, ...); repeatable" \
    "  --smoke                after deploying, run the smoke test (infra/scripts/smoke.py):" \
    "                         webhook, signature, push, pull and dead letter, then clean up" \
    "  --smoke-only           run only the smoke test against what is deployed" \
    "  --destroy              remove the platform (the Firestore data is kept)" \
    "  -h, --help             this text"
}

die() {
  printf 'deploy.sh: %s\n' "$*" >&2
  exit 1
}

note() {
  printf '==> %s\n' "$*" >&2
}

# --- arguments ----------------------------------------------------------------------------

project=""
region=""
mode="apply"
smoke=""
state_bucket=""
var_files=()
while (($#)); do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --plan) mode="plan" ;;
    --destroy) mode="destroy" ;;
    --smoke) smoke="yes" ;;
    --smoke-only) mode="smoke-only" ;;
    --state-bucket)
      (($# >= 2)) || die "--state-bucket needs a bucket name"
      state_bucket="${2#gs://}"
      shift
      ;;
    --var-file)
      (($# >= 2)) || die "--var-file needs a file"
      [[ -f "$2" ]] || die "--var-file: no file $2"
      var_files+=("$2")
      shift
      ;;
    -*)
      usage >&2
      die "unknown option $1"
      ;;
    *)
      if [[ -z "$project" ]]; then
        project="$1"
      elif [[ -z "$region" ]]; then
        region="$1"
      else
        usage >&2
        die "unexpected argument $1"
      fi
      ;;
  esac
  shift
done

if [[ -z "$project" ]]; then
  usage >&2
  die "no project given: ./deploy.sh PROJECT_ID REGION"
fi
[[ -n "$region" ]] || die "no region given: ./deploy.sh $project REGION (e.g. europe-west1)"
[[ "$project" =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] ||
  die "'$project' is not a project ID (6 to 30 lower-case letters, digits and hyphens)"
[[ "$region" =~ ^[a-z]+-[a-z]+[0-9]+$ ]] || die "'$region' is not a region (e.g. europe-west1)"
[[ -z "$smoke" || "$mode" == "apply" ]] || die "--smoke runs after a deploy: use it without --plan or --destroy"

# --- prerequisites ------------------------------------------------------------------------

command -v gcloud >/dev/null 2>&1 ||
  die "gcloud is not installed: https://cloud.google.com/sdk/docs/install, then 'gcloud auth login'"
command -v terraform >/dev/null 2>&1 ||
  die "terraform is not installed: https://developer.hashicorp.com/terraform/install (>= $MIN_TERRAFORM)"
command -v python3 >/dev/null 2>&1 || die "python3 is not installed (it packages the functions)"

version_at_least() { # version_at_least HAVE WANT
  local IFS=.
  local -a have want
  read -r -a have <<<"$1"
  read -r -a want <<<"$2"
  local i
  for i in 0 1 2; do
    ((${have[i]:-0} > ${want[i]:-0})) && return 0
    ((${have[i]:-0} < ${want[i]:-0})) && return 1
  done
  return 0
}

tf_version="$(terraform version 2>/dev/null || true)"
tf_version="${tf_version%%$'\n'*}"
[[ "$tf_version" =~ v([0-9]+\.[0-9]+\.[0-9]+) ]] || die "cannot tell the terraform version ('$tf_version')"
version_at_least "${BASH_REMATCH[1]}" "$MIN_TERRAFORM" ||
  die "terraform ${BASH_REMATCH[1]} is too old: infra/ needs >= $MIN_TERRAFORM (write-only secrets)"

here="${BASH_SOURCE[0]%/*}"
[[ "$here" != "${BASH_SOURCE[0]}" ]] || here="."
root="$(cd "$here" && pwd)"
infra="$root/infra"
build="$root/build/deploy/$project"

account="$(gcloud auth list --filter=status:ACTIVE --format='value(account)' 2>/dev/null || true)"
account="${account%%$'\n'*}"
[[ -n "$account" ]] || die "gcloud is not logged in: run 'gcloud auth login'"
gcloud projects describe "$project" --format='value(projectId)' >/dev/null 2>&1 ||
  die "project $project cannot be read as $account: check the ID, or ask for roles/owner on it"
billing="$(gcloud billing projects describe "$project" --format='value(billingEnabled)' 2>/dev/null || true)"
if [[ "$billing" == "False" ]]; then
  die "billing is not enabled on $project: https://console.cloud.google.com/billing/linkedaccount?project=$project"
elif [[ -z "$billing" ]]; then
  note "could not check billing on $project (Cloud Billing API); carrying on"
fi

# Terraform's Google provider uses Application Default Credentials when they are set up,
# else the gcloud login's token (valid for an hour: enough for a deploy).
if [[ -z "${GOOGLE_APPLICATION_CREDENTIALS:-}${GOOGLE_CREDENTIALS:-}${GOOGLE_OAUTH_ACCESS_TOKEN:-}" ]] &&
  ! gcloud auth application-default print-access-token >/dev/null 2>&1; then
  GOOGLE_OAUTH_ACCESS_TOKEN="$(gcloud auth print-access-token)" ||
    die "gcloud could not issue an access token: run 'gcloud auth login'"
  export GOOGLE_OAUTH_ACCESS_TOKEN
fi

if command -v git >/dev/null 2>&1 && [[ -n "$(git -C "$root" status --porcelain -- functions shared requirements.txt 2>/dev/null)" ]]; then
  note "functions/, shared/ or requirements.txt have uncommitted changes: they are deployed too"
fi

# Terraform enables every other API itself, but needs these two to do so.
note "enabling the Service Usage and Resource Manager APIs on $project"
gcloud services enable serviceusage.googleapis.com cloudresourcemanager.googleapis.com \
  --project="$project" --quiet

# --- package ------------------------------------------------------------------------------

sources="$build/sources.tfvars.json"
if [[ "$mode" != "smoke-only" ]]; then
  # Other projects' JavaScript (SES, Swagger UI) is not in the repository: fetched from the
  # npm registry, pinned and checked (scripts/js-packages.json), then packaged with the rest.
  note "fetching the pinned npm files (scripts/fetch_js.py)"
  python3 "$root/scripts/fetch_js.py" >&2 || die "could not fetch the pinned npm files (above)"
  note "packaging functions/ into $build/functions"
  python3 "$infra/scripts/package.py" --out "$build/functions" --tfvars "$sources" >&2
fi

# --- terraform ----------------------------------------------------------------------------

export TF_IN_AUTOMATION=1
tf() {
  terraform -chdir="$infra" "$@"
}

in_state() { # in_state ADDRESS: is the resource in this workspace's state?
  # Read whole first: `tf state list | grep -q` would break the pipe under pipefail.
  local listed
  listed="$(tf state list 2>/dev/null || true)"
  grep -qxF -- "$1" <<<"$listed"
}

override="$infra/backend_override.tf"
init_args=(-input=false)
if [[ -n "$state_bucket" ]]; then
  if ! gcloud storage buckets describe "gs://$state_bucket" --project="$project" >/dev/null 2>&1; then
    note "creating the state bucket gs://$state_bucket (versioned, private)"
    gcloud storage buckets create "gs://$state_bucket" --project="$project" --location="$region" \
      --uniform-bucket-level-access --public-access-prevention --quiet
    gcloud storage buckets update "gs://$state_bucket" --versioning --quiet
  fi
  wanted="$(printf '# Written by deploy.sh --state-bucket: the Terraform state is in Cloud Storage.\nterraform {\n  backend "gcs" {\n    bucket = "%s"\n    prefix = "%s"\n  }\n}\n' "$state_bucket" "$STATE_PREFIX")"
  if [[ ! -f "$override" || "$(<"$override")" != "$wanted" ]]; then
    printf '%s\n' "$wanted" >"$override"
    # Moves any local state (every workspace) into the bucket.
    init_args+=(-migrate-state -force-copy)
  fi
elif [[ -f "$override" ]]; then
  note "state: $(grep -o 'bucket = "[^"]*"' "$override") (infra/backend_override.tf)"
fi

note "terraform init"
tf init "${init_args[@]}" >&2
# One workspace, hence one state, per project.
tf workspace select -or-create "$project" >&2

run_smoke() {
  # The smoke reads the deployment's URLs and accounts from Terraform's outputs.
  mkdir -p "$build"
  tf output -json >"$build/outputs.json"
  note "smoke test (infra/scripts/smoke.py): temporary integrations, deleted at the end"
  local status=0
  python3 "$infra/scripts/smoke.py" --project "$project" --region "$region" \
    --outputs "$build/outputs.json" || status=$?
  return "$status"
}

if [[ "$mode" == "smoke-only" ]]; then
  run_smoke
  exit $?
fi

tfvars=(-var "project_id=$project" -var "region=$region" -var-file="$sources")
for file in "${var_files[@]}"; do
  tfvars+=(-var-file="$(cd "$(dirname "$file")" && pwd)/$(basename "$file")")
done

# A (default) Firestore database the project already has is adopted as it is: where it is,
# and with point-in-time recovery left on if it was.
db="$(gcloud firestore databases describe --database='(default)' --project="$project" \
  --format='value(type,locationId,pointInTimeRecoveryEnablement)' 2>/dev/null || true)"
if [[ -n "$db" ]]; then
  read -r db_type db_location db_pitr <<<"$db"
  [[ "$db_type" == "FIRESTORE_NATIVE" ]] ||
    die "the (default) Firestore database of $project is in $db_type mode; the platform needs Native mode (use another project)"
  tfvars+=(-var "firestore_location=$db_location")
  if [[ "${db_pitr:-}" == "POINT_IN_TIME_RECOVERY_ENABLED" ]]; then
    tfvars+=(-var "firestore_point_in_time_recovery=true")
  fi
  if ! in_state google_firestore_database.default; then
    if [[ "$mode" == "apply" ]]; then
      note "adopting the existing (default) Firestore database ($db_location)"
      tf import -input=false "${tfvars[@]}" google_firestore_database.default \
        "projects/$project/databases/(default)" >&2
    else
      note "the existing (default) Firestore database will be adopted on apply"
    fi
  fi
fi

if [[ "$mode" == "destroy" ]]; then
  # The database leaves the state first: Terraform will not delete it (nor its data).
  if in_state google_firestore_database.default; then
    tf state rm google_firestore_database.default >&2
  fi
  # Terraform asks before it destroys anything.
  tf destroy "${tfvars[@]}"
  note "removed. Firestore data, and the secrets and subscriptions the api created, are kept: see docs/deploy.md"
  exit 0
fi

plan="$build/terraform.tfplan"
readers_first=(-target='module.function["worker"]' -target='module.function["dead_letter"]')
note "terraform plan"
set +e
tf plan -input=false -detailed-exitcode "${tfvars[@]}" -out="$plan"
status=$?
set -e
case "$status" in
  0) note "no changes: the platform is up to date" ;;
  2) ;;
  *) die "terraform plan failed (above)" ;;
esac
if [[ "$mode" == "plan" ]]; then
  exit 0
fi
if [[ "$status" == 2 ]]; then
  # The functions that take the internal topics' messages go first: a worker of before
  # 2026-12-07 drops a message whose run the webhook no longer records (docs/deploy.md,
  # "Upgrading"), so it must not meet one. A no-op when they have not changed.
  note "terraform apply: the worker and dead_letter functions first"
  tf plan -input=false "${tfvars[@]}" "${readers_first[@]}" -out="$plan.readers"
  tf apply -input=false "$plan.readers"
  note "terraform apply"
  tf plan -input=false "${tfvars[@]}" -out="$plan"  # the first plan is stale after that apply
  tf apply -input=false "$plan"
fi

# --- what to do next ----------------------------------------------------------------------

site="$(tf output -raw site_url)"
cat <<EOF

JSON mapper is deployed in $project ($region).

  Web UI and API   $site/
  Webhook URLs     $(tf output -raw webhook_base_url)/webhook/<path>/
  Pub/Sub push     $(tf output -raw push_base_url)/pubsub/<path>/

  Admin token      $(tf output -raw admin_token_command)
  Try it           curl -H "Authorization: Bearer \$TOKEN" $site/api/integrations/
EOF

if [[ -n "$smoke" ]]; then
  echo
  run_smoke
fi
